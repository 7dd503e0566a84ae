// The identity platform side of the emulator: token endpoint (secret, HTTP Basic, client
// assertion), its AADSTS error bodies, OpenID metadata, bearer checks on Graph routes, and the real
// @azure/identity credentials trusting the emulator CA without NODE_EXTRA_CA_CERTS.
import { constants, createHash, createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { createDefaultHttpClient, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { issueClientCertificate, type KeyedCertificate } from '../../src/tls/certificates.js';
import { getToken, request } from './http.js';

let emulator: RunningEmulator;
let appCertificate: KeyedCertificate;

beforeAll(async () => {
  appCertificate = issueClientCertificate({ commonName: 'device-writeback test app' });
  emulator = await startEmulator({ devices: 3, clientCertificates: [appCertificate.certPem] });
});
afterAll(async () => {
  await emulator?.close();
});

const scope = 'https://graph.microsoft.com/.default';
function tokenForm(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    client_id: emulator.clientId,
    client_secret: emulator.clientSecret,
    scope,
    ...overrides,
  };
}

function clientAssertion(
  options: { alg?: 'RS256' | 'PS256'; key?: string; cert?: string; aud?: string; exp?: number } = {},
): string {
  const alg = options.alg ?? 'RS256';
  const raw = new X509Certificate(options.cert ?? appCertificate.certPem).raw;
  const header =
    alg === 'PS256'
      ? { alg, typ: 'JWT', 'x5t#S256': createHash('sha256').update(raw).digest('base64url') }
      : { alg, typ: 'JWT', x5t: createHash('sha1').update(raw).digest('base64url') };
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: options.aud ?? `${emulator.url}/${emulator.tenantId}/oauth2/v2.0/token`,
    iss: emulator.clientId,
    sub: emulator.clientId,
    jti: randomUUID(),
    nbf: now,
    exp: options.exp ?? now + 600,
  };
  const signed = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const key = createPrivateKey(options.key ?? appCertificate.keyPem);
  const signature =
    alg === 'PS256'
      ? sign('sha256', Buffer.from(signed), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
      : sign('sha256', Buffer.from(signed), key);
  return `${signed}.${signature.toString('base64url')}`;
}

describe('token endpoint', () => {
  it('issues an app-only bearer token for client_credentials with the secret', async () => {
    const result = await request<Record<string, unknown>>(
      emulator,
      'POST',
      `/${emulator.tenantId}/oauth2/v2.0/token`,
      { form: tokenForm() },
    );
    expect(result.status).toBe(200);
    expect(result.headers['cache-control']).toContain('no-store');
    expect(result.json).toMatchObject({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599 });
    const [, payload] = String(result.json.access_token).split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      aud: 'https://graph.microsoft.com',
      tid: emulator.tenantId,
      appid: emulator.clientId,
      appidacr: '1',
    });
    expect(claims.roles).toEqual(expect.arrayContaining(['Device.Read.All', 'User.Read.All']));
  });

  it('accepts the tenant domain and HTTP Basic client authentication', async () => {
    const basic = Buffer.from(`${emulator.clientId}:${emulator.clientSecret}`).toString('base64');
    const result = await request(emulator, 'POST', '/contoso.onmicrosoft.com/oauth2/v2.0/token', {
      form: { grant_type: 'client_credentials', scope },
      headers: { Authorization: `Basic ${basic}` },
    });
    expect(result.status).toBe(200);
  });

  it('answers a wrong secret with invalid_client / AADSTS7000215 and the usual trace fields', async () => {
    const result = await request<Record<string, unknown>>(
      emulator,
      'POST',
      `/${emulator.tenantId}/oauth2/v2.0/token`,
      {
        form: tokenForm({ client_secret: 'not-the-secret' }),
      },
    );
    expect(result.status).toBe(401);
    expect(result.json.error).toBe('invalid_client');
    expect(result.json.error_codes).toEqual([7000215]);
    expect(String(result.json.error_description)).toMatch(
      /^AADSTS7000215: Invalid client secret provided\..*Trace ID: [0-9a-f-]{36} Correlation ID: [0-9a-f-]{36} Timestamp: /s,
    );
    expect(result.json.trace_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.json.correlation_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.json.timestamp).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/);
    expect(result.text).not.toContain(emulator.clientSecret);
  });

  it.each([
    ['an unknown client id', { client_id: randomUUID() }, 400, 'unauthorized_client', 700016],
    ['a missing secret and assertion', { client_secret: '' }, 401, 'invalid_client', 7000218],
    [
      'a scope without /.default',
      { scope: 'https://graph.microsoft.com/Device.Read.All' },
      400,
      'invalid_scope',
      1002012,
    ],
    ['an unknown resource', { scope: 'https://vault.azure.net/.default' }, 400, 'invalid_resource', 500011],
    ['another grant type', { grant_type: 'password' }, 400, 'unsupported_grant_type', 70003],
  ])('refuses %s', async (_what, overrides: Record<string, string>, status, error, code) => {
    const form = tokenForm(overrides);
    if (overrides.client_secret === '') delete form.client_secret;
    const result = await request<Record<string, unknown>>(
      emulator,
      'POST',
      `/${emulator.tenantId}/oauth2/v2.0/token`,
      { form },
    );
    expect(result.status).toBe(status);
    expect(result.json.error).toBe(error);
    expect(result.json.error_codes).toEqual([code]);
  });

  it('refuses an unknown tenant (AADSTS90002)', async () => {
    const result = await request<Record<string, unknown>>(
      emulator,
      'POST',
      `/${randomUUID()}/oauth2/v2.0/token`,
      { form: tokenForm() },
    );
    expect(result.status).toBe(400);
    expect(result.json.error_codes).toEqual([90002]);
  });

  it('accepts a client assertion signed by a registered certificate (RS256 with x5t, PS256 with x5t#S256)', async () => {
    for (const alg of ['RS256', 'PS256'] as const) {
      const result = await request<Record<string, unknown>>(
        emulator,
        'POST',
        `/${emulator.tenantId}/oauth2/v2.0/token`,
        {
          form: {
            grant_type: 'client_credentials',
            client_id: emulator.clientId,
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: clientAssertion({ alg }),
            scope,
          },
        },
      );
      expect(result.status, result.text).toBe(200);
      const claims = JSON.parse(
        Buffer.from(String(result.json.access_token).split('.')[1] ?? '', 'base64url').toString('utf8'),
      ) as Record<string, unknown>;
      expect(claims.appidacr).toBe('2');
    }
  });

  it('refuses assertions from an unregistered certificate, with a forged signature, or expired', async () => {
    const stranger = issueClientCertificate({ commonName: 'stranger' });
    const assertionForm = (assertion: string): Record<string, string> => ({
      grant_type: 'client_credentials',
      client_id: emulator.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope,
    });
    const cases: [string, number][] = [
      [clientAssertion({ cert: stranger.certPem, key: stranger.keyPem }), 700027],
      [clientAssertion({ key: stranger.keyPem }), 700027],
      [clientAssertion({ exp: Math.floor(Date.now() / 1000) - 3600 }), 700024],
    ];
    for (const [assertion, code] of cases) {
      const result = await request<Record<string, unknown>>(
        emulator,
        'POST',
        `/${emulator.tenantId}/oauth2/v2.0/token`,
        { form: assertionForm(assertion) },
      );
      expect(result.status).toBe(401);
      expect(result.json.error).toBe('invalid_client');
      expect(result.json.error_codes).toEqual([code]);
    }
  });
});

