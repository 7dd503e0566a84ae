// A tiny local Graph/identity stand-in for the connector's contract tests: serves documented example
// answers (test/fixtures/graph) from 127.0.0.1 over HTTP or HTTPS (with a throwaway CA), and records
// every request so that tests can check what the connector asked for.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import type { EntraConfig } from '../../../src/config/load.js';
import { Secret } from '../../../src/config/secret.js';
import { createLogger } from '../../../src/log.js';
import { createCertificateAuthority, issueServerCertificate } from '../../../src/tls/certificates.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/graph');

export interface Fixture {
  _source: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
}

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export type Handler = (request: RecordedRequest) => Reply | Promise<Reply>;

export interface FixtureServer {
  /** Origin, e.g. https://127.0.0.1:41234 */
  url: string;
  /** PEM file of the CA that issued the server certificate (HTTPS only). */
  caFile?: string;
  requests: RecordedRequest[];
  /** Replace the request handler. */
  handle(handler: Handler): void;
  /** Requests being answered right now, and the most at once. */
  inFlight: { now: number; max: number };
  close(): Promise<void>;
}

/** Serves a fixture, pointing its Microsoft links at this server. */
export function fromFixture(
  fixture: Fixture | string,
  origin: string,
  overrides: Partial<Reply> = {},
): Reply {
  const f = typeof fixture === 'string' ? loadFixture(fixture) : fixture;
  return {
    status: overrides.status ?? f.status,
    headers: { ...rewriteHeaders(f.headers, origin), ...overrides.headers },
    body: overrides.body ?? pointAt(f.body, origin),
  };
}

export function pointAt<T>(value: T, origin: string): T {
  const text = JSON.stringify(value)
    .split('https://graph.microsoft.com')
    .join(origin)
    .split('https://login.microsoftonline.com')
    .join(origin);
  return JSON.parse(text) as T;
}

function rewriteHeaders(headers: Record<string, string>, origin: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, v.split('https://graph.microsoft.com').join(origin)]),
  );
}

export async function startFixtureServer(options: { tls?: boolean } = {}): Promise<FixtureServer> {
  let handler: Handler = () => ({
    status: 404,
    body: { error: { code: 'Request_ResourceNotFound', message: 'no handler' } },
  });
  const requests: RecordedRequest[] = [];
  const inFlight = { now: 0, max: 0 };
  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      Promise.resolve()
        .then(() => handler(recorded))
        .then(
          (reply) => {
            const body =
              reply.body === undefined
                ? ''
                : typeof reply.body === 'string'
                  ? reply.body
                  : JSON.stringify(reply.body);
            res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
            res.end(body);
          },
          (err: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(String(err));
          },
        )
        .finally(() => {
          inFlight.now--;
        });
    });
  };
  let server: http.Server;
  let caFile: string | undefined;
  let dir: string | undefined;
  if (options.tls) {
    const ca = createCertificateAuthority({ commonName: 'device-writeback contract test CA' });
    const cert = issueServerCertificate(ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-entra-ca-'));
    caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, listener);
  } else {
    server = http.createServer(listener);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    caFile,
    requests,
    inFlight,
    handle(next) {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        if (dir) rmSync(dir, { recursive: true, force: true });
      }),
  };
}

/** An EntraConfig for tests; the secret comes from an environment variable set here. */
export function testEntraConfig(
  overrides: Partial<EntraConfig> & { secretValue?: string } = {},
): EntraConfig {
  const { secretValue, ...rest } = overrides;
  const variable = 'DWB_TEST_ENTRA_CLIENT_SECRET';
  process.env[variable] = secretValue ?? 'Xq8Q~contract-test-secret-value-0123456789';
  return {
    tenantId: 'contoso.onmicrosoft.com',
    clientId: '11111111-2222-3333-4444-555555555555',
    clientSecret: new Secret({ env: variable }, 'entra.clientSecret'),
    graphUrl: 'http://127.0.0.1:1',
    authorityHost: 'https://127.0.0.1:1',
    pageSize: 999,
    ...rest,
  };
}

/** A credential that hands out a fixed token, counting how often it was asked. */
export function staticCredential(token = 'contract-test-access-token'): TokenCredential & { calls: number } {
  const credential = {
    calls: 0,
    getToken: async () => {
      credential.calls++;
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  return credential;
}

/** A logger whose JSON lines are kept in memory. */
export function captureLogs(): { logger: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger('debug', stream), lines, text: () => lines.join('\n') };
}

/** Records the waits the connector asks for instead of sleeping. */
export function recordSleeps(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms: number) => {
      waits.push(ms);
    },
  };
}
