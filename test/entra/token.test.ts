// Tokens against a local identity platform that serves the documented answers over HTTPS with its
// own CA: the client secret grant (the connector's own POST) and the certificate (@azure/identity),
// caFile trusted for the token and the Graph requests alike, a busy identity platform asked again,
// and the identity platform's errors without the secret in them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { EntraConnector } from '../../src/entra/connector.js';
import { DwbError } from '../../src/errors.js';
import { certificateThumbprint, issueClientCertificate } from '../../src/tls/certificates.js';
import {
  captureLogs,
  fromFixture,
  startFixtureServer,
  testEntraConfig,
  type FixtureServer,
  type RecordedRequest,
} from './support/fixture-server.js';

const TENANT = 'contoso.onmicrosoft.com';
const SECRET = 'Xq8Q~token-test-secret-value-9f2c4e1a7b';
const DOCUMENTED_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik1uQ19WWmNBVGZNNXBPWWlKSE1iYTlnb0VLWSJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJl';

let server: FixtureServer;
let tokenAnswer: 'ok' | 'invalid_client' = 'ok';
/** Answers given to the next token requests instead of tokenAnswer's, one each. */
let tokenReplies: { status: number; headers?: Record<string, string>; body?: unknown }[] = [];
let dir: string;

function identityAndGraph(req: RecordedRequest) {
  const url = new URL(req.url, server.url);
  if (url.pathname === `/${TENANT}/v2.0/.well-known/openid-configuration`)
    return fromFixture('openid-configuration', server.url);
  if (url.pathname === `/${TENANT}/oauth2/v2.0/token`) {
    const next = tokenReplies.shift();
    if (next) return next;
    return fromFixture(tokenAnswer === 'ok' ? 'token-response' : 'token-error-invalid-client', server.url);
  }
  if (url.pathname === '/v1.0/devices') return fromFixture('devices-list-top1', server.url);
  return {
    status: 404,
    body: { error: { code: 'Request_ResourceNotFound', message: `no route ${url.pathname}` } },
  };
}

beforeAll(async () => {
  server = await startFixtureServer({ tls: true });
  server.handle(identityAndGraph);
  dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-entra-token-'));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  server.requests.length = 0;
  tokenAnswer = 'ok';
  tokenReplies = [];
});

function config(extra: Parameters<typeof testEntraConfig>[0] = {}) {
  return testEntraConfig({
    graphUrl: server.url,
    authorityHost: server.url,
    caFile: server.caFile,
    tenantId: TENANT,
    secretValue: SECRET,
    ...extra,
  });
}

const tokenRequests = () =>
  server.requests.filter((r) => new URL(r.url, server.url).pathname.endsWith('/oauth2/v2.0/token'));

