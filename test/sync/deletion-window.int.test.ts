// The deletion threshold counted over a sliding window (writeback.deleteWindowSeconds), as an
// administrator meets it: deletions spread over several short `run` cycles are held like the same
// deletions in one pass; `run` keeps running with /healthz at 503; `sync --allow-deletes` says that
// `run` holds the store; `approve-deletes` releases them while `run` runs, and they are made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliProcess } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { addUser, useDc } from '../support/samba.js';
import { request } from '../web/support/http.js';
import { waitFor } from '../support/wait.js';

const lab = useDc();
let env: LabEnv;
let container: string;
let service: CliProcess | undefined;

async function objectsInAd(): Promise<number> {
  return (
    await lab.admin.search(container, {
      scope: 'one',
      filter: '(objectClass=msDS-Device)',
      attributes: ['cn'],
    })
  ).length;
}

beforeAll(async () => {
  container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  const user = await addUser(lab, 'erin', 'Erin-Pa55word!');
  env = await startLabEnv(lab.dc, {
    emulator: { devices: 60, ownerSids: [user.sid], seed: 'deletion-window' },
    writeback: '  intervalSeconds: 1\n  deleteThreshold: 20\n  deleteWindowSeconds: 3600',
  });
});
afterAll(async () => {
  if (service && service.child.exitCode === null) {
    service.child.kill('SIGKILL');
    await service.done;
  }
  await env?.emulator.close();
});

describe('the deletion threshold over a window', () => {
  it('holds deletions spread over several cycles, keeps run up, and releases them with approve-deletes', async () => {
    const cli = (args: string[]) => runCli([...args, '--config', env.configFile], { env: env.env });
    service = startCli(['run', '--config', env.configFile, '--listen', '127.0.0.1:0'], { env: env.env });
    const url = await waitFor(
      () => /web console at (http:\/\/127\.0\.0\.1:\d+)/.exec(service!.output().stderr)?.[1],
      'the console URL',
    );
    await waitFor(
      () => (service!.output().stderr.includes('"msg":"cycle full') ? true : undefined),
      'the first cycle',
    );
    const written = await objectsInAd();
    expect(written).toBeGreaterThan(30);

    // 30 deletions, 6 at a time over several cycles: no single pass deletes more than 20.
    const victims = env.emulator.store
      .listDevices()
      .filter((d) => ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)))
      .slice(0, 30);
    for (let i = 0; i < victims.length; i += 6) {
      for (const d of victims.slice(i, i + 6)) env.emulator.store.deleteDevice(d.id);
      await new Promise((r) => setTimeout(r, 1300));
    }
    const health = await waitFor(async () => {
      const h = await request(`${url}/healthz`);
      return h.status === 503 ? h : undefined;
    }, '/healthz to say the deletions are held');
    expect(JSON.parse(health.body).reason).toMatch(/deleteThreshold.*approve-deletes/);
    expect(service.child.exitCode).toBeNull(); // run keeps running
    const deleted = written - (await objectsInAd());
    expect(deleted).toBeLessThanOrEqual(20);
    expect(deleted).toBeGreaterThan(0);

    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      heldDeletions: { deviceId: string }[];
    };
    expect(status.heldDeletions.length).toBe(30 - deleted);
    expect((await cli(['status'])).stdout).toContain('Held deletions');

    const refused = await cli(['sync', '--allow-deletes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('DWB_STATE_LOCKED');
    expect(refused.stderr).toContain('`device-writeback run`');
    expect(refused.stderr).toContain('approve-deletes');

    const approved = await cli(['approve-deletes']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain(`Released ${30 - deleted} deletions`);
    for (const h of status.heldDeletions) expect(approved.stdout).toContain(h.deviceId);
    await waitFor(
      async () => ((await objectsInAd()) === written - 30 ? true : undefined),
      'the released deletions',
    );
    await waitFor(
      async () => ((await request(`${url}/healthz`)).status === 200 ? true : undefined),
      'healthy again',
    );
    const after = JSON.parse((await cli(['status', '--json'])).stdout) as { heldDeletions: unknown[] };
    expect(after.heldDeletions).toEqual([]);
    expect((await cli(['approve-deletes'])).stdout).toContain('nothing to release');

    // A release empties the window: the next deletions are counted from zero.
    for (const d of env.emulator.store
      .listDevices()
      .filter((d) => ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)))
      .slice(0, 5))
      env.emulator.store.deleteDevice(d.id);
    await waitFor(
      async () => ((await objectsInAd()) === written - 35 ? true : undefined),
      'five more deletions',
    );
    service.child.kill('SIGTERM');
    expect((await service.done).code).toBe(0);
  });
});
