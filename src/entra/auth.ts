// Access tokens for Microsoft Graph (app-only, the client credentials grant) over the connector's
// own transport, so that entra.caFile is trusted for the identity platform too. With a client
// secret the grant is one documented POST to the tenant's token endpoint, made here; with a
// certificate, @azure/identity signs the client assertion (and is loaded only then: it takes about
// 0.4 s of CPU to import, on every start of sync, run and check). Tokens are cached until shortly
// before they expire and requested one at a time; identity platform errors become
// DWB_ENTRA_AUTH_FAILED with the AADSTS text, never with the secret.
import type { ClientSecretCredentialOptions, TokenCredential } from '@azure/identity';
import type { EntraConfig } from '../config/load.js';
import { DwbError, causeText } from '../errors.js';
import { redactText } from '../log.js';
import { HttpTransport, NetworkError } from './http.js';
import type { EntraObserver } from './observer.js';
import {
  backoffDelay,
  isRetryableStatus,
  mayRetry,
  parseRetryAfter,
  realSleep,
  type RetryPolicy,
} from './retry.js';

type HttpClient = NonNullable<ClientSecretCredentialOptions['httpClient']>;
type PipelineRequest = Parameters<HttpClient['sendRequest']>[0];
type PipelineResponse = Awaited<ReturnType<HttpClient['sendRequest']>>;
type HttpHeaders = PipelineResponse['headers'];

/** Hosts of the Microsoft identity platform (public and national clouds): instance discovery stays on. */
const MICROSOFT_LOGIN_HOSTS = [
  'login.microsoftonline.com',
  'login.microsoft.com',
  'login.windows.net',
  'login.microsoftonline.us',
  'login.microsoftonline.de',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
];

export function isMicrosoftLoginHost(authorityHost: string): boolean {
  let host: string;
  try {
    host = new URL(authorityHost).hostname.toLowerCase();
  } catch {
    return false;
  }
  return MICROSOFT_LOGIN_HOSTS.includes(host);
}

/** The scope of an app-only token for Graph: `{graphUrl}/.default`. */
export function graphScope(graphUrl: string): string {
  return `${graphUrl.replace(/\/+$/, '')}/.default`;
}

/**
 * The tenant's token endpoint (the v2.0 endpoint of the client credentials grant:
 * https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
 */
