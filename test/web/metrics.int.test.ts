// /metrics read back with a Prometheus text parser after real syncs against Samba: the counters,
// gauges and histogram say what the cycles did; /healthz is 503 with the reason when deletions are
// held back or the DC is stopped, and 200 again once things are back.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CycleRecord } from '../../src/sync/service.js';
import { startConsole, type RunningConsole } from '../../src/web/server.js';
import { labConfig } from '../support/engine.js';
import { sampleDevice } from '../support/fake-source.js';
import { request } from './support/http.js';
import { startServiceLab, useConsoleDc, type ServiceLab } from './support/lab.js';
import { parsePrometheus, type Exposition } from './support/prometheus.js';
import { until } from '../support/wait.js';

const lab = useConsoleDc();
let svc: ServiceLab;
let web: RunningConsole;
let restartedPid: number | undefined;

function nextCycle(): Promise<CycleRecord> {
  return new Promise((resolve) => svc.service.onCycle(resolve));
}

async function cycleNow(): Promise<CycleRecord> {
  const next = nextCycle();
  svc.service.requestRun();
  return next;
}

async function scrape(): Promise<Exposition> {
  const r = await request(`${web.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toContain('text/plain');
  return parsePrometheus(r.body);
}

async function health(): Promise<{ status: number; body: { status: string; reason: string } }> {
  const r = await request(`${web.url}/healthz`);
  return { status: r.status, body: JSON.parse(r.body) as { status: string; reason: string } };
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

beforeAll(async () => {
  const config = labConfig(lab.dc, { extra: 'writeback:\n  intervalSeconds: 3600\n  deleteThreshold: 2\n' });
  svc = await startServiceLab(config);
  for (let n = 1; n <= 10; n++) svc.source.put(sampleDevice(n));
  svc.source.put(sampleDevice(11, { alternativeSecurityIds: [] }));
  web = await startConsole({ service: svc.service, listen: '127.0.0.1:0', metrics: svc.metrics });
});

afterAll(async () => {
  await web?.close();
  await svc?.close();
  if (restartedPid) killGroup(restartedPid);
});

describe('/metrics and /healthz', () => {
  it('/healthz answers 200 while the service starts', async () => {
    expect(await health()).toMatchObject({
      status: 200,
      body: { status: 'ok', reason: expect.stringContaining('starting') },
    });
  });

  it('after a full sync, the metrics say what it did', async () => {
    const first = nextCycle();
    void svc.service.start();
    const cycle = await first;
    expect(cycle.summary).toMatchObject({ mode: 'full', created: 10, quarantined: 1 });
    const m = await scrape();
    expect(m.types.get('device_writeback_objects_created_total')).toBe('counter');
    expect(m.types.get('device_writeback_managed_devices')).toBe('gauge');
    expect(m.types.get('device_writeback_cycle_duration_seconds')).toBe('histogram');
    expect(m.value('device_writeback_objects_created_total')).toBe(10);
    expect(m.value('device_writeback_objects_updated_total')).toBe(0);
    expect(m.value('device_writeback_objects_deleted_total')).toBe(0);
    expect(m.value('device_writeback_objects_quarantined_total')).toBe(1);
    expect(m.value('device_writeback_managed_devices')).toBe(10);
    expect(m.value('device_writeback_quarantined_devices')).toBe(1);
    expect(m.value('device_writeback_cycles_total', { mode: 'full', outcome: 'quarantined' })).toBe(1);
    expect(m.value('device_writeback_cycle_duration_seconds_count', { mode: 'full' })).toBe(1);
    expect(m.value('device_writeback_cycle_duration_seconds_sum', { mode: 'full' })).toBeCloseTo(
      cycle.summary!.durationMs / 1000,
      3,
    );
    expect(m.value('device_writeback_cycle_duration_seconds_bucket', { mode: 'full', le: '+Inf' })).toBe(1);
    expect(m.value('device_writeback_ldap_operations_total', { operation: 'add', result: 'success' })).toBe(
      10,
    );
    expect(m.sum('device_writeback_ldap_errors_total')).toBe(0);
    const h = svc.service.health();
    expect(m.value('device_writeback_last_success_timestamp_seconds')).toBeCloseTo(
      Date.parse(h.lastSuccessAt!) / 1000,
      3,
    );
    const age = m.value('device_writeback_watermark_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(120);
    expect(m.value('device_writeback_healthy')).toBe(1);
    expect(m.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(m.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  it('a delta with changes adds to the counters', async () => {
    svc.source.patch(sampleDevice(1).id, { displayName: 'RENAMED-1' });
    svc.source.patch(sampleDevice(2).id, { operatingSystemVersion: '10.0.26100.1' });
    svc.source.remove(sampleDevice(3).id, 'deleted');
    const cycle = await cycleNow();
    expect(cycle.summary).toMatchObject({ mode: 'delta', created: 0, updated: 2, deleted: 1 });
    const m = await scrape();
    expect(m.value('device_writeback_objects_created_total')).toBe(10);
    expect(m.value('device_writeback_objects_updated_total')).toBe(2);
    expect(m.value('device_writeback_objects_deleted_total')).toBe(1);
    expect(m.value('device_writeback_managed_devices')).toBe(9);
    expect(
      m.value('device_writeback_ldap_operations_total', { operation: 'modify', result: 'success' }),
    ).toBe(2);
    expect(
      m.value('device_writeback_ldap_operations_total', { operation: 'delete', result: 'success' }),
    ).toBe(1);
    expect(m.value('device_writeback_cycle_duration_seconds_count', { mode: 'delta' })).toBe(1);
    // the quarantined device is retried every pass
    expect(m.value('device_writeback_objects_quarantined_total')).toBe(2);
  });

  it('/healthz is 503 while deletions are held back by the threshold, 200 once resolved', async () => {
    for (const n of [4, 5, 6]) svc.source.remove(sampleDevice(n).id, 'deleted');
    const held = await cycleNow();
    expect(held.summary?.thresholdStopped).toBe(true);
    const h = await health();
    expect(h.status).toBe(503);
    expect(h.body.status).toBe('unhealthy');
    expect(h.body.reason).toContain('deleteThreshold');
    expect(
      (await scrape()).value('device_writeback_cycles_total', { mode: 'delta', outcome: 'threshold' }),
    ).toBe(1);
    for (const n of [4, 5, 6]) svc.source.put(sampleDevice(n));
    expect((await cycleNow()).summary?.thresholdStopped).toBe(false);
    expect((await health()).status).toBe(200);
  });

  it('/healthz is 503 when the DC is stopped and 200 when it is back', async () => {
    const dc = lab.dc;
    killGroup(dc.pid);
    await until(async () => !(await portOpen(dc.address, 636)), 'the DC to stop', 30_000);
    svc.source.patch(sampleDevice(7).id, { displayName: 'CHANGED-WHILE-DC-DOWN' });
    const failed = await cycleNow();
    expect(failed.ok).toBe(false);
    expect(failed.error?.code).toBe('DWB_AD_UNREACHABLE');
    const down = await health();
    expect(down.status).toBe(503);
    expect(down.body.reason).toContain('DWB_AD_UNREACHABLE');
    const m = await scrape();
    expect(m.value('device_writeback_healthy')).toBe(0);
    // counted under the mode the cycle was running (the DC ping fails after the mode is known)
    expect(failed.mode).toBe('delta');
    expect(m.value('device_writeback_cycles_total', { mode: 'delta', outcome: 'failed' })).toBe(1);
    expect(m.value('device_writeback_cycles_total', { mode: 'unknown', outcome: 'failed' })).toBeUndefined();
    expect(m.sum('device_writeback_ldap_errors_total', { result_code: 'error' })).toBeGreaterThan(0);

    // The same DC comes back (same database, same address).
    const child = spawn('samba', ['-s', path.join(dc.dir, 'etc', 'smb.conf'), '-i'], {
      detached: true,
      stdio: 'ignore',
    });
    child.unref();
    restartedPid = child.pid;
    await until(() => portOpen(dc.address, 636), 'the DC to listen again', 30_000);
    const ok = await cycleNow();
    expect(ok.ok).toBe(true);
    expect(ok.summary?.updated).toBe(1);
    expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect((await scrape()).value('device_writeback_healthy')).toBe(1);
  });
});
