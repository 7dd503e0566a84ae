// sync, devices, status and run as a user runs them: the built CLI against the Graph emulator and a
// real Samba DC, compared with what the emulator holds; no secret in any output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufs, str } from '../../src/ad/connection.js';
import { bytesToSid } from '../../src/ad/sid.js';
import type { EmulatedDevice } from '../../src/emulator/model.js';
import { runCli, startCli, type CliResult } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { addUser, ldapsearch, useDc, type LabUser } from '../support/samba.js';
import { until } from '../support/wait.js';

const lab = useDc();
let env: LabEnv;
let container: string;
let users: LabUser[];
const outputs: CliResult[] = [];

async function cli(args: string[]): Promise<CliResult> {
  const r = await runCli([...args, '--config', env.configFile], { env: env.env });
  outputs.push(r);
  return r;
}

async function adDevices(): Promise<Map<string, Awaited<ReturnType<typeof lab.admin.search>>[number]>> {
  const entries = await lab.admin.search(container, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['*'],
  });
  return new Map(entries.map((e) => [str(e, 'cn')!.toLowerCase(), e]));
}

function inScopeCloud(): Map<string, EmulatedDevice> {
  return new Map(
    env.emulator.store
      .listDevices()
      .filter((d) => ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)))
      .map((d) => [d.deviceId.toLowerCase(), d]),
  );
}

beforeAll(async () => {
  container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  users = [await addUser(lab, 'alice', 'Alice-Pa55word!'), await addUser(lab, 'bob', 'Bob-Pa55word!')];
  env = await startLabEnv(lab.dc, {
    emulator: { devices: 40, ownerSids: users.map((u) => u.sid), seed: 'cli-e2e' },
  });
});
afterAll(async () => {
  await env?.emulator.close();
});

