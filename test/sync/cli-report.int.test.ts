// What `sync` reports, through the CLI against the Graph emulator and a real Samba DC (issue 13):
// each object `--adopt` took over (adoptedDevices in JSON, one line per device in the human output),
// and a Graph 500 logged as the failure it was, not as throttling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../../src/ad/connection.js';
import { guidToBytes } from '../../src/ad/guid.js';
import type { EmulatedDevice } from '../../src/emulator/model.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { useDc } from '../support/samba.js';

const lab = useDc();
let env: LabEnv;
let container: string;
let cloud: EmulatedDevice[];

function cli(args: string[]): Promise<CliResult> {
  return runCli([...args, '--config', env.configFile], { env: env.env });
}

/** An msDS-Device another tool (Azure AD Connect) wrote for a cloud device: no msDS-CloudAnchor. */
async function addUnmanaged(device: EmulatedDevice): Promise<string> {
  const dn = `CN=${device.deviceId},${container}`;
  await lab.admin.add(dn, {
    objectClass: ['msDS-Device'],
    'msDS-DeviceID': guidToBytes(device.deviceId),
    displayName: `${device.displayName} (written by Azure AD Connect)`,
    'msDS-IsEnabled': 'TRUE',
    altSecurityIdentities: `X509:<SHA1-TP-PUBKEY>${'7'.repeat(40)}${'A'.repeat(43)}=`,
  });
  return dn;
}

interface SyncJson {
  mode: string;
  dryRun: boolean;
  updated: number;
  adopted: number;
  quarantined: number;
  adoptedDevices: { deviceId: string; dn: string }[];
}

beforeAll(async () => {
  container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  env = await startLabEnv(lab.dc, { emulator: { devices: 12, seed: 'cli-report' } });
  cloud = env.emulator.store
    .listDevices()
    .filter(
      (d) =>
        ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)) &&
        d.alternativeSecurityIds.length > 0,
    );
});
afterAll(async () => {
  await env?.emulator.close();
});

describe('sync --adopt', () => {
  it('without --adopt, objects of another writer are conflicts; --adopt names each one it takes over', async () => {
    const [a, b] = cloud;
    const dns = [await addUnmanaged(a!), await addUnmanaged(b!)];
    const refused = JSON.parse((await cli(['sync', '--json'])).stdout) as SyncJson;
    expect(refused.adopted).toBe(0);
    expect(refused.quarantined).toBeGreaterThanOrEqual(2);

    // a full pass joins by the container scan, so a dry run sees what it would adopt
    const dry = await cli(['sync', '--adopt', '--dry-run', '--full']);
    expect(dry.stdout).toContain('Would adopt');
    for (const [i, d] of [a!, b!].entries())
      expect(dry.stdout).toContain(`  adopted ${d.deviceId}  ${dns[i]}`);

    const human = await cli(['sync', '--adopt']);
    expect(human.stdout).toMatch(/updated \d+ \(adopted 2\)/);
    expect(human.stdout).toContain('Adopted (objects not written by device-writeback');
    const lines = human.stdout.split('\n').filter((l) => l.startsWith('  adopted '));
    expect(lines.sort()).toEqual([a!, b!].map((d, i) => `  adopted ${d.deviceId}  ${dns[i]}`).sort());
    for (const dn of dns)
      expect(str((await lab.admin.read(dn, ['msDS-CloudAnchor']))!, 'msDS-CloudAnchor')).toBeTruthy();
  });

  it('sync --adopt --json lists the adopted objects in adoptedDevices, beside the adopted count', async () => {
    const device = env.emulator.store.createDevice({
      ...cloud[2]!,
      id: undefined,
      deviceId: '5a1d2c3e-4b5f-4a6b-8c7d-9e0f1a2b3c4d',
      displayName: 'Migrated from Azure AD Connect',
    } as unknown as EmulatedDevice);
    const dn = await addUnmanaged(device);
    const r = await cli(['sync', '--adopt', '--json']);
    const summary = JSON.parse(r.stdout) as SyncJson;
    expect(summary).toMatchObject({ mode: 'delta', adopted: 1 });
    expect(summary.adoptedDevices).toEqual([{ deviceId: device.deviceId, dn }]);
  });
});

describe('Graph failures in the log', () => {
  it('a 500 that is retried is logged as what it was, not as throttling', async () => {
    env.emulator.faults.add({ status: 500, count: 1, path: '/v1.0/devices' });
    const r = await cli(['sync', '--full']);
    expect(r.code).toBe(0);
    const retried = r.stderr.split('\n').find((l) => l.includes('"status":500'));
    expect(retried).toBeDefined();
    expect(retried).toContain('HTTP 500');
    expect(retried).toContain('generalException');
    expect(retried).not.toMatch(/throttl/i);
  });
});
