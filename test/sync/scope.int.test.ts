// Scope rules end to end: the built CLI against the Graph emulator (its seeded groups "Pilot
// devices" nested in "Device writeback scope") and a real Samba DC. Group membership changes, direct
// and nested, reach AD in one delta pass; each rule lets a device in and out; a scope change bigger
// than the deletion threshold is shown by a dry run, held, and applied once approved; `devices
// --all`, `status` and `claims --device` say which rule keeps a device out.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { str } from '../../src/ad/connection.js';
import type { EmulatedDevice } from '../../src/emulator/model.js';
import { runCli, startCli, type CliResult } from '../support/cli.js';
import { request } from '../web/support/http.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { addUser, useDc, type LabUser } from '../support/samba.js';

const lab = useDc();
let env: LabEnv;
let container: string;
let users: LabUser[];
let scopeGroup: string;
let pilotGroup: string;
const TRUST = ['workplace', 'azuread', 'serverad'];

async function cli(args: string[]): Promise<CliResult> {
  const r = await runCli([...args, '--config', env.configFile], { env: env.env });
  expect(r.stderr, r.stderr).not.toContain('DWB_INTERNAL');
  return r;
}

async function syncJson(args: string[] = []): Promise<Record<string, unknown> & { code: number | null }> {
  const r = await cli(['sync', '--json', ...args]);
  return { ...(JSON.parse(r.stdout) as Record<string, unknown>), code: r.code };
}

/** Replaces the writeback: section of the lab's configuration. */
function setWriteback(lines: string): void {
  const text = readFileSync(env.configFile, 'utf8');
  writeFileSync(env.configFile, text.replace(/writeback:\n[\s\S]*?\nstate:/, `writeback:\n${lines}\nstate:`));
}

async function inAd(): Promise<Set<string>> {
  const entries = await lab.admin.search(container, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['cn'],
  });
  return new Set(entries.map((e) => str(e, 'cn')!.toLowerCase()));
}

interface Rules {
  os?: string[];
  managed?: boolean;
  compliant?: boolean;
  owner?: boolean;
  groups?: string[];
}

/** What the scope should let in, computed from the emulator's own data. */
function passes(d: EmulatedDevice, rules: Rules): boolean {
  const store = env.emulator.store;
  if (!TRUST.includes(String(d.trustType).toLowerCase())) return false;
  if (rules.os && !rules.os.map((o) => o.toLowerCase()).includes(String(d.operatingSystem).toLowerCase()))
    return false;
  if (rules.managed && d.isManaged !== true) return false;
  if (rules.compliant && d.isCompliant !== true) return false;
  if (rules.groups) {
    const memberOf = new Set(store.transitiveMemberOf(d.id).map((g) => g.group.id));
    if (!rules.groups.some((g) => memberOf.has(g))) return false;
  }
  if (rules.owner && !store.relation(d.id, 'registeredOwners')[0]?.onPremisesSecurityIdentifier) return false;
  return true;
}

async function quarantined(): Promise<Set<string>> {
  const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
    quarantine: { deviceId: string | null }[];
  };
  return new Set(status.quarantine.flatMap((q) => (q.deviceId ? [q.deviceId.toLowerCase()] : [])));
}

async function expected(rules: Rules): Promise<Set<string>> {
  const skip = await quarantined();
  return new Set(
    env.emulator.store
      .listDevices()
      .filter((d) => passes(d, rules))
      .map((d) => d.deviceId.toLowerCase())
      .filter((id) => !skip.has(id)),
  );
}

const sorted = (s: Set<string>): string[] => [...s].sort();

function pick(filter: (d: EmulatedDevice) => boolean, exclude: EmulatedDevice[] = []): EmulatedDevice {
  const found = env.emulator.store
    .listDevices()
    .find(
      (d) =>
        filter(d) && !exclude.some((x) => x.id === d.id) && TRUST.includes(String(d.trustType).toLowerCase()),
    );
  if (!found) throw new Error('no device in the seed fits this test');
  return found;
}

beforeAll(async () => {
  container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  users = [await addUser(lab, 'alice', 'Alice-Pa55word!'), await addUser(lab, 'bob', 'Bob-Pa55word!')];
  env = await startLabEnv(lab.dc, {
    emulator: { devices: 60, ownerSids: users.map((u) => u.sid), seed: 'scope-e2e' },
  });
  const groups = env.emulator.store.listGroups();
  scopeGroup = groups.find((g) => g.displayName === 'Device writeback scope')!.id;
  pilotGroup = groups.find((g) => g.displayName === 'Pilot devices')!.id;
});
afterAll(async () => {
  await env?.emulator.close();
});