describe('device-writeback CLI end to end (emulator + Samba)', () => {
  it('first sync writes every in-scope device with its owner SID', async () => {
    const r = await cli(['sync', '--json']);
    expect(r.stderr).not.toContain('DWB_INTERNAL');
    const summary = JSON.parse(r.stdout) as Record<string, number | string | boolean | unknown[]>;
    const cloud = inScopeCloud();
    expect(summary.mode).toBe('full');
    expect(summary.dryRun).toBe(false);
    expect(summary.created).toBe(cloud.size - (summary.quarantined as number));
    expect(r.code).toBe((summary.quarantined as number) > 0 ? 3 : 0);
    const ad = await adDevices();
    for (const [deviceId, d] of cloud) {
      const e = ad.get(deviceId);
      if (!e) continue;
      expect(str(e, 'displayName')).toBe(d.displayName);
      expect(str(e, 'msDS-IsEnabled')).toBe(d.accountEnabled ? 'TRUE' : 'FALSE');
      const owners = env.emulator.store.relation(d.id, 'registeredOwners');
      const ownerSid = owners.find((u) => u.onPremisesSecurityIdentifier)?.onPremisesSecurityIdentifier;
      if (ownerSid) expect(bytesToSid(bufs(e, 'msDS-RegisteredOwner')[0]!)).toBe(ownerSid);
    }
    expect([...ad.keys()].every((k) => cloud.has(k))).toBe(true);
  });

  it('one delta sync applies exactly the cloud changes', async () => {
    const devices = [...inScopeCloud().values()].filter(
      (d) => env.emulator.store.relation(d.id, 'registeredOwners').length > 0,
    );
    const [a, b, c, d, e] = devices;
    env.emulator.store.updateDevice(a!.id, { displayName: 'Renamed laptop' });
    env.emulator.store.updateDevice(b!.id, { accountEnabled: !b!.accountEnabled });
    env.emulator.store.updateDevice(c!.id, { operatingSystemVersion: '99.1.2' });
    env.emulator.store.deleteDevice(d!.id);
    env.emulator.store.softDeleteDevice(e!.id);
    const r = await cli(['sync', '--json']);
    const summary = JSON.parse(r.stdout) as Record<string, number>;
    expect(summary).toMatchObject({ mode: 'delta', created: 0, updated: 3, deleted: 2 });
    const ad = await adDevices();
    expect(str(ad.get(a!.deviceId.toLowerCase())!, 'displayName')).toBe('Renamed laptop');
    expect(str(ad.get(b!.deviceId.toLowerCase())!, 'msDS-IsEnabled')).toBe(
      b!.accountEnabled ? 'FALSE' : 'TRUE',
    );
    expect(str(ad.get(c!.deviceId.toLowerCase())!, 'msDS-DeviceOSVersion')).toBe('99.1.2');
    expect(ad.has(d!.deviceId.toLowerCase())).toBe(false);
    expect(ad.has(e!.deviceId.toLowerCase())).toBe(false);
    env.emulator.store.restoreDevice(e!.id);
    const again = JSON.parse((await cli(['sync', '--json'])).stdout) as Record<string, number>;
    expect(again.created).toBe(1);
  });

  it('--dry-run prints the planned operations and changes nothing', async () => {
    const d = [...inScopeCloud().values()][0]!;
    env.emulator.store.updateDevice(d.id, { displayName: 'Dry run name' });
    const before = await ldapsearch(lab.dc, container, ['-s', 'one', '*']);
    const r = await cli(['sync', '--dry-run', '--json']);
    const summary = JSON.parse(r.stdout) as {
      dryRun: boolean;
      updated: number;
      operations: { action: string; dn: string; ldif: string }[];
    };
    expect(summary.dryRun).toBe(true);
    expect(summary.operations).toEqual([
      expect.objectContaining({
        action: 'modify',
        ldif: expect.stringContaining('displayName: Dry run name'),
      }),
    ]);
    expect(await ldapsearch(lab.dc, container, ['-s', 'one', '*'])).toBe(before);
    const human = await cli(['sync', '--dry-run']);
    expect(human.stdout).toContain('changetype: modify');
    expect(human.stdout).toContain('nothing was written');
    expect(await ldapsearch(lab.dc, container, ['-s', 'one', '*'])).toBe(before);
  });

  it('devices and status show what is there', async () => {
    await cli(['sync']);
    const devices = JSON.parse((await cli(['devices', '--json'])).stdout) as {
      dn: string;
      deviceId: string;
      displayName: string;
      managed: boolean;
      enabled: boolean;
    }[];
    expect(devices.length).toBe((await adDevices()).size);
    expect(devices.every((d) => d.managed && d.dn.endsWith(container))).toBe(true);
    const found = JSON.parse((await cli(['devices', '--search', 'Dry run', '--json'])).stdout) as {
      displayName: string;
    }[];
    expect(found.map((d) => d.displayName)).toEqual(['Dry run name']);
    const table = await cli(['devices']);
    expect(table.stdout).toMatch(/DISPLAY NAME\s+DEVICE ID/);
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      counts: { managedObjects: number };
      lastRuns: { outcome: string }[];
      watermark: { committedAt: string };
    };
    expect(status.counts.managedObjects).toBe(devices.length);
    expect(status.watermark.committedAt).toBeTruthy();
    expect(status.lastRuns.length).toBeGreaterThan(3);
  });

  it('run writes changes back in seconds, refuses a second writer, and stops cleanly on SIGTERM', async () => {
    const service = startCli(['run', '--config', env.configFile, '--listen', '127.0.0.1:0'], {
      env: env.env,
    });
    try {
      await until(() => service.output().stderr.includes('cycle'), 'the first cycle', 20_000);
      const second = await cli(['sync']);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('DWB_STATE_LOCKED');
      const d = [...inScopeCloud().values()][1]!;
      env.emulator.store.updateDevice(d.id, { displayName: 'Changed while running' });
      await until(
        async () =>
          str((await adDevices()).get(d.deviceId.toLowerCase())!, 'displayName') === 'Changed while running',
        'the rename in AD',
        20_000,
      );
    } finally {
      service.child.kill('SIGTERM');
    }
    const r = await service.done;
    outputs.push(r);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('writeback service stopped');
  });

  it('no secret appears in any output or log line', async () => {
    const bad = await runCli(['sync', '--config', env.configFile, '--log-level', 'debug'], {
      env: { ...env.env, DWB_AD_PASSWORD: 'Wrong-But-Secret-Pa55' },
    });
    outputs.push(bad);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('DWB_AD_BIND_FAILED');
    outputs.push(await cli(['sync', '--log-level', 'trace']));
    const secrets = [
      lab.dc.adminPassword,
      env.emulator.clientSecret,
      'Wrong-But-Secret-Pa55',
      'Alice-Pa55word!',
    ];
    for (const o of outputs)
      for (const s of secrets) {
        expect(o.stdout).not.toContain(s);
        expect(o.stderr).not.toContain(s);
      }
  });
});
