// Console security against a real service: a non-loopback listen without a token refuses to start
// (in process and through `run`), requests without the token are refused, actions need the CSRF
// token and a same-origin request, and no password or token appears in any response.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDwbError } from '../../src/errors.js';
import { startConsole, type RunningConsole } from '../../src/web/server.js';
import { runCli } from '../support/cli.js';
import { labConfig } from '../support/engine.js';
import { sampleDevice } from '../support/fake-source.js';
import { addUser, type LabUser } from '../support/samba.js';
import { csrfOf, request, type HttpResponse } from './support/http.js';
import { startServiceLab, useConsoleDc, type ServiceLab } from './support/lab.js';

const TOKEN = 'Console-Token-7f3a9c1e5d2b8a4f';
const lab = useConsoleDc();
let users: LabUser[];
let svc: ServiceLab;
let guarded: RunningConsole;
let open: RunningConsole;
const seen: HttpResponse[] = [];

async function get(url: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
  const r = await request(url, { headers });
  seen.push(r);
  return r;
}

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<HttpResponse> {
  const r = await request(url, { form, headers });
  seen.push(r);
  return r;
}

beforeAll(async () => {
  users = [await addUser(lab, 'carol', 'Carol-Secret-Pa55!')];
  process.env.DWB_TEST_WEB_TOKEN = TOKEN;
  const config = labConfig(lab.dc, {
    extra: 'writeback:\n  intervalSeconds: 3600\nweb:\n  token: { env: DWB_TEST_WEB_TOKEN }\n',
  });
  svc = await startServiceLab(config);
  for (let n = 1; n <= 3; n++) {
    svc.source.put(sampleDevice(n), {
      registeredOwners: [
        {
          id: 'c',
          userPrincipalName: users[0]!.userPrincipalName,
          onPremisesSecurityIdentifier: users[0]!.sid,
        },
      ],
      registeredUsers: [],
    });
  }
  svc.source.put(sampleDevice(9, { alternativeSecurityIds: [] }));
  expect((await svc.service.cycle()).ok).toBe(true);
  guarded = await startConsole({ service: svc.service, listen: '127.0.0.1:0', metrics: svc.metrics });
  open = await startConsole({
    service: svc.service,
    listen: '127.0.0.1:0',
    metrics: svc.metrics,
    token: null,
  });
});

afterAll(async () => {
  await guarded?.close();
  await open?.close();
  await svc?.close();
});

