// Values from the cloud never reach the terminal raw (SPEC §3; issue 13, item 6): device names, ids
// and owner UPNs holding escape sequences (clear screen, window title) and a right-to-left override
// are shown escaped by `sync`, `devices`, `status`, `claims`, `check`, `approve-deletes` and in the
// logs, through the CLI against the Graph emulator and a real Samba DC; JSON output carries the same
// values, escaped.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedDevice } from '../../src/emulator/model.js';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { useDc } from '../support/samba.js';

/** Clear screen, then an OSC window title ended by BEL. */
const ESCAPES = '\u001b[2J\u001b]0;pwned\u0007';
const ESCAPES_SHOWN = '\\u001b[2J\\u001b]0;pwned\\u0007';
/** What a terminal or page must never receive from a value. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const lab = useDc();
let env: LabEnv;
let evil: EmulatedDevice;
let mirrored: EmulatedDevice;
const outputs: { args: string[]; result: CliResult }[] = [];

async function cli(args: string[]): Promise<CliResult> {
  const result = await runCli([...args, '--config', env.configFile], { env: env.env });
  outputs.push({ args, result });
  return result;
}

beforeAll(async () => {
  const container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  env = await startLabEnv(lab.dc, { emulator: { devices: 6, seed: 'output-injection' } });
  const store = env.emulator.store;
  const written = store
    .listDevices()
    .filter(
      (d) =>
        ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)) &&
        d.alternativeSecurityIds.length > 0,
    );
  const [a, b, c] = written;
  store.updateDevice(a!.id, { displayName: `Evil${ESCAPES}laptop` });
  store.updateDevice(b!.id, { displayName: 'RTL\u202egnp.exe' });
  // no usable key: quarantined, and listed by name in status
  store.updateDevice(c!.id, { displayName: 'Quarantined\u202etxt.exe', alternativeSecurityIds: [] });
  // a deviceId that is not a GUID: quarantined, listed by its id in sync's errors
  store.createDevice({
    ...a!,
    id: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
    deviceId: `bad${ESCAPES}id`,
    displayName: 'Bad id',
  });
  for (const user of store.listUsers())
    store.updateUser(user.id, { userPrincipalName: `eve\u202egnp.exe.${user.id.slice(0, 8)}@contoso.test` });
  evil = store.getDevice(a!.id)!;
  mirrored = store.getDevice(b!.id)!;
});
afterAll(async () => {
  await env?.emulator.close();
});

describe('hostile names in the human output', () => {
  it('sync lists the quarantined device by its escaped id', async () => {
    const r = await cli(['sync']);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`bad${ESCAPES_SHOWN}id`);
  });

  it('devices shows escaped names, and the JSON holds the very values, escaped', async () => {
    const table = await cli(['devices']);
    expect(table.stdout).toContain(`Evil${ESCAPES_SHOWN}laptop`.slice(0, 30));
    expect(table.stdout).toContain('RTL\\u202egnp.exe');
    const json = await cli(['devices', '--json']);
    expect(json.stdout).toContain('RTL\\u202egnp.exe');
    const rows = JSON.parse(json.stdout) as { deviceId: string; displayName: string }[];
    expect(rows.find((d) => d.deviceId === evil.deviceId)?.displayName).toBe(evil.displayName);
    expect(rows.find((d) => d.deviceId === mirrored.deviceId)?.displayName).toBe(mirrored.displayName);
  });

  it('status lists the quarantined device by its escaped name', async () => {
    const r = await cli(['status']);
    expect(r.stdout).toContain('Quarantined\\u202etxt.exe');
  });

  it('claims prints the escaped display name', async () => {
    const r = await cli(['claims', '--device', evil.deviceId]);
    expect(r.stdout).toContain(`Evil${ESCAPES_SHOWN}laptop`);
  });

  it('check shows owners with an escaped UPN', async () => {
    const r = await cli(['check']);
    expect(r.stdout).toContain('eve\\u202egnp.exe.');
  });

  it('status and approve-deletes show held deletions with escaped ids and DNs', async () => {
    // A held deletion names the object by the CN and DN AD returned: a managed object renamed in AD
    // (CN=RTL\u202egnp.exe) is listed under that name.
    const store = SqliteStateStore.open(path.join(env.dir, 'state.db'), { writer: true });
    try {
      await store.holdDeletions('default', [
        {
          deviceId: `rtl\u202egnp.exe${ESCAPES}`,
          graphId: evil.id,
          dn: `CN=RTL\u202egnp.exe${ESCAPES},CN=RegisteredDevices,${lab.dc.forest.domainDn}`,
          reason: 'the device no longer exists in Entra ID or is out of writeback.trustTypes',
        },
      ]);
    } finally {
      await store.close();
    }
    const status = await cli(['status']);
    expect(status.stdout).toContain('Held deletions (1');
    // (the store keeps device ids in lower case)
    expect(status.stdout).toContain(`rtl\\u202egnp.exe${ESCAPES_SHOWN.toLowerCase()}`);
    expect(status.stdout).toContain(`CN=RTL\\u202egnp.exe${ESCAPES_SHOWN},CN=RegisteredDevices`);
    const approved = await cli(['approve-deletes']);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('Released 1 deletion');
    expect(approved.stdout).toContain(`CN=RTL\\u202egnp.exe${ESCAPES_SHOWN},CN=RegisteredDevices`);
  });

  it('no output, human, JSON or log, holds a raw control character or bidirectional override', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(8);
    for (const { args, result } of outputs) {
      expect({ args, raw: RAW.exec(result.stdout)?.[0] }).toEqual({ args, raw: undefined });
      expect({ args, raw: RAW.exec(result.stderr)?.[0] }).toEqual({ args, raw: undefined });
    }
  });
});
