// `run` when the DC or Graph is down at start: the service stays up, /healthz answers 503 with the
// reason (not "connection refused"), and writeback starts by itself once they are back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { adminSession } from '../../src/lab/directory.js';
import { startCli, type CliProcess } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { request } from './support/http.js';
import { useConsoleDc } from './support/lab.js';
import { waitFor as waitForValue } from '../support/wait.js';

const lab = useConsoleDc();
let env: LabEnv;
let service: CliProcess | undefined;

/** This file waits longer than the others: each wait spans a DC stop or start. */
function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  return waitForValue(probe, what, 90_000);
}

async function startRun(): Promise<string> {
  service = startCli(['run', '--config', env.configFile, '--listen', '127.0.0.1:0'], { env: env.env });
  return waitFor(
    () => /web console at (http:\/\/127\.0\.0\.1:\d+)/.exec(service!.output().stderr)?.[1],
    'the console URL',
  );
}

async function stopRun(): Promise<void> {
  service?.child.kill('SIGTERM');
  await service?.done;
  service = undefined;
}

async function health(
  url: string,
): Promise<{ status: number; body: { reason: string; connected: boolean } }> {
  const h = await request(`${url}/healthz`);
  return { status: h.status, body: JSON.parse(h.body) };
}

beforeAll(async () => {
  env = await startLabEnv(lab.dc, {
    emulator: { devices: 6, seed: 'outage' },
    writeback: '  intervalSeconds: 1',
  });
});
afterAll(async () => {
  if (service && service.child.exitCode === null) {
    service.child.kill('SIGKILL');
    await service.done;
  }
  await env?.emulator.close();
});

describe('run survives an outage at start', () => {
  it('the DC down at start: stays up, /healthz 503 with the reason, writes once the DC is back', async () => {
    await lab.dc.kill();
    const url = await startRun();
    const down = await waitFor(async () => {
      const h = await health(url);
      return h.status === 503 && /DWB_AD_UNREACHABLE/.test(h.body.reason) ? h : undefined;
    }, '/healthz to report the DC');
    expect(down.body.connected).toBe(false);
    expect(down.body.reason).toMatch(/not connected to the forest yet/);
    expect(service!.child.exitCode).toBeNull();
    await lab.dc.restart();
    await waitFor(
      () => (service!.output().stderr.includes('"msg":"cycle full') ? true : undefined),
      'the first cycle',
    );
    const up = await waitFor(async () => {
      const h = await health(url);
      return h.status === 200 ? h : undefined;
    }, '/healthz to be healthy');
    expect(up.body.connected).toBe(true);
    const admin = await adminSession(lab.dc); // the lab's own session died with the DC
    try {
      const written = await admin.search(lab.container, {
        scope: 'one',
        filter: '(objectClass=msDS-Device)',
        attributes: ['cn'],
      });
      expect(written.length).toBeGreaterThan(0);
    } finally {
      await admin.close();
    }
    await stopRun();
  }, 180_000);

  it('Graph down at start: stays up, /healthz 503 with the reason, resumes once Graph is back', async () => {
    const listen = new URL(env.emulator.url).host;
    const { clientSecret } = env.emulator;
    await env.emulator.close();
    const url = await startRun();
    const down = await waitFor(async () => {
      const h = await health(url);
      return h.status === 503 && /DWB_ENTRA_UNREACHABLE/.test(h.body.reason) ? h : undefined;
    }, '/healthz to report Graph');
    expect(down.body.reason).toMatch(/Cannot reach (the identity platform|Microsoft Graph)/);
    expect(service!.child.exitCode).toBeNull();
    env.emulator = await startEmulator({
      dataDir: `${env.dir}/emulator`,
      listen,
      clientSecret,
      devices: 6,
      seed: 'outage',
      domainSid: lab.dc.domainSid,
    });
    await waitFor(
      async () => ((await health(url)).status === 200 ? true : undefined),
      '/healthz to be healthy again',
    );
    await stopRun();
  }, 180_000);
});
