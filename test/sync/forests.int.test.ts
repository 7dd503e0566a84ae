// Several forests (SPEC §8) as an administrator runs them: two independent Samba forests (corp and
// fabrikam, as after a merger), the Graph emulator with owners in each and one in neither, and the
// built CLI. Routing by the owner's domain SID, unrouted devices with their reason, a move between
// forests that is created before it is deleted (also when the old forest is down, and when the sync
// is killed with -9 in the middle of it), a forest outage that does not stop the other, and the
// deletion threshold counted per forest.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../../src/ad/connection.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import type { EmulatedDevice } from '../../src/emulator/model.js';
import { adminSession } from '../../src/lab/directory.js';
import { runCli, startCli, type CliResult } from '../support/cli.js';
import { entraYaml } from '../support/lab-env.js';
import { addUser, useDc, useForestDc, type LabUser } from '../support/samba.js';
import { until } from '../support/wait.js';

const corp = useDc();
const fabrikam = useForestDc('fabrikam');
const labs = { corp, fabrikam } as const;
type ForestName = keyof typeof labs;

/** A user in neither forest (a cloud-only or third-forest owner). */
const STRANGER_SID = 'S-1-5-21-111-222-333-1001';
const IN_SCOPE = ['Workplace', 'AzureAd', 'ServerAd'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let emulator: RunningEmulator;
let configFile: string;
let env: Record<string, string>;
let alice: LabUser;
let bob: LabUser;

interface ForestCounters {
  created: number;
  updated: number;
  deleted: number;
  heldDeletes: number;
  error?: string | null;
}
interface SyncJson {
  mode: string;
  created: number;
  deleted: number;
  heldDeletes: number;
  unrouted: number;
  forests: Record<string, ForestCounters>;
}

function container(name: ForestName): string {
  return `CN=RegisteredDevices,${labs[name].dc.forest.domainDn}`;
}

function cli(args: string[]): Promise<CliResult> {
  return runCli([...args, '--config', configFile], { env });
}

function parse(r: CliResult): SyncJson {
  try {
    return JSON.parse(r.stdout) as SyncJson;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

/** The deviceIds in a forest's container, as its Administrator sees them. */
async function written(name: ForestName): Promise<Set<string>> {
  const entries = await labs[name].admin.search(container(name), {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['cn'],
  });
  return new Set(entries.map((e) => str(e, 'cn')!.toLowerCase()));
}

function ownerSid(d: EmulatedDevice): string | undefined {
  return emulator.store.relation(d.id, 'registeredOwners')[0]?.onPremisesSecurityIdentifier ?? undefined;
}

/** Where each cloud device belongs: by the domain SID of its owner, else nowhere (unrouted). */
function expected(): Record<ForestName | 'unrouted', Set<string>> {
  const out = { corp: new Set<string>(), fabrikam: new Set<string>(), unrouted: new Set<string>() };
  for (const d of emulator.store.listDevices()) {
    if (!IN_SCOPE.includes(String(d.trustType))) continue;
    const sid = ownerSid(d);
    const id = d.deviceId.toLowerCase();
    if (sid?.startsWith(`${corp.dc.domainSid}-`)) out.corp.add(id);
    else if (sid?.startsWith(`${fabrikam.dc.domainSid}-`)) out.fabrikam.add(id);
    else out.unrouted.add(id);
  }
  return out;
}

async function displayName(name: ForestName, deviceId: string): Promise<string | undefined> {
  const [entry] = await labs[name].admin.search(container(name), {
    scope: 'one',
    filter: `(cn=${deviceId})`,
    attributes: ['displayName'],
  });
  return entry ? str(entry, 'displayName') : undefined;
}

function userId(sid: string): string {
  const user = emulator.store.listUsers().find((u) => u.onPremisesSecurityIdentifier === sid);
  if (!user) throw new Error(`no emulated user with SID ${sid}`);
  return user.id;
}

/** Gives a device a new registered owner, as when its user moves to the other forest. */
function reassign(d: EmulatedDevice, toSid: string): void {
  for (const owner of emulator.store.relation(d.id, 'registeredOwners'))
    emulator.store.removeRelation(d.id, 'registeredOwners', owner.id);
  emulator.store.addRelation(d.id, 'registeredOwners', userId(toSid));
}

function devicesOwnedBy(sid: string): EmulatedDevice[] {
  return emulator.store.listDevices().filter((d) => ownerSid(d) === sid);
}

beforeAll(async () => {
  for (const name of ['corp', 'fabrikam'] as const)
    await labs[name].admin.add(container(name), { objectClass: ['top', 'msDS-DeviceContainer'] });
  alice = await addUser(corp, 'alice', 'Alice-Pa55word!');
  bob = await addUser(fabrikam, 'bob', 'Bob-Pa55word!');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-forests-'));
  emulator = await startEmulator({
    dataDir: path.join(dir, 'emulator'),
    domainSid: corp.dc.domainSid,
    devices: 36,
    ownerSids: [alice.sid, bob.sid, STRANGER_SID],
    seed: 'forests',
  });
  env = {
    DWB_CLIENT_SECRET: emulator.clientSecret,
    DWB_CORP_PASSWORD: corp.dc.adminPassword,
    DWB_FABRIKAM_PASSWORD: fabrikam.dc.adminPassword,
    DWB_CONFIG: '',
  };
  configFile = path.join(dir, 'device-writeback.yaml');
  const forest = (name: ForestName) => `  - name: ${name}
    ad:
      url: ${labs[name].dc.url}
      bindDn: "${labs[name].dc.adminDn}"
      password: { env: DWB_${name.toUpperCase()}_PASSWORD }
      caFile: ${labs[name].dc.caFile}
      timeoutSeconds: 5
`;
  writeFileSync(
    configFile,
    `${entraYaml(emulator)}forests:
${forest('corp')}${forest('fabrikam')}writeback:
  deleteThreshold: 3
  deleteWindowSeconds: 1
  intervalSeconds: 1
state:
  sqlite: ${path.join(dir, 'state.db')}
`,
  );
});
afterAll(async () => {
  await emulator?.close();
});

describe('several forests end to end (two Samba forests, emulator, CLI)', () => {
  it('writes each device to the forest of its owner and lists the others as unrouted, with the reason', async () => {
    const want = expected();
    expect(want.corp.size).toBeGreaterThan(0);
    expect(want.fabrikam.size).toBeGreaterThan(0);
    expect(want.unrouted.size).toBeGreaterThan(0);

    const r = await cli(['sync', '--json']);
    const summary = parse(r);
    expect(r.code, r.stderr).toBe(0);
    expect(summary.mode).toBe('full');
    expect(summary.forests.corp!.created).toBe(want.corp.size);
    expect(summary.forests.fabrikam!.created).toBe(want.fabrikam.size);
    expect(summary.created).toBe(want.corp.size + want.fabrikam.size);
    expect(summary.unrouted).toBe(want.unrouted.size);
    expect(await written('corp')).toEqual(want.corp);
    expect(await written('fabrikam')).toEqual(want.fabrikam);

    const all = await cli(['devices', '--all', '--json']);
    expect(all.code, all.stderr).toBe(0);
    const rows = JSON.parse(all.stdout) as { deviceId: string; forest: string | null; notWritten?: string }[];
    for (const id of want.unrouted) {
      const row = rows.find((d) => d.deviceId.toLowerCase() === id);
      expect(row, `unrouted device ${id} in devices --all`).toBeDefined();
      expect(row!.notWritten).toMatch(/unrouted/);
      const device = emulator.store.listDevices().find((d) => d.deviceId.toLowerCase() === id)!;
      // the reason names the owner's domain that no forest holds
      if (ownerSid(device) === STRANGER_SID) expect(row!.notWritten).toContain('S-1-5-21-111-222-333');
    }
    for (const id of want.fabrikam)
      expect(rows.find((d) => d.deviceId.toLowerCase() === id)?.forest).toBe('fabrikam');

    const only = await cli(['devices', '--forest', 'corp', '--json']);
    const corpRows = JSON.parse(only.stdout) as { deviceId: string; forest: string }[];
    expect(new Set(corpRows.map((d) => d.deviceId.toLowerCase()))).toEqual(want.corp);
    expect(corpRows.every((d) => d.forest === 'corp')).toBe(true);

    const status = await cli(['status']);
    expect(status.stdout).toMatch(/corp/);
    expect(status.stdout).toMatch(/fabrikam/);
    expect(status.stdout).toMatch(/unrouted/i);

    // a second pass changes nothing in either forest
    const again = parse(await cli(['sync', '--json']));
    expect(again.created + again.deleted).toBe(0);
  });

  it('moves a device whose owner moved: created in the new forest while the old one is down, removed from the old one when it is back', async () => {
    const moving = devicesOwnedBy(alice.sid).slice(0, 2);
    for (const d of moving) reassign(d, bob.sid);
    const ids = moving.map((d) => d.deviceId.toLowerCase());

    await corp.dc.kill();
    try {
      const r = await cli(['sync', '--full', '--json']);
      const summary = parse(r);
      // a forest that could not be reached makes the run fail, but not the other forest's writes
      expect(r.code).toBe(1);
      expect(summary.forests.corp!.error).toBeTruthy();
      expect(summary.forests.fabrikam!.error ?? null).toBeNull();
      expect(summary.forests.fabrikam!.created).toBe(2);
      const fab = await written('fabrikam');
      for (const id of ids) expect(fab.has(id)).toBe(true);
    } finally {
      await corp.dc.restart();
      await corp.admin.close();
      corp.admin = await adminSession(corp.dc);
    }
    // the old copies are still there (the forest was down): nothing was lost in between
    const before = await written('corp');
    for (const id of ids) expect(before.has(id)).toBe(true);

    // back: the next pass (a delta) applies what corp missed
    const r = await cli(['sync', '--json']);
    const summary = parse(r);
    expect(r.code, r.stderr).toBe(0);
    expect(summary.forests.corp!.deleted).toBe(2);
    const want = expected();
    expect(await written('corp')).toEqual(want.corp);
    expect(await written('fabrikam')).toEqual(want.fabrikam);
  });

  it('keeps writing to corp within a cycle while fabrikam is down, and fabrikam converges when it is back (run)', async () => {
    const service = startCli(['run', '--config', configFile, '--listen', '127.0.0.1:0'], { env });
    try {
      await until(() => service.output().stderr.includes('cycle'), 'the first cycle', 30_000);
      await fabrikam.dc.kill();
      const want = expected();
      const corpDevice = emulator.store.listDevices().find((d) => want.corp.has(d.deviceId.toLowerCase()))!;
      const fabDevice = emulator.store
        .listDevices()
        .find((d) => want.fabrikam.has(d.deviceId.toLowerCase()))!;
      emulator.store.updateDevice(corpDevice.id, { displayName: 'corp while fabrikam is down' });
      emulator.store.updateDevice(fabDevice.id, { displayName: 'fabrikam while it was down' });
      await until(
        async () => (await displayName('corp', corpDevice.deviceId)) === 'corp while fabrikam is down',
        "corp's change in corp",
        20_000,
      );
      await fabrikam.dc.restart();
      await fabrikam.admin.close();
      fabrikam.admin = await adminSession(fabrikam.dc);
      await until(
        async () => (await displayName('fabrikam', fabDevice.deviceId)) === 'fabrikam while it was down',
        "fabrikam's change once it is back",
        60_000,
      );
      // nothing duplicated or lost in either forest
      expect(await written('corp')).toEqual(expected().corp);
      expect(await written('fabrikam')).toEqual(expected().fabrikam);
    } finally {
      service.child.kill('SIGTERM');
      await service.done;
    }
  });

  it('never loses a moving device when sync is killed with -9 between the create and the delete', async () => {
    const moving = devicesOwnedBy(bob.sid).slice(0, 8);
    expect(moving.length).toBe(8);
    for (const d of moving) reassign(d, alice.sid);
    const ids = moving.map((d) => d.deviceId.toLowerCase());

    const run = startCli(['sync', '--full', '--json', '--config', configFile], { env });
    let sawBoth = false;
    // Watch both forests while the pass runs: a moving device is in one of them at every moment,
    // and the sync is killed as soon as the first one has reached its new forest.
    for (;;) {
      const [inCorp, inFab] = await Promise.all([written('corp'), written('fabrikam')]);
      for (const id of ids) expect(inCorp.has(id) || inFab.has(id), `${id} is in no forest`).toBe(true);
      if (ids.some((id) => inCorp.has(id))) {
        sawBoth ||= ids.some((id) => inCorp.has(id) && inFab.has(id));
        run.child.kill('SIGKILL');
        break;
      }
      if (run.child.exitCode !== null) break;
      await sleep(20);
    }
    const killed = await run.done;
    console.log(
      `[forests] sync ${killed.signal === 'SIGKILL' ? 'killed with -9' : `ended (${killed.code})`} during the move; a device in both forests seen: ${sawBoth}`,
    );
    const [inCorp, inFab] = await Promise.all([written('corp'), written('fabrikam')]);
    for (const id of ids) expect(inCorp.has(id) || inFab.has(id), `${id} is in no forest`).toBe(true);

    // The next pass finds the moved devices in both forests: removing the old copies counts toward
    // fabrikam's deletion threshold (3), so more than that are held, and nothing is lost meanwhile.
    const stillInFab = ids.filter((id) => inFab.has(id)).length;
    const held = await cli(['sync', '--json']);
    const heldSummary = parse(held);
    expect(held.code).toBe(stillInFab > 3 ? 4 : 0);
    expect(heldSummary.forests.fabrikam!.heldDeletes).toBe(stillInFab > 3 ? stillInFab : 0);
    expect(heldSummary.forests.corp!.heldDeletes).toBe(0);
    for (const id of ids) expect((await written('corp')).has(id)).toBe(true);

    // released: each moved device is in its new forest only, no duplicate anywhere
    const r = await cli(['sync', '--allow-deletes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const want = expected();
    expect(await written('corp')).toEqual(want.corp);
    expect(await written('fabrikam')).toEqual(want.fabrikam);
    for (const id of ids) expect(want.corp.has(id)).toBe(true);
  });

  it('counts the deletion threshold per forest: one forest held, the other written', async () => {
    const want = expected();
    const corpIds = [...want.corp].slice(0, 4);
    const fabIds = [...want.fabrikam].slice(0, 2);
    for (const id of [...corpIds, ...fabIds]) {
      const d = emulator.store.listDevices().find((x) => x.deviceId.toLowerCase() === id)!;
      emulator.store.deleteDevice(d.id);
    }
    const r = await cli(['sync', '--json']);
    const summary = parse(r);
    expect(r.code).toBe(4);
    expect(summary.forests.corp!.heldDeletes).toBe(4);
    expect(summary.forests.corp!.deleted).toBe(0);
    expect(summary.forests.fabrikam!.deleted).toBe(2);
    expect(summary.forests.fabrikam!.heldDeletes).toBe(0);
    const corpNow = await written('corp');
    for (const id of corpIds) expect(corpNow.has(id)).toBe(true);
    const fabNow = await written('fabrikam');
    for (const id of fabIds) expect(fabNow.has(id)).toBe(false);

    // approving the held deletions applies them
    const approve = await cli(['approve-deletes']);
    expect(approve.code, approve.stderr + approve.stdout).toBe(0);
    const after = parse(await cli(['sync', '--json']));
    expect(after.forests.corp!.deleted).toBe(4);
    expect(await written('corp')).toEqual(expected().corp);
  });

  it('refuses two entries that point at the same forest (DWB_FOREST_OVERLAP, exit 2), writing nothing', async () => {
    const text = readFileSync(configFile, 'utf8').replace(
      `url: ${fabrikam.dc.url}\n      bindDn: "${fabrikam.dc.adminDn}"\n      password: { env: DWB_FABRIKAM_PASSWORD }\n      caFile: ${fabrikam.dc.caFile}`,
      `url: ${corp.dc.url}\n      bindDn: "${corp.dc.adminDn}"\n      password: { env: DWB_CORP_PASSWORD }\n      caFile: ${corp.dc.caFile}`,
    );
    expect(text).not.toContain(fabrikam.dc.url);
    const overlap = path.join(path.dirname(configFile), 'overlap.yaml');
    writeFileSync(
      overlap,
      text.replace(/sqlite: .*/, `sqlite: ${path.join(path.dirname(configFile), 'overlap.db')}`),
    );
    const before = await written('corp');
    const r = await runCli(['sync', '--json', '--config', overlap], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DWB_FOREST_OVERLAP');
    expect(r.stderr).toMatch(/the forests corp and fabrikam both hold the domain S-1-5-21-/);
    expect(await written('corp')).toEqual(before);
  });

  it('names the entry of a bad forest in a configuration error (forests[1].ad.url)', async () => {
    const bad = path.join(path.dirname(configFile), 'bad.yaml');
    writeFileSync(
      bad,
      readFileSync(configFile, 'utf8').replace(
        `url: ${fabrikam.dc.url}`,
        'url: ldaps://fabrikam.example.test:99999',
      ),
    );
    const r = await runCli(['check', '--config', bad], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('forests[1].ad.url');
  });
});