describe('the client secret grant over the connector transport', () => {
  it('gets a token from the authority (trusting entra.caFile) and uses it for Graph', async () => {
    const logs = captureLogs();
    const c = new EntraConnector(config(), { logger: logs.logger });
    const result = await c.probe();
    expect(result.devices).toHaveLength(1);

    const [token] = tokenRequests();
    expect(token).toBeDefined();
    const form = new URLSearchParams(token!.body);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('client_id')).toBe('11111111-2222-3333-4444-555555555555');
    expect(form.get('client_secret')).toBe(SECRET);
    expect(form.get('scope')).toBe(`${server.url}/.default`);

    const graph = server.requests.find((r) => r.url.startsWith('/v1.0/devices'));
    expect(graph?.headers.authorization).toBe(`Bearer ${DOCUMENTED_TOKEN}`);

    // The token is cached: a second probe asks the authority for nothing.
    await c.probe();
    expect(tokenRequests()).toHaveLength(1);
    expect(logs.text()).not.toContain(SECRET);
    c.close();
  });

  it('turns invalid_client into DWB_ENTRA_AUTH_FAILED with the AADSTS text and never the secret', async () => {
    tokenAnswer = 'invalid_client';
    const logs = captureLogs();
    const c = new EntraConnector(config(), { logger: logs.logger });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err).toBeInstanceOf(DwbError);
    expect(err.code).toBe('DWB_ENTRA_AUTH_FAILED');
    expect(err.message).toContain('invalid_client');
    expect(err.message).toContain('AADSTS7000215: Invalid client secret provided.');
    expect(err.message).toContain(TENANT);
    expect(err.message).not.toContain('Trace ID');
    expect(err.describe()).not.toContain(SECRET);
    expect(err.fix).toMatch(/client secret/);
    expect(logs.text()).not.toContain(SECRET);
    expect(server.requests.some((r) => r.url.startsWith('/v1.0/'))).toBe(false);
    c.close();
  });

  it('asks a busy identity platform again, as long as its Retry-After asks', async () => {
    tokenReplies = [
      { status: 503, headers: { 'retry-after': '0' }, body: '<html>Service Unavailable</html>' },
      { status: 429, headers: { 'retry-after': '0.05' }, body: { error: 'temporarily_unavailable' } },
    ];
    const c = new EntraConnector(config(), { logger: captureLogs().logger });
    const result = await c.probe();
    expect(result.devices).toHaveLength(1);
    expect(tokenRequests()).toHaveLength(3);
    c.close();
  });

  it('gives up on an identity platform that stays unavailable, naming the status', async () => {
    tokenReplies = [0, 1, 2].map(() => ({
      status: 500,
      headers: { 'retry-after': '0', 'content-type': 'text/html' },
      body: '<html>Internal Server Error</html>',
    }));
    const c = new EntraConnector(config(), { logger: captureLogs().logger });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_AUTH_FAILED');
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain(TENANT);
    expect(tokenRequests()).toHaveLength(3);
    expect(err.describe()).not.toContain(SECRET);
    c.close();
  });

  it('refuses an answer without an access token instead of sending Graph an empty one', async () => {
    tokenReplies = [{ status: 200, body: { token_type: 'Bearer', expires_in: 3599 } }];
    const c = new EntraConnector(config(), { logger: captureLogs().logger });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_AUTH_FAILED');
    expect(err.message).toMatch(/no access_token/);
    expect(server.requests.some((r) => r.url.startsWith('/v1.0/'))).toBe(false);
    c.close();
  });

  it('asks for a new token when the identity platform says so (refresh_in), not only at expiry', async () => {
    // expires_in as a string (as the v1.0 endpoint writes it) is read too.
    tokenReplies = [
      {
        status: 200,
        body: { token_type: 'Bearer', expires_in: '86399', refresh_in: 1, access_token: 'first' },
      },
    ];
    const c = new EntraConnector(config(), { logger: captureLogs().logger });
    await c.probe();
    expect(tokenRequests()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1_100));
    await c.probe();
    expect(tokenRequests()).toHaveLength(2);
    const graph = server.requests.filter((r) => r.url.startsWith('/v1.0/devices'));
    expect(graph[0]?.headers.authorization).toBe('Bearer first');
    expect(graph[1]?.headers.authorization).toBe(`Bearer ${DOCUMENTED_TOKEN}`);
    c.close();
  });

  it('refuses the server certificate without entra.caFile, and says how to fix it', async () => {
    const c = new EntraConnector(config({ caFile: undefined }), { logger: captureLogs().logger });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_UNREACHABLE');
    expect(err.message).toMatch(/TLS with the identity platform/);
    expect(err.message).toContain(new URL(server.url).host);
    expect(err.fix).toMatch(/entra\.caFile/);
    c.close();
  });

  it('names the authority host when it cannot be reached', async () => {
    const gone = await startFixtureServer({ tls: true });
    const url = gone.url;
    await gone.close();
    const c = new EntraConnector(config({ authorityHost: url }), { logger: captureLogs().logger });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_UNREACHABLE');
    expect(err.message).toContain(new URL(url).host);
    expect(err.message).toMatch(/ECONNREFUSED/);
    c.close();
  });
});

describe('ClientCertificateCredential', () => {
  it('signs a client assertion with the certificate from entra.clientCertificate', async () => {
    const cert = issueClientCertificate({ commonName: 'device-writeback contract test app' });
    const file = path.join(dir, 'app.pem');
    writeFileSync(file, `${cert.certPem}${cert.keyPem}`);
    const c = new EntraConnector(
      config({ clientSecret: undefined, clientCertificate: new Secret({ file }, 'entra.clientCertificate') }),
      { logger: captureLogs().logger },
    );
    await c.probe();
    const form = new URLSearchParams(tokenRequests()[0]!.body);
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(form.get('client_secret')).toBeNull();
    const [header] = (form.get('client_assertion') ?? '').split('.');
    const jose = JSON.parse(Buffer.from(header!, 'base64url').toString('utf8')) as {
      alg: string;
      x5t?: string;
      'x5t#S256'?: string;
    };
    const sha1 = Buffer.from(certificateThumbprint(cert.certPem, 'sha1'), 'hex').toString('base64url');
    const sha256 = Buffer.from(certificateThumbprint(cert.certPem, 'sha256'), 'hex').toString('base64url');
    expect([jose.x5t, jose['x5t#S256']]).toContain(jose.x5t === undefined ? sha256 : sha1);
    c.close();
  });

  it('refuses a PEM without a private key before asking anyone', async () => {
    const cert = issueClientCertificate({ commonName: 'no key' });
    const file = path.join(dir, 'cert-only.pem');
    writeFileSync(file, cert.certPem);
    const c = new EntraConnector(
      config({ clientSecret: undefined, clientCertificate: new Secret({ file }, 'entra.clientCertificate') }),
      { logger: captureLogs().logger },
    );
    await expect(c.probe()).rejects.toMatchObject({
      code: 'DWB_ENTRA_AUTH_FAILED',
      message: expect.stringMatching(/private key/),
    });
    expect(tokenRequests()).toHaveLength(0);
    c.close();
  });
});
