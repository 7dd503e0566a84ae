// `device-writeback run` as a user starts it, against Samba and the Graph emulator: the console,
// /metrics and /healthz come up beside the service; the metrics see the Graph requests and the LDAP
// operations through the session hooks; SIGTERM stops everything cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type CliProcess } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { request } from './support/http.js';
import { useConsoleDc } from './support/lab.js';
import { parsePrometheus } from './support/prometheus.js';
import { waitFor } from '../support/wait.js';

const lab = useConsoleDc();
let env: LabEnv;
let service: CliProcess | undefined;

beforeAll(async () => {
  env = await startLabEnv(lab.dc, { emulator: { devices: 12 }, writeback: '  intervalSeconds: 30' });
  // (one cycle is all this test needs: a second one, on a loaded machine, could replace the first in /healthz)
});

afterAll(async () => {
  if (service && service.child.exitCode === null) {
    service.child.kill('SIGKILL');
    await service.done;
  }
  await env?.emulator.close();
});

describe('run serves the console', () => {
  it('starts the console, counts Graph and LDAP traffic, and stops on SIGTERM', async () => {
    // The first delta request is throttled: the connector waits and retries, and the metrics say so.
    env.emulator.faults.add({ status: 429, retryAfter: 0.2, count: 1, path: '/v1.0/devices/delta' });
    service = startCli(['run', '--config', env.configFile, '--listen', '127.0.0.1:0'], { env: env.env });
    const url = await waitFor(
      () => /web console at (http:\/\/127\.0\.0\.1:\d+)/.exec(service!.output().stderr)?.[1],
      'the console URL',
    );
    await waitFor(
      () => (service!.output().stderr.includes('"msg":"cycle full') ? true : undefined),
      'the first cycle',
    );

    const health = await request(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', lastCycle: { ok: true, mode: 'full' } });

    const m = parsePrometheus((await request(`${url}/metrics`)).body);
    const created = m.value('device_writeback_objects_created_total')!;
    expect(created).toBeGreaterThan(0);
    expect(m.value('device_writeback_managed_devices')).toBe(created);
    expect(
      m.sum('device_writeback_graph_requests_total', { route: 'devices.delta', status: '200' }),
    ).toBeGreaterThan(0);
    expect(m.sum('device_writeback_graph_requests_total', { status: '200' })).toBeGreaterThan(1);
    expect(m.value('device_writeback_ldap_operations_total', { operation: 'add', result: 'success' })).toBe(
      created,
    );
    expect(
      m.value('device_writeback_graph_throttled_retries_total', { route: 'devices.delta', status: '429' }),
    ).toBe(1);
    expect(m.value('device_writeback_graph_requests_total', { route: 'devices.delta', status: '429' })).toBe(
      1,
    );

    const overview = await request(`${url}/`);
    expect(overview.status).toBe(200);
    expect(overview.body).toContain('Healthy');
    const devices = await request(`${url}/devices`);
    expect(devices.body).toMatch(/\d+ devices?; showing/);

    service.child.kill('SIGTERM');
    const result = await service.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('writeback service stopped');
    for (const secret of [lab.dc.adminPassword, env.emulator.clientSecret]) {
      expect(result.stdout).not.toContain(secret);
      expect(result.stderr).not.toContain(secret);
      expect(overview.body).not.toContain(secret);
    }
  });
});
