// Crash safety: kill -9 `sync` at random points of an initial writeback and of deltas, restart, and
// prove AD converges to the desired state with no duplicate and no missing device. Also a DC that
// dies in the middle of a run. The kill points come from a printed seed (DWB_CRASH_SEED reruns one).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufs, str } from '../../src/ad/connection.js';
import { bytesToGuid } from '../../src/ad/guid.js';
import { runCli, startCli } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { addUser, useDc } from '../support/samba.js';

const lab = useDc();
let env: LabEnv;
let container: string;
const seed = Number(process.env.DWB_CRASH_SEED ?? Date.now() % 1_000_000);

function prng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(seed);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  console.log(`[crash] seed ${seed} (rerun with DWB_CRASH_SEED=${seed})`);
  container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  const users = [await addUser(lab, 'dana', 'Dana-Pa55word!'), await addUser(lab, 'eric', 'Eric-Pa55word!')];
  env = await startLabEnv(lab.dc, {
    emulator: { devices: 300, ownerSids: users.map((u) => u.sid), seed: 'crash' },
    writeback: '  deleteThreshold: 100000',
  });
});
afterAll(async () => env?.emulator.close());

/** Starts sync and kills it with SIGKILL after `ms`; returns whether it was killed before finishing. */
async function killSyncAfter(ms: number): Promise<boolean> {
  const p = startCli(['sync', '--config', env.configFile], { env: env.env });
  const timer = sleep(ms).then(() => p.child.kill('SIGKILL'));
  const r = await p.done;
  await timer;
  return r.signal === 'SIGKILL';
}

function mutateCloud(count: number): void {
  const store = env.emulator.store;
  const active = store.listDevices();
  for (let i = 0; i < count; i++) {
    const d = active[Math.floor(random() * active.length)]!;
    if (!store.activeDevice(d.id)) continue;
    const roll = random();
    if (roll < 0.5) store.updateDevice(d.id, { displayName: `renamed-${seed}-${i}` });
    else if (roll < 0.7) store.updateDevice(d.id, { accountEnabled: !d.accountEnabled });
    else if (roll < 0.85) store.deleteDevice(d.id);
    else store.softDeleteDevice(d.id);
  }
}

async function assertConverged(): Promise<void> {
  const desired = new Map(
    env.emulator.store
      .listDevices()
      .filter((d) => ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)))
      .map((d) => [d.deviceId.toLowerCase(), d]),
  );
  const all = await lab.admin.search(lab.dc.forest.domainDn, {
    filter: '(objectClass=msDS-Device)',
    attributes: ['cn', 'msDS-DeviceID', 'displayName', 'msDS-IsEnabled'],
  });
  const ids = all.map((e) => bytesToGuid(bufs(e, 'msDS-DeviceID')[0]!));
  expect(new Set(ids).size, 'duplicate msDS-DeviceID').toBe(ids.length);
  const inContainer = new Map(
    all
      .filter((e) => e.dn.toLowerCase().endsWith(container.toLowerCase()))
      .map((e) => [str(e, 'cn')!.toLowerCase(), e]),
  );
  expect(inContainer.size).toBe(all.length);
  const statusRun = await runCli(['status', '--json', '--config', env.configFile], { env: env.env });
  expect(statusRun.code, statusRun.stderr).toBe(0);
  const status = JSON.parse(statusRun.stdout) as { quarantine: { deviceId: string | null }[] };
  const quarantined = new Set(status.quarantine.map((q) => q.deviceId?.toLowerCase()));
  const missing = [...desired.keys()].filter((k) => !inContainer.has(k) && !quarantined.has(k));
  expect(missing, 'missing devices').toEqual([]);
  const extra = [...inContainer.keys()].filter((k) => !desired.has(k));
  expect(extra, 'objects whose device is gone').toEqual([]);
  for (const [k, e] of inContainer) {
    const d = desired.get(k)!;
    expect(str(e, 'displayName')).toBe(d.displayName);
    expect(str(e, 'msDS-IsEnabled')).toBe(d.accountEnabled ? 'TRUE' : 'FALSE');
  }
}

describe('crash safety', () => {
  it('kill -9 at random points of an initial writeback and of deltas converges', async () => {
    const points: number[] = [];
    for (let i = 0; i < 3; i++) {
      const ms = Math.round(700 + random() * 3500);
      points.push(ms);
      await killSyncAfter(ms);
      mutateCloud(20);
    }
    // let one pass finish so that deltas follow
    const first = await runCli(['sync', '--config', env.configFile], { env: env.env });
    expect([0, 3]).toContain(first.code);
    for (let i = 0; i < 3; i++) {
      mutateCloud(120);
      const ms = Math.round(500 + random() * 2500);
      points.push(ms);
      await killSyncAfter(ms);
    }
    console.log(`[crash] killed sync after ${points.join(', ')} ms`);
    const final = await runCli(['sync', '--json', '--config', env.configFile], { env: env.env });
    expect([0, 3]).toContain(final.code);
    await assertConverged();
    const again = JSON.parse(
      (await runCli(['sync', '--json', '--config', env.configFile], { env: env.env })).stdout,
    ) as Record<string, number>;
    expect(again).toMatchObject({ created: 0, updated: 0, deleted: 0 });
  }, 300_000);

  it('a DC that dies in the middle of a run: the run fails cleanly, the next one converges', async () => {
    mutateCloud(200);
    const p = startCli(['sync', '--json', '--config', env.configFile], { env: env.env });
    await sleep(1200 + random() * 800);
    await lab.dc.kill();
    const r = await p.done;
    if (r.code !== 0 && r.code !== 3) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/DWB_AD_UNREACHABLE|DWB_AD_TLS_FAILED|cannot reach|did not answer/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    await lab.dc.restart();
    await lab.admin.close();
    const { adminSession } = await import('../../src/lab/directory.js');
    lab.admin = await adminSession(lab.dc);
    const next = await runCli(['sync', '--config', env.configFile], { env: env.env });
    expect([0, 3]).toContain(next.code);
    await assertConverged();
  }, 180_000);
});
