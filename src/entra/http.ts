// The one HTTP transport of the Entra connector, used for both the identity platform (token requests)
// and Microsoft Graph: node:https with an Agent that trusts the system CAs plus entra.caFile, so that
// the emulator's own CA works without NODE_EXTRA_CA_CERTS. TLS is always verified.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { DwbError } from '../errors.js';
import { readCaFile } from '../tls/ca-file.js';

export interface TransportRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Per-request timeout (no byte received for this long); default 60 s. */
  timeoutMs?: number;
  signal?: { readonly aborted: boolean; addEventListener(type: 'abort', listener: () => void): void };
}

export interface TransportResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/** A request that got no HTTP answer: DNS, TCP, TLS, timeout or an aborted connection. */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly host: string,
    /** The Node error code (ECONNREFUSED, CERT_HAS_EXPIRED...) or TIMEOUT. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NetworkError';
  }

  /** The server was reached but its certificate was not accepted. */
  get isTls(): boolean {
    return TLS_CODES.has(this.code) || /certificate|self[- ]signed|TLS|SSL/i.test(this.message);
  }

  /** Worth another try: the connection dropped or stalled rather than being refused. */
  get isTransient(): boolean {
    return TRANSIENT_CODES.has(this.code);
  }
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'TIMEOUT', 'ECONNABORTED', 'EAI_AGAIN']);

/** Graph pages are about 1 MB for 999 devices; anything near this is not a Graph answer. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 60_000;

export class HttpTransport {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;

  constructor(options: { caFile?: string; maxSockets?: number } = {}) {
    // One secure context for every connection: passing `ca` instead would make Node parse the
    // ~140 system roots again for each new socket and fold the whole bundle into the agent's
    // pool key on every request (measured: ~0.8 s of CPU in a 100,000-device full read).
    const secureContext = options.caFile
      ? tls.createSecureContext({
          ca: [
            ...tls.rootCertificates,
            ...readCaFile(
              options.caFile,
              'entra.caFile',
              (code) =>
                new DwbError('DWB_CONFIG_INVALID', `entra.caFile: cannot read ${options.caFile} (${code}).`),
            ),
          ],
        })
      : undefined;
    const maxSockets = options.maxSockets ?? 16;
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets,
      ...(secureContext ? { secureContext } : {}),
    });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets });
  }

  send(request: TransportRequest): Promise<TransportResponse> {
    const url = new URL(request.url);
    const host = url.host;
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') {
      return Promise.reject(new NetworkError(`unsupported URL scheme ${url.protocol}`, host, 'EPROTO'));
    }
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    const headers: Record<string, string> = { ...request.headers };
    if (body) headers['content-length'] = String(body.length);
    const options: https.RequestOptions = {
      method: request.method,
      headers,
      agent: secure ? this.httpsAgent : this.httpAgent,
    };
    return new Promise<TransportResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: NetworkError): void => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const req = (secure ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy();
            fail(
              new NetworkError(
                `response from ${host} is larger than ${MAX_BODY_BYTES} bytes`,
                host,
                'EMSGSIZE',
              ),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: flattenHeaders(res.headers),
            body: Buffer.concat(chunks),
          });
        });
        res.on('error', (err) => fail(toNetworkError(err, host)));
      });
      req.setTimeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS, () => {
        req.destroy();
        fail(
          new NetworkError(
            `no answer from ${host} within ${request.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`,
            host,
            'TIMEOUT',
          ),
        );
      });
      req.on('error', (err) => fail(toNetworkError(err, host)));
      if (request.signal) {
        if (request.signal.aborted) {
          req.destroy();
          fail(new NetworkError(`request to ${host} aborted`, host, 'ABORTED'));
          return;
        }
        request.signal.addEventListener('abort', () => {
          req.destroy();
          fail(new NetworkError(`request to ${host} aborted`, host, 'ABORTED'));
        });
      }
      req.end(body);
    });
  }

  /** Closes the idle keep-alive connections. */
  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

function flattenHeaders(raw: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function toNetworkError(err: Error, host: string): NetworkError {
  const code = (err as NodeJS.ErrnoException).code ?? 'ECONNRESET';
  return new NetworkError(err.message, host, code, { cause: err });
}