describe('console security', () => {
  it('refuses to listen on a non-loopback address without web.token', async () => {
    try {
      await startConsole({ service: svc.service, listen: '0.0.0.0:0', token: null });
      expect.unreachable();
    } catch (err) {
      expect(isDwbError(err) && err.code).toBe('DWB_WEB_TOKEN_REQUIRED');
    }
  });

  it('`run --listen 0.0.0.0:…` without web.token exits 2 before connecting anywhere', async () => {
    const dir = path.dirname(svc.config.state.sqlite);
    const file = path.join(dir, 'no-token.yaml');
    writeFileSync(
      file,
      `entra:\n  tenantId: contoso.onmicrosoft.com\n  clientId: 11111111-2222-3333-4444-555555555555\n  clientSecret: { env: DWB_TEST_NOPE }\n  graphUrl: https://127.0.0.1:9\nad:\n  url: ldaps://127.0.0.1:9\n  bindDn: CN=x\n  password: { env: DWB_TEST_NOPE }\nstate:\n  sqlite: ${path.join(dir, 'other.db')}\n`,
    );
    const r = await runCli(['run', '--config', file, '--listen', '0.0.0.0:18080'], {
      env: { DWB_TEST_NOPE: 'unused-secret' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DWB_WEB_TOKEN_REQUIRED');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('with web.token, every page, /metrics and every action need it; /healthz does not', async () => {
    const u = guarded.url;
    expect((await get(`${u}/`)).status).toBe(303);
    expect((await get(`${u}/`)).headers.location).toBe('/login?next=%2F');
    expect((await get(`${u}/devices?q=x`)).status).toBe(303);
    expect((await get(`${u}/devices/${sampleDevice(1).id}`)).status).toBe(303);
    expect((await get(`${u}/metrics`)).status).toBe(401);
    expect((await get(`${u}/metrics`, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(`${u}/run`, {})).status).toBe(401);
    expect((await post(`${u}/quarantine/retry`, { key: sampleDevice(9).id })).status).toBe(401);
    expect((await post(`${u}/checks`, {})).status).toBe(401);
    const health = await get(`${u}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    expect((await get(`${u}/assets/console.css`)).status).toBe(200);
    // a bearer token opens everything
    const bearer = { authorization: `Bearer ${TOKEN}` };
    expect((await get(`${u}/`, bearer)).status).toBe(200);
    expect((await get(`${u}/metrics`, bearer)).body).toContain('device_writeback_objects_created_total');
  });

  it('signs in with the token, then actions need the CSRF token and a same-origin request', async () => {
    const u = guarded.url;
    const login = await get(`${u}/login?next=/quarantine`);
    expect(login.status).toBe(200);
    expect(login.body).toContain('type="password"');
    const wrong = await post(`${u}/login`, {
      _csrf: csrfOf(login.body),
      token: 'guess',
      next: '/quarantine',
    });
    expect(wrong.status).toBe(303);
    expect(wrong.headers.location).toMatch(/^\/login\?failed=1/);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const right = await post(`${u}/login`, { _csrf: csrfOf(login.body), token: TOKEN, next: '/quarantine' });
    expect(right.status).toBe(303);
    expect(right.headers.location).toBe('/quarantine');
    const cookie = String(right.headers['set-cookie']).split(';')[0]!;
    expect(cookie).not.toContain(TOKEN);
    const page = await get(`${u}/quarantine`, { cookie });
    expect(page.status).toBe(200);
    const csrf = csrfOf(page.body);
    const key = sampleDevice(9).id;
    // no CSRF token
    expect((await post(`${u}/quarantine/retry`, { key }, { cookie })).status).toBe(403);
    // another site's form
    expect(
      (await post(`${u}/quarantine/retry`, { key, _csrf: csrf }, { cookie, origin: 'https://evil.example' }))
        .status,
    ).toBe(403);
    expect(
      (await post(`${u}/quarantine/retry`, { key, _csrf: csrf }, { cookie, 'sec-fetch-site': 'cross-site' }))
        .status,
    ).toBe(403);
    // an open redirect is not possible through `back`
    const ok = await post(
      `${u}/quarantine/retry`,
      { key, _csrf: csrf, back: '//evil.example/x' },
      { cookie, origin: u, 'sec-fetch-site': 'same-origin' },
    );
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/quarantine?notice=retry');
    expect((await svc.session.store.retryRequests()).get(key)).toBeTruthy();
    // GET never changes anything
    expect((await get(`${u}/run`, { cookie })).status).toBe(404);
    // sign out ends the session
    const out = await post(`${u}/logout`, { _csrf: csrf }, { cookie });
    expect(out.status).toBe(303);
    expect((await get(`${u}/`, { cookie })).status).toBe(303);
  });

  it('without a token (loopback only): a foreign Host header is refused (DNS rebinding), actions still need CSRF', async () => {
    const u = open.url;
    expect((await get(`${u}/`)).status).toBe(200);
    const port = new URL(u).port;
    expect((await get(`${u}/`, { host: `attacker.example:${port}` })).status).toBe(421);
    expect((await get(`${u}/metrics`, { host: `attacker.example:${port}` })).status).toBe(421);
    expect((await get(`${u}/`, { host: `localhost:${port}` })).status).toBe(200);
    expect((await post(`${u}/run`, {})).status).toBe(403);
    const page = await get(`${u}/`);
    expect((await post(`${u}/run`, { _csrf: csrfOf(page.body) })).status).toBe(303);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
  });

  it('no password or token appears in any page or response', async () => {
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const u = guarded.url;
    const overview = await get(`${u}/`, bearer);
    await post(`${u}/checks`, { _csrf: csrfOf(overview.body) }, bearer);
    const paths = [
      '/',
      '/devices',
      '/devices?q=device',
      '/quarantine',
      '/runs',
      '/runs/1',
      '/checks',
      '/metrics',
      '/healthz',
      '/login',
      '/nope',
    ];
    for (let n = 1; n <= 3; n++)
      paths.push(
        `/devices/${sampleDevice(n).id}`,
        `/devices/${sampleDevice(n).id}?user=${users[0]!.userPrincipalName}`,
      );
    paths.push(`/devices/${sampleDevice(9).id}`);
    for (const p of paths) {
      await get(`${u}${p}`, bearer);
      await get(`${open.url}${p}`);
    }
    const checks = seen.find((r) => r.body.includes('<h1>Checks</h1>') && r.body.includes('ad.connect'));
    expect(checks, 'the checks ran and their table was shown').toBeDefined();
    const secrets = [lab.dc.adminPassword, 'Carol-Secret-Pa55!', TOKEN];
    expect(seen.length).toBeGreaterThan(40);
    for (const r of seen) {
      for (const s of secrets) {
        expect(r.body).not.toContain(s);
        expect(JSON.stringify(r.headers)).not.toContain(s);
      }
    }
  });
});