describe('scope rules end to end (emulator + Samba)', () => {
  it('writes only the members of a scope group, nested groups included, and says why the others are not written', async () => {
    setWriteback(`  intervalSeconds: 1\n  scope:\n    groups: [${scopeGroup}]`);
    const check = await cli(['check', '--json']);
    const scopeCheck = (
      JSON.parse(check.stdout) as { checks: { id: string; status: string; detail: string }[] }
    ).checks.find((c) => c.id === 'entra.scope-groups');
    expect(scopeCheck).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining('"Device writeback scope"'),
    });

    const first = await syncJson();
    expect(first).toMatchObject({ mode: 'full', deleted: 0 });
    const want = await expected({ groups: [scopeGroup] });
    expect(want.size).toBeGreaterThan(2);
    expect(sorted(await inAd())).toEqual(sorted(want));
    // Pilot devices are in through the nested group.
    const pilotDevice = env.emulator.store.members(pilotGroup).find((m) => m.kind === 'device')!;
    expect(
      want.has((pilotDevice as { record: { device: EmulatedDevice } }).record.device.deviceId.toLowerCase()),
    ).toBe(true);

    const all = JSON.parse((await cli(['devices', '--all', '--json'])).stdout) as {
      deviceId: string;
      written?: boolean;
      notWritten?: string;
      notWrittenKind?: string;
      notWrittenRule?: string | null;
    }[];
    const outside = all.filter((r) => r.notWrittenKind === 'out-of-scope');
    expect(outside.length).toBeGreaterThan(0);
    expect(outside.filter((r) => r.notWrittenRule === 'groups').map((r) => r.notWritten)).toContain(
      'out of scope: not in any scope group',
    );
    expect(all.filter((r) => r.written).length).toBe(want.size);
    const human = (await cli(['devices', '--all'])).stdout;
    expect(human).toMatch(/Known in Entra ID, not written: \d+ \(\d+ out of scope/);
    expect(human).toContain('out of scope: not in any scope group');
  });

  it('follows membership changes, direct and nested, in one delta pass', async () => {
    const before = await inAd();
    const notIn = (d: EmulatedDevice) => !before.has(d.deviceId.toLowerCase()) && d.trustType !== null;
    const direct = pick(notIn);
    const nestedIn = pick(notIn, [direct]);
    const pilotMember = env.emulator.store
      .members(pilotGroup)
      .flatMap((m) => (m.kind === 'device' ? [m.record.device] : []))
      .find(
        (d) =>
          before.has(d.deviceId.toLowerCase()) &&
          !env.emulator.store.members(scopeGroup).some((m) => m.id === d.id),
      )!;
    env.emulator.store.addMember(scopeGroup, direct.id);
    env.emulator.store.addMember(pilotGroup, nestedIn.id);
    env.emulator.store.removeMember(pilotGroup, pilotMember.id);
    const delta = await syncJson();
    expect(delta).toMatchObject({ mode: 'delta', created: 2, deleted: 1, updated: 0 });
    const after = await inAd();
    expect(after.has(direct.deviceId.toLowerCase())).toBe(true);
    expect(after.has(nestedIn.deviceId.toLowerCase())).toBe(true);
    expect(after.has(pilotMember.deviceId.toLowerCase())).toBe(false);
    expect(sorted(after)).toEqual(sorted(await expected({ groups: [scopeGroup] })));

    // The nested group leaves the scope group: its devices (not also direct members) leave AD.
    env.emulator.store.removeMember(scopeGroup, pilotGroup);
    const nestedOut = await syncJson();
    expect(nestedOut).toMatchObject({ mode: 'delta', created: 0 });
    expect(nestedOut.deleted).toBeGreaterThan(0);
    expect(sorted(await inAd())).toEqual(sorted(await expected({ groups: [scopeGroup] })));
    expect((await cli(['claims', '--device', nestedIn.deviceId])).stdout).toContain(
      'Entra ID: known, not written — out of scope: not in any scope group (rule groups).',
    );
    // Nothing more to do.
    expect(await syncJson()).toMatchObject({ mode: 'delta', created: 0, deleted: 0, updated: 0 });
  });

  it('lets a device in and out by each rule: compliance, management, operating system, on-premises owner', async () => {
    const rules: Rules = { os: ['Windows', 'iOS'], managed: true, compliant: true, owner: true };
    setWriteback(
      '  intervalSeconds: 1\n  scope:\n    operatingSystems: [windows, IOS]\n    managedOnly: true\n    compliantOnly: true\n    requireOnPremisesOwner: true',
    );
    const full = await syncJson();
    expect(full).toMatchObject({ mode: 'full' });
    expect(String(full.reason)).toMatch(/scope configuration .* changed/);
    expect(sorted(await inAd())).toEqual(sorted(await expected(rules)));
    const written = await inAd();
    const isIn = (d: EmulatedDevice) => written.has(d.deviceId.toLowerCase());
    const store = env.emulator.store;
    const owned = (d: EmulatedDevice) => store.relation(d.id, 'registeredOwners').length > 0;

    // Leaving, one device per rule.
    const loseCompliance = pick(isIn);
    const loseManaged = pick(isIn, [loseCompliance]);
    const toAndroid = pick(isIn, [loseCompliance, loseManaged]);
    const loseOwner = pick((d) => isIn(d) && owned(d), [loseCompliance, loseManaged, toAndroid]);
    store.updateDevice(loseCompliance.id, { isCompliant: false });
    store.updateDevice(loseManaged.id, { isManaged: false });
    store.updateDevice(toAndroid.id, { operatingSystem: 'Android' });
    const cloudUser = store.createUser({ userPrincipalName: 'megan@contoso.onmicrosoft.com' });
    for (const u of store.relation(loseOwner.id, 'registeredOwners'))
      store.removeRelation(loseOwner.id, 'registeredOwners', u.id);
    store.addRelation(loseOwner.id, 'registeredOwners', cloudUser.id);
    const leaving = await syncJson();
    expect(leaving).toMatchObject({ mode: 'delta', deleted: 4, created: 0 });
    for (const d of [loseCompliance, loseManaged, toAndroid, loseOwner])
      expect((await inAd()).has(d.deviceId.toLowerCase())).toBe(false);

    const reasons = JSON.parse((await cli(['devices', '--all', '--json'])).stdout) as {
      deviceId: string;
      notWritten?: string;
    }[];
    const reasonOf = (d: EmulatedDevice) =>
      reasons.find((r) => r.deviceId?.toLowerCase() === d.deviceId.toLowerCase())?.notWritten;
    expect(reasonOf(loseCompliance)).toBe('out of scope: not compliant');
    expect(reasonOf(loseManaged)).toBe('out of scope: not managed');
    expect(reasonOf(toAndroid)).toBe(
      'out of scope: operating system Android is not in writeback.scope.operatingSystems',
    );
    expect(reasonOf(loseOwner)).toBe('out of scope: the registered owner has no on-premises account');

    // Entering: the same devices fixed, and a device with no owner given one with an AD account.
    store.updateDevice(loseCompliance.id, { isCompliant: true });
    store.updateDevice(loseManaged.id, { isManaged: true });
    store.updateDevice(toAndroid.id, { operatingSystem: 'iOS' });
    store.removeRelation(loseOwner.id, 'registeredOwners', cloudUser.id);
    const alice = store.listUsers().find((u) => u.onPremisesSecurityIdentifier === users[0]!.sid)!;
    store.addRelation(loseOwner.id, 'registeredOwners', alice.id);
    const ownerless = pick((d) => !isIn(d) && !owned(d) && passes(d, { ...rules, owner: false }));
    expect(reasonOf(ownerless)).toBe('out of scope: the device has no registered owner');
    store.addRelation(ownerless.id, 'registeredOwners', alice.id);
    const entering = await syncJson();
    expect(entering).toMatchObject({ mode: 'delta', created: 5, deleted: 0 });
    expect(sorted(await inAd())).toEqual(sorted(await expected(rules)));

    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      notWritten: { outOfScope: number; byReason: { rule: string; reason: string; count: number }[] };
      scope: string[];
    };
    expect(status.scope).toContain('compliant (isCompliant)');
    expect(status.notWritten.outOfScope).toBe(status.notWritten.byReason.reduce((n, r) => n + r.count, 0));
    expect(status.notWritten.byReason.map((r) => r.rule)).toEqual(
      expect.arrayContaining(['requireOnPremisesOwner']),
    );
    expect(status.notWritten.byReason.find((r) => r.rule === 'requireOnPremisesOwner')?.reason).toBe(
      'out of scope: the device has no registered owner',
    );
    const human = (await cli(['status'])).stdout;
    expect(human).toMatch(/Not written: \d+ out of scope, \d+ quarantined/);
  });

  it('shows a scope change bigger than the deletion threshold with a dry run, holds it, and applies it once approved', async () => {
    const rules: Rules = { os: ['MacOS'] };
    setWriteback('  intervalSeconds: 1\n  deleteThreshold: 3\n  scope:\n    operatingSystems: [MacOS]');
    const before = await inAd();
    const want = await expected(rules);
    const leaving = [...before].filter((id) => !want.has(id));
    expect(leaving.length).toBeGreaterThan(3);

    const dry = await cli(['sync', '--dry-run']);
    expect(dry.code).toBe(4);
    expect(dry.stdout).toMatch(
      /# HELD by writeback.deleteThreshold \(not made without approve-deletes\): out of scope: operating system (Windows|iOS) is not in writeback.scope.operatingSystems\ndn: CN=/,
    );
    expect(dry.stdout).toMatch(/changetype: delete/);
    expect(sorted(await inAd())).toEqual(sorted(before));

    const held = await syncJson();
    expect(held).toMatchObject({ code: 4, mode: 'full', thresholdStopped: true, deleted: 0 });
    expect(held.heldDeletes).toBe(leaving.length);
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      heldDeletions: { deviceId: string; reason: string }[];
    };
    expect(sorted(new Set(status.heldDeletions.map((h) => h.deviceId)))).toEqual(leaving.sort());
    expect(status.heldDeletions[0]!.reason).toMatch(/^out of scope: operating system /);
    // Still held on the next pass: the configuration is not applied until the deletions are approved.
    expect(await syncJson()).toMatchObject({ code: 4, mode: 'full', thresholdStopped: true });

    expect((await cli(['approve-deletes'])).code).toBe(0);
    const applied = await syncJson();
    expect(applied).toMatchObject({
      code: 0,
      mode: 'full',
      deleted: leaving.length,
      watermarkCommitted: true,
    });
    expect(sorted(await inAd())).toEqual(sorted(want));
    expect(await syncJson()).toMatchObject({ code: 0, mode: 'delta', deleted: 0, created: 0 });
  });

  it('run: a device that leaves the scope group leaves AD within a cycle, and the console says why', async () => {
    setWriteback(`  intervalSeconds: 1\n  scope:\n    groups: [${scopeGroup}]`);
    const run = startCli(['run', '--config', env.configFile, '--listen', '127.0.0.1:0'], { env: env.env });
    const waitFor = async <T>(
      probe: () => Promise<T | undefined> | T | undefined,
      what: string,
    ): Promise<T> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what}: ${run.output().stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    try {
      const url = await waitFor(
        () => /web console at (http:\/\/127\.0\.0\.1:\d+)/.exec(run.output().stderr)?.[1],
        'the console URL',
      );
      await waitFor(
        () => (run.output().stderr.includes('"msg":"cycle full') ? true : undefined),
        'the full cycle',
      );
      const written = await inAd();
      expect(sorted(written)).toEqual(sorted(await expected({ groups: [scopeGroup] })));
      const leaver = env.emulator.store
        .members(scopeGroup)
        .flatMap((m) => (m.kind === 'device' ? [m.record.device] : []))
        .find((d) => written.has(d.deviceId.toLowerCase()))!;
      env.emulator.store.removeMember(scopeGroup, leaver.id);
      await waitFor(async () => ((await inAd()).has(leaver.deviceId.toLowerCase()) ? undefined : true), 'AD');

      const list = await waitFor(async () => {
        const r = await request(`${url}/devices?rule=groups&q=${leaver.deviceId}`);
        return r.body.includes('out of scope: not in any scope group') ? r : undefined;
      }, 'the Devices list to show the reason');
      expect(list.body).toMatch(/1 device; showing 1–1/);
      expect(list.body).toContain('id="f-rule"');
      const device = await request(`${url}/devices/${leaver.id}`);
      expect(device.status).toBe(200);
      expect(device.body).toMatch(
        /Why not written<\/dt>\s*<dd id="why-not-written">out of scope: not in any scope group<\/dd>/,
      );
    } finally {
      run.child.kill('SIGTERM');
      expect((await run.done).code).toBe(0);
    }
  });
});