describe('OpenID metadata', () => {
  it('serves the v2.0 configuration MSAL reads, pointing at the emulator', async () => {
    const result = await request<Record<string, string>>(
      emulator,
      'GET',
      `/${emulator.tenantId}/v2.0/.well-known/openid-configuration`,
    );
    expect(result.status).toBe(200);
    expect(result.json.token_endpoint).toBe(`${emulator.url}/${emulator.tenantId}/oauth2/v2.0/token`);
    expect(result.json.issuer).toBe(`${emulator.url}/${emulator.tenantId}/v2.0`);
    for (const key of ['authorization_endpoint', 'jwks_uri', 'end_session_endpoint'])
      expect(result.json[key]).toMatch(/^https:\/\/127\.0\.0\.1:/);
    const keys = await request<{ keys: { kid: string; kty: string }[] }>(
      emulator,
      'GET',
      new URL(result.json.jwks_uri ?? '').pathname,
    );
    expect(keys.json.keys[0]).toMatchObject({ kty: 'RSA' });
  });
});

describe('bearer tokens on Graph routes', () => {
  it('requires a token: 401 InvalidAuthenticationToken with Graph error shape and WWW-Authenticate', async () => {
    const result = await request(emulator, 'GET', '/v1.0/devices', {
      headers: { 'client-request-id': 'my-request-1' },
    });
    expect(result.status).toBe(401);
    expect(result.json.error?.code).toBe('InvalidAuthenticationToken');
    expect(result.json.error?.message).toBe('Access token is empty.');
    expect(result.json.error?.innerError).toMatchObject({ 'client-request-id': 'my-request-1' });
    expect(result.json.error?.innerError?.date).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    expect(result.json.error?.innerError?.['request-id']).toBe(result.headers['request-id']);
    expect(result.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it('rejects garbage and tampered tokens, also once the genuine token has been accepted', async () => {
    expect((await request(emulator, 'GET', '/v1.0/devices', { token: 'garbage' })).json.error?.code).toBe(
      'InvalidAuthenticationToken',
    );
    const token = await getToken(emulator);
    // Accepted first, so that the emulator has verified (and remembered) the genuine token.
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
    const [header, payload, signature] = token.split('.');
    const flipped = `${signature?.startsWith('A') ? 'B' : 'A'}${signature?.slice(1)}`;
    const badSignature = await request(emulator, 'GET', '/v1.0/devices', {
      token: `${header}.${payload}.${flipped}`,
    });
    expect(badSignature.status).toBe(401);
    expect(badSignature.json.error?.message).toMatch(/signature/i);
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
    claims.roles = ['Directory.ReadWrite.All'];
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const result = await request(emulator, 'GET', '/v1.0/devices', { token: forged });
    expect(result.status).toBe(401);
    expect(result.json.error?.message).toMatch(/signature/i);
  });

  it('expires every access token on demand; a new token works', async () => {
    const token = await getToken(emulator);
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
    expect(
      (await request(emulator, 'POST', '/_emulator/faults', { body: { expireAccessTokens: true } })).status,
    ).toBe(201);
    const expired = await request(emulator, 'GET', '/v1.0/devices?$top=1', { token });
    expect(expired.status).toBe(401);
    expect(expired.json.error?.message).toBe('Lifetime validation failed, the token is expired.');
    expect(
      (await request(emulator, 'GET', '/v1.0/devices?$top=1', { token: await getToken(emulator) })).status,
    ).toBe(200);
  });

  it('answers 403 Authorization_RequestDenied when the app lacks the permission', async () => {
    await request(emulator, 'PUT', '/_emulator/app/roles', { body: { roles: ['Device.Read.All'] } });
    try {
      const token = await getToken(emulator);
      expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
      const device = emulator.store.listDevices()[0];
      const owners = await request(emulator, 'GET', `/v1.0/devices/${device?.id}/registeredOwners`, {
        token,
      });
      expect(owners.status).toBe(403);
      expect(owners.json.error?.code).toBe('Authorization_RequestDenied');
      expect(owners.json.error?.message).toBe('Insufficient privileges to complete the operation.');
      const write = await request(emulator, 'PATCH', `/v1.0/devices/${device?.id}`, {
        token,
        body: { displayName: 'x' },
      });
      expect(write.status).toBe(403);
    } finally {
      await request(emulator, 'PUT', '/_emulator/app/roles', {
        body: { roles: ['Device.Read.All', 'User.Read.All', 'Device.ReadWrite.All', 'User.ReadWrite.All'] },
      });
    }
  });
});

describe('@azure/identity against the emulator', () => {
  // MSAL refuses http authorities and, for a non-Microsoft host, needs instance discovery off. The
  // emulator CA is trusted per credential, without NODE_EXTRA_CA_CERTS: a per-call pipeline policy
  // that sets tlsSettings.ca (system roots + emulator CA) on each request.
  function trustPolicy(caPem: string): PipelinePolicy {
    const ca = [...tls.rootCertificates, caPem];
    return {
      name: 'trustEmulatorCa',
      sendRequest: (req, next) => {
        req.tlsSettings = { ...req.tlsSettings, ca };
        return next(req);
      },
    };
  }

  it('ClientSecretCredential gets a token (tlsSettings policy)', async () => {
    const credential = new ClientSecretCredential(
      emulator.tenantId,
      emulator.clientId,
      emulator.clientSecret,
      {
        authorityHost: emulator.url,
        disableInstanceDiscovery: true,
        additionalPolicies: [{ policy: trustPolicy(emulator.caPem), position: 'perCall' }],
      },
    );
    const token = await credential.getToken('https://graph.microsoft.com/.default');
    expect(token.token.split('.')).toHaveLength(3);
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token: token.token })).status).toBe(200);
  });

  it('ClientSecretCredential gets a token (own httpClient with an https.Agent carrying ca)', async () => {
    const agent = new https.Agent({ ca: [...tls.rootCertificates, emulator.caPem] });
    const inner = createDefaultHttpClient();
    const credential = new ClientSecretCredential(
      emulator.tenantId,
      emulator.clientId,
      emulator.clientSecret,
      {
        authorityHost: emulator.url,
        disableInstanceDiscovery: true,
        httpClient: { sendRequest: (req) => inner.sendRequest(Object.assign(req, { agent })) },
      },
    );
    await expect(credential.getToken('https://graph.microsoft.com/.default')).resolves.toMatchObject({
      token: expect.any(String),
    });
  });

  it('ClientSecretCredential reports a wrong secret as an authentication error', async () => {
    const credential = new ClientSecretCredential(emulator.tenantId, emulator.clientId, 'wrong-secret', {
      authorityHost: emulator.url,
      disableInstanceDiscovery: true,
      additionalPolicies: [{ policy: trustPolicy(emulator.caPem), position: 'perCall' }],
    });
    await expect(credential.getToken('https://graph.microsoft.com/.default')).rejects.toThrow(
      /AADSTS7000215|invalid_client/,
    );
  });

  it('ClientCertificateCredential gets a token with a registered certificate', async () => {
    const credential = new ClientCertificateCredential(
      emulator.tenantId,
      emulator.clientId,
      { certificate: `${appCertificate.certPem}${appCertificate.keyPem}` },
      {
        authorityHost: emulator.url,
        disableInstanceDiscovery: true,
        additionalPolicies: [{ policy: trustPolicy(emulator.caPem), position: 'perCall' }],
      },
    );
    const token = await credential.getToken('https://graph.microsoft.com/.default');
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token: token.token })).status).toBe(200);
  });
});