export function tokenEndpoint(authorityHost: string, tenantId: string): string {
  return `${authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
}

/** Refresh this long before the token expires, so that a page request never carries a dead token. */
const REFRESH_MARGIN_MS = 5 * 60_000;

/** A busy or unavailable identity platform is asked again, briefly, so that `check` answers quickly. */
const TOKEN_RETRY: RetryPolicy = {
  maxAttempts: 3,
  maxTotalWaitMs: 8_000,
  baseDelayMs: 500,
  maxDelayMs: 4_000,
};

/** What a token request gave: the token, when it expires, and when to ask again (epoch ms). */
interface IssuedToken {
  token: string;
  expiresOnTimestamp: number;
  refreshAfterTimestamp?: number;
}

/** The identity platform refused the request (its `error` and `error_description`, or the HTTP status). */
class TokenRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRequestError';
  }
}

export class TokenSource {
  private credential: TokenCredential | undefined;
  private cached: { token: string; refreshAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  /** The last transport failure while the identity library was talking to the authority. */
  private transportFailure: NetworkError | undefined;

  constructor(
    private readonly config: EntraConfig,
    private readonly transport: HttpTransport,
    private readonly observer: EntraObserver,
    /** A ready-made credential (tests, or another way to sign in); the config's secret is then unused. */
    private readonly injected?: TokenCredential,
  ) {}

  /** A valid access token for Graph. */
  getToken(): Promise<string> {
    if (this.cached && Date.now() < this.cached.refreshAt) return Promise.resolve(this.cached.token);
    this.inflight ??= this.acquire().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /**
   * Forget the cached token and the identity library's own cache (a fresh credential), after Graph
   * refused a token that had not yet expired.
   */
  invalidate(): void {
    this.cached = undefined;
    if (!this.injected) this.credential = undefined;
  }

  private async acquire(): Promise<string> {
    this.transportFailure = undefined;
    let token: IssuedToken | null;
    try {
      const secret = this.injected || this.config.clientCertificate ? undefined : this.config.clientSecret;
      if (secret) token = await this.secretGrant(secret.reveal());
      else {
        this.credential ??= this.injected ?? (await this.createCredential());
        token = await this.credential.getToken(graphScope(this.config.graphUrl));
      }
    } catch (err) {
      throw this.tokenFailure(err);
    }
    if (!token?.token) {
      throw new DwbError(
        'DWB_ENTRA_AUTH_FAILED',
        `The identity platform at ${this.config.authorityHost} returned no access token.`,
      );
    }
    const expires = token.expiresOnTimestamp;
    const refreshAt = token.refreshAfterTimestamp ?? Math.max(Date.now(), expires - REFRESH_MARGIN_MS);
    this.cached = { token: token.token, refreshAt: Math.min(refreshAt, expires - 30_000) };
    return token.token;
  }

  /** The client credentials grant with the client secret: one POST, asked again when busy. */
  private async secretGrant(secret: string): Promise<IssuedToken> {
    const { config } = this;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: config.clientId,
      client_secret: secret,
      scope: graphScope(config.graphUrl),
    }).toString();
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      let response;
      try {
        response = await this.transport.send({
          method: 'POST',
          url: tokenEndpoint(config.authorityHost, config.tenantId),
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body,
          timeoutMs: 30_000,
        });
      } catch (err) {
        this.observer.onRequest('token', 0, Date.now() - started);
        const wait = backoffDelay(attempt, TOKEN_RETRY);
        if (err instanceof NetworkError && err.isTransient && mayRetry(TOKEN_RETRY, attempt, waited, wait)) {
          await realSleep(wait);
          waited += wait;
          continue;
        }
        throw err;
      }
      this.observer.onRequest('token', response.status, Date.now() - started);
      const answer = parseJson(response.body);
      if (response.status === 200) return issuedToken(answer);
      const wait = parseRetryAfter(response.headers['retry-after']) ?? backoffDelay(attempt, TOKEN_RETRY);
      if (isRetryableStatus(response.status) && mayRetry(TOKEN_RETRY, attempt, waited, wait)) {
        await realSleep(wait);
        waited += wait;
        continue;
      }
      throw refusal(response.status, answer, response.body);
    }
  }

  /** A certificate credential (@azure/identity signs the client assertion with the PEM's key). */
  private async createCredential(): Promise<TokenCredential> {
    const { config } = this;
    if (!config.clientCertificate) {
      throw new DwbError(
        'DWB_CONFIG_INVALID',
        'entra: one of clientSecret or clientCertificate is required.',
      );
    }
    const pem = config.clientCertificate.reveal();
    if (!/-----BEGIN CERTIFICATE-----/.test(pem) || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
      throw new DwbError(
        'DWB_ENTRA_AUTH_FAILED',
        `entra.clientCertificate (${config.clientCertificate.describe()}) must be a PEM file holding both the certificate and its private key.`,
        {
          fix: 'Concatenate the certificate and its unencrypted private key into one PEM file (cat cert.pem key.pem > app.pem) and upload the certificate to the app registration.',
        },
      );
    }
    const { ClientCertificateCredential } = await import('@azure/identity');
    const options: ClientSecretCredentialOptions = {
      authorityHost: config.authorityHost,
      disableInstanceDiscovery: !isMicrosoftLoginHost(config.authorityHost),
      httpClient: identityHttpClient(this.transport, this.observer, (err) => {
        this.transportFailure = err;
      }),
      // The identity pipeline retries on its own; keep it short so that `check` answers quickly.
      retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 4_000 },
    };
    return new ClientCertificateCredential(config.tenantId, config.clientId, { certificate: pem }, options);
  }

  /** Explains why no token was obtained: unreachable authority, or what the identity platform said. */
  private tokenFailure(err: unknown): DwbError {
    if (err instanceof DwbError) return err;
    const authority = this.config.authorityHost;
    const network = err instanceof NetworkError ? err : this.transportFailure;
    if (network) return unreachable(network, `the identity platform at ${authority}`);
    const text = redactText(causeText(err));
    const aadsts = /AADSTS\d+:[^\r\n]*?(?=\s+-\s+(?:Correlation|Trace|Timestamp)|\s+Trace ID|\r|\n|$)/
      .exec(text)?.[0]
      ?.trim();
    const oauth =
      /\b(invalid_client|unauthorized_client|invalid_request|invalid_grant|invalid_scope|invalid_resource|unsupported_grant_type|temporarily_unavailable)\b/.exec(
        text,
      )?.[1];
    const said = [oauth, aadsts].filter(Boolean).join(': ') || firstLine(text);
    return new DwbError(
      'DWB_ENTRA_AUTH_FAILED',
      `No access token from the identity platform at ${authority} for tenant ${this.config.tenantId}, client id ${this.config.clientId}: ${said}`,
      {
        cause: err,
        fix: 'Check the app registration: entra.tenantId must be its tenant, entra.clientId its application (client) id, and the client secret (its value, not its id) or certificate must be current and belong to that app.',
      },
    );
  }
}

/** DWB_ENTRA_UNREACHABLE naming the host and the cause, with the caFile hint for certificate errors. */
export function unreachable(err: NetworkError, what: string): DwbError {
  if (err.isTls) {
    return new DwbError(
      'DWB_ENTRA_UNREACHABLE',
      `TLS with ${what} (${err.host}) failed: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}.`,
      {
        cause: err,
        fix: 'The server certificate is not trusted or does not match the host name. For the emulator, set entra.caFile to the CA file it prints; otherwise check the proxy or the host name in the URL.',
      },
    );
  }
  return new DwbError(
    'DWB_ENTRA_UNREACHABLE',
    `Cannot reach ${what} (${err.host}): ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}.`,
    {
      cause: err,
    },
  );
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The documented success answer: access_token, expires_in (seconds), and refresh_in when long-lived. */
function issuedToken(answer: unknown): IssuedToken {
  const a = (answer ?? {}) as Record<string, unknown>;
  const seconds = (v: unknown): number | undefined => {
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const expiresIn = seconds(a.expires_in);
  if (typeof a.access_token !== 'string' || a.access_token === '' || expiresIn === undefined)
    throw new TokenRequestError('the answer holds no access_token with its expires_in');
  const now = Date.now();
  const refreshIn = seconds(a.refresh_in);
  return {
    token: a.access_token,
    expiresOnTimestamp: now + expiresIn * 1000,
    ...(refreshIn !== undefined ? { refreshAfterTimestamp: now + refreshIn * 1000 } : {}),
  };
}

/** The identity platform's refusal as text: `error: error_description`, else the status and body. */
function refusal(status: number, answer: unknown, body: Buffer): TokenRequestError {
  const a = (answer ?? {}) as Record<string, unknown>;
  if (typeof a.error === 'string') {
    const description = typeof a.error_description === 'string' ? a.error_description : '';
    return new TokenRequestError(`${a.error}: ${description}`.slice(0, 2_000));
  }
  return new TokenRequestError(`HTTP ${status}: ${firstLine(body.toString('utf8')) || 'no body'}`);
}

function firstLine(text: string): string {
  return text.split(/\r?\n/)[0]!.slice(0, 300);
}

/** An @azure/core-rest-pipeline HttpClient over the connector's transport (and its trusted CAs). */
function identityHttpClient(
  transport: HttpTransport,
  observer: EntraObserver,
  onNetworkError: (err: NetworkError) => void,
): HttpClient {
  return {
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      const route = /\/oauth2\/v2\.0\/token$/.test(new URL(request.url).pathname)
        ? 'token'
        : 'authority-metadata';
      const started = Date.now();
      let body: string | Buffer | undefined;
      if (typeof request.body === 'string') body = request.body;
      else if (request.body instanceof ArrayBuffer) body = Buffer.from(request.body);
      else if (ArrayBuffer.isView(request.body))
        body = Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength);
      else if (request.body != null) throw new Error('unsupported request body for the identity platform');
      try {
        const response = await transport.send({
          method: request.method === 'POST' ? 'POST' : 'GET',
          url: request.url,
          headers: request.headers.toJSON(),
          body,
          timeoutMs: request.timeout > 0 ? request.timeout : 30_000,
          signal: request.abortSignal,
        });
        observer.onRequest(route, response.status, Date.now() - started);
        return {
          request,
          status: response.status,
          headers: new ResponseHeaders(response.headers),
          bodyAsText: response.body.toString('utf8'),
        };
      } catch (err) {
        observer.onRequest(route, 0, Date.now() - started);
        if (err instanceof NetworkError) onNetworkError(err);
        throw err;
      }
    },
  };
}

/** The pipeline's HttpHeaders over a plain header record. */
class ResponseHeaders implements HttpHeaders {
  private readonly map = new Map<string, string>();

  constructor(raw: Record<string, string>) {
    for (const [name, value] of Object.entries(raw)) this.map.set(name.toLowerCase(), value);
  }
  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase());
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  set(name: string, value: string | number | boolean): void {
    this.map.set(name.toLowerCase(), String(value));
  }
  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }
  toJSON(): Record<string, string> {
    return Object.fromEntries(this.map);
  }
  [Symbol.iterator](): Iterator<[string, string]> {
    return this.map.entries();
  }
}
