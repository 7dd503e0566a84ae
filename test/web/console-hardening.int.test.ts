// The console against what an attacker sends first (issue 13), over a writeback service syncing to a
// real Samba DC: device names and ids with escape sequences and bidirectional overrides are shown
// escaped on every page and in the Retry button's label (and the retry still finds its device), and
// so are held deletions on the overview and a DC's or Graph's message in /healthz; /login slows a
// client down after a few wrong tokens, and only that client; a cycle that fails is counted in
// /metrics under the mode it ran in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckReport } from '../../src/checks/index.js';
import { DwbError } from '../../src/errors.js';
import { startConsole, type RunningConsole } from '../../src/web/server.js';
import { labConfig } from '../support/engine.js';
import { sampleDevice } from '../support/fake-source.js';
import { csrfOf, request, type HttpResponse } from './support/http.js';
import { startServiceLab, useConsoleDc, type ServiceLab } from './support/lab.js';

const TOKEN = 'Hardening-Token-4c1e9a7b2d';
const ESCAPES = '\u001b[2J\u001b]0;pwned\u0007';
/** What a page must never hold: C0 (but line feeds), DEL, C1, bidirectional controls. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const lab = useConsoleDc();
let svc: ServiceLab;
let open: RunningConsole;
let guarded: RunningConsole;
const pages: { path: string; body: string }[] = [];

const hostileCheck: CheckReport = {
  ok: false,
  checks: [
    {
      id: 'entra.owners',
      title: 'Microsoft Graph: registered owners',
      status: 'warn',
      detail: 'cloud-only owners, e.g. eve\u202egnp.exe@contoso.test',
      fix: `Synchronize${ESCAPES} these users`,
      code: 'DWB_ENTRA_OWNER_NO_SID',
    },
  ],
};

async function page(path: string): Promise<HttpResponse> {
  const r = await request(`${open.url}${path}`);
  pages.push({ path, body: r.body });
  return r;
}

beforeAll(async () => {
  process.env.DWB_TEST_HARDENING_TOKEN = TOKEN;
  const config = labConfig(lab.dc, {
    extra: 'writeback:\n  intervalSeconds: 3600\nweb:\n  token: { env: DWB_TEST_HARDENING_TOKEN }\n',
  });
  svc = await startServiceLab(config);
  svc.source.put(sampleDevice(1, { displayName: `Evil${ESCAPES}laptop` }));
  svc.source.put(sampleDevice(2, { displayName: 'RTL\u202egnp.exe' }));
  // no usable key: quarantined under its Graph id, which holds an override too
  svc.source.put(
    sampleDevice(3, { id: 'graph-id\u202e-3', displayName: 'RTL\u202egnp.exe', alternativeSecurityIds: [] }),
  );
  expect((await svc.service.cycle()).ok).toBe(true);
  open = await startConsole({
    service: svc.service,
    listen: '127.0.0.1:0',
    metrics: svc.metrics,
    token: null,
    runChecks: async () => hostileCheck,
  });
  guarded = await startConsole({ service: svc.service, listen: '127.0.0.1:0', metrics: svc.metrics });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await svc?.close();
});

describe('hostile names on the console', () => {
  it('Devices, Device, Quarantine, Runs, Checks and Overview show them escaped', async () => {
    const devices = await page('/devices');
    expect(devices.body).toContain('Evil\\u001b[2J\\u001b]0;pwned\\u0007laptop');
    expect(devices.body).toContain('RTL\\u202egnp.exe');
    const link = /href="(\/devices\/[^"?]+)"[^>]*>\s*Evil/.exec(devices.body)?.[1];
    expect(link).toBeDefined();
    expect((await page(link!)).body).toContain('Evil\\u001b[2J');

    const quarantine = await page('/quarantine');
    expect(quarantine.body).toContain('RTL\\u202egnp.exe');
    expect(quarantine.body).toContain('aria-label="Retry RTL\\u202egnp.exe"');
    await page('/runs');
    const run = /href="(\/runs\/\d+)"/.exec((await page('/runs')).body)?.[1];
    await page(run!);
    await page('/');

    const csrf = csrfOf((await page('/checks')).body);
    const ran = await request(`${open.url}/checks`, {
      form: { _csrf: csrf },
      headers: { origin: open.url },
    });
    expect(ran.status).toBe(303);
    const checks = await page('/checks?notice=checks');
    expect(checks.body).toContain('eve\\u202egnp.exe@contoso.test');
    expect(checks.body).toContain('Synchronize\\u001b[2J');

    for (const p of pages)
      expect({ path: p.path, raw: RAW.exec(p.body)?.[0] }).toEqual({ path: p.path, raw: undefined });
  });

  it('the overview lists held deletions with escaped device ids and DNs', async () => {
    // A held deletion names the object by the CN and DN AD returned: a managed object renamed in AD.
    const store = svc.service.store;
    await store.holdDeletions('default', [
      {
        deviceId: `rtl\u202egnp.exe${ESCAPES}`,
        graphId: null,
        dn: `CN=RTL\u202egnp.exe${ESCAPES},${lab.container}`,
        reason: 'the device no longer exists in Entra ID or is out of writeback.trustTypes',
      },
    ]);
    try {
      const overview = await page('/');
      expect(overview.body).toContain('Deletions held by the deletion threshold');
      // (the store keeps device ids in lower case)
      expect(overview.body).toContain('rtl\\u202egnp.exe\\u001b[2j\\u001b]0;pwned\\u0007');
      expect(overview.body).toContain('CN=RTL\\u202egnp.exe\\u001b[2J');
      expect(overview.body).toContain('action="/deletions/approve"');
      expect(RAW.exec(overview.body)?.[0]).toBeUndefined();
    } finally {
      await store.holdDeletions('default', []);
    }
  });

  it('the Retry button still names its device exactly', async () => {
    const quarantine = await page('/quarantine');
    const key = /name="key" value="([^"]+)"/.exec(quarantine.body)?.[1];
    expect(key).toBe(encodeURIComponent('graph-id\u202e-3'));
    const r = await request(`${open.url}/quarantine/retry`, {
      form: {
        _csrf: csrfOf(quarantine.body),
        key: key!,
      },
      headers: { origin: open.url },
    });
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/quarantine?notice=retry');
    expect((await svc.session.store.retryRequests()).has('graph-id\u202e-3')).toBe(true);
  });
});

describe('/login', () => {
  async function signIn(token: string, localAddress?: string): Promise<HttpResponse> {
    const login = await request(`${guarded.url}/login`, { localAddress });
    return request(`${guarded.url}/login`, {
      form: { _csrf: csrfOf(login.body), token, next: '/' },
      localAddress,
    });
  }

  it('takes a few wrong tokens, then refuses that client unread (429), even with the right token', async () => {
    for (let i = 0; i < 4; i++) {
      const wrong = await signIn(`wrong-token-${i}-aaaaaaaa`);
      expect(wrong.status).toBe(303);
      expect(wrong.headers.location).toMatch(/^\/login\?failed=1/);
    }
    const held = await signIn(TOKEN);
    expect(held.status).toBe(429);
    expect(Number(held.headers['retry-after'])).toBeGreaterThan(0);
    expect(held.headers['set-cookie']).toBeUndefined();
    expect(held.body).toContain('Too many wrong tokens from your address');
    expect((await request(`${guarded.url}/login`)).status).toBe(429);
  });

  it('another client is not held back', async () => {
    const other = await signIn(TOKEN, '127.0.0.3');
    expect(other.status).toBe(303);
    expect(other.headers['set-cookie']).toBeDefined();
  });
});

describe('/metrics', () => {
  it('counts a failed cycle under the mode it ran in', async () => {
    const source = svc.source;
    const readDelta = source.readDelta.bind(source);
    source.readDelta = async function* () {
      yield* [];
      throw new DwbError('DWB_ENTRA_UNREACHABLE', `Microsoft Graph at graph.test said: ${ESCAPES}RTL\u202e.`);
    };
    try {
      const cycle = await svc.service.cycle();
      expect(cycle).toMatchObject({ ok: false, mode: 'delta' });
    } finally {
      source.readDelta = readDelta;
    }
    // /healthz carries the message, escaped like `--json` output: the same value once parsed.
    const health = await request(`${open.url}/healthz`);
    expect(health.status).toBe(503);
    expect(health.body).toContain('\\u202e');
    expect(RAW.exec(health.body)?.[0]).toBeUndefined();
    expect((JSON.parse(health.body) as { reason: string }).reason).toContain(`said: ${ESCAPES}RTL\u202e.`);
    const metrics = (await request(`${open.url}/metrics`)).body;
    expect(metrics).toMatch(/device_writeback_cycles_total\{mode="delta",outcome="failed"\} 1/);
    expect(metrics).not.toContain('mode="unknown"');
  });
});
