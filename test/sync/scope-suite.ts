// Scope rules without Samba: the rule itself (each key, its reason, the fingerprint of the
// configuration), and the engine against the in-memory directory: each rule entering and leaving
// scope within one cycle, group membership changes (direct and nested) re-evaluated without a
// device change, a scope change applied by a full pass (shown first by a dry run, held by the
// deletion threshold when it is large), and the reasons recorded in the state store.
// scope.int.test.ts runs the same against the real Samba DC and the Graph emulator. The engine's part
// is a suite that runs against every state store (SQLite in scope.test.ts, PostgreSQL in
// engine-postgres.int.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { setLogLevel } from '../../src/log.js';
import type { StateStore } from '../../src/state/store.js';
import { SyncEngine } from '../../src/sync/engine.js';
import type { ForestLink } from '../../src/sync/pass.js';
import { FakeForestLink, type FakeDirectory } from '../support/fake-directory.js';
import { recordedReason } from '../../src/sync/not-written.js';
import { FakeGroups } from '../support/fake-groups.js';
import { FakeSource, sampleDevice } from '../support/fake-source.js';
import type { EngineStoreFactory } from './engine-suite.js';

const CONTAINER = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';
const dnOf = (n: number) => `CN=${sampleDevice(n).deviceId},${CONTAINER}`;
export const idOf = (n: number) => sampleDevice(n).id;

export function writeback(yaml = '') {
  return parseConfig(
    `ad: { url: ldaps://dc.test, bindDn: CN=x, password: { env: X } }\nwriteback:\n  intervalSeconds: 5\n${yaml}`,
    '/tmp/device-writeback.yaml',
  ).writeback;
}

export const onPrem = {
  id: 'u1',
  userPrincipalName: 'ann@corp.test',
  onPremisesSecurityIdentifier: 'S-1-5-21-1-2-3-1104',
};
export const cloudOnly = {
  id: 'u2',
  userPrincipalName: 'bob@corp.onmicrosoft.com',
  onPremisesSecurityIdentifier: null,
};

const PILOT = 'a1a1a1a1-0000-4000-8000-000000000001';
const NESTED = 'b2b2b2b2-0000-4000-8000-000000000002';

export function describeEngineScope(name: string, factory: EngineStoreFactory): void {
  describe(`the engine with scope rules (no Samba), ${name} state`, () => {
    let store: StateStore;
    let wrap: (inner: ForestLink) => ForestLink;
    let cleanup: () => Promise<void>;
    let source: FakeSource;
    let groups: FakeGroups;
    let forest: FakeForestLink;
    let directory: FakeDirectory;
    let engine: SyncEngine;

    function build(yaml = ''): void {
      engine = new SyncEngine({
        writeback: writeback(yaml),
        store,
        source,
        forests: [wrap(forest)],
        severalForests: false,
        groups,
      });
    }

    beforeEach(async () => {
      setLogLevel('silent');
      const opened = await factory.open();
      store = opened.store;
      wrap = opened.forest ?? ((inner) => inner);
      cleanup = opened.cleanup;
      source = new FakeSource();
      groups = new FakeGroups();
      forest = new FakeForestLink('default', CONTAINER);
      directory = forest.directory;
      build();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    const notWritten = async (n: number) =>
      recordedReason((await store.getDevices([idOf(n)])).get(idOf(n)) ?? {});

    it('writes only compliant devices; one that loses compliance leaves AD, one that gains it is written, each within one cycle', async () => {
      source.put(sampleDevice(1));
      source.put(sampleDevice(2, { isCompliant: false }));
      build('  scope:\n    compliantOnly: true\n');
      const first = await engine.sync();
      expect(first).toMatchObject({ mode: 'full', created: 1, outOfScope: { compliantOnly: 1 } });
      expect(directory.get(dnOf(2))).toBeUndefined();
      expect(await notWritten(2)).toEqual({ rule: 'compliantOnly', reason: 'out of scope: not compliant' });
      expect(await notWritten(1)).toBeNull();
      expect(await store.notWrittenCounts()).toEqual([
        { rule: 'compliantOnly', reason: 'out of scope: not compliant', count: 1 },
      ]);

      source.patch(idOf(1), { isCompliant: false });
      source.patch(idOf(2), { isCompliant: true });
      const delta = await engine.sync();
      expect(delta).toMatchObject({ mode: 'delta', created: 1, deleted: 1 });
      expect(directory.get(dnOf(1))).toBeUndefined();
      expect(directory.get(dnOf(2))).toBeDefined();
      expect(await notWritten(1)).toEqual({ rule: 'compliantOnly', reason: 'out of scope: not compliant' });
      expect(await notWritten(2)).toBeNull();
      // The object map follows: the device that left is no longer managed.
      expect((await store.getObjects('default', [sampleDevice(1).deviceId])).size).toBe(0);
    });

    it('applies operatingSystems, managedOnly and requireOnPremisesOwner the same way', async () => {
      source.put(sampleDevice(2), { registeredOwners: [onPrem], registeredUsers: [] });
      source.put(sampleDevice(4, { operatingSystem: 'iOS' }), {
        registeredOwners: [onPrem],
        registeredUsers: [],
      });
      source.put(sampleDevice(5), { registeredOwners: [onPrem], registeredUsers: [] }); // not managed (odd)
      source.put(sampleDevice(6), { registeredOwners: [cloudOnly], registeredUsers: [] });
      build(
        '  scope:\n    operatingSystems: [Windows]\n    managedOnly: true\n    requireOnPremisesOwner: true\n',
      );
      expect(await engine.sync()).toMatchObject({
        created: 1,
        outOfScope: { operatingSystems: 1, managedOnly: 1, requireOnPremisesOwner: 1 },
      });
      expect((await notWritten(4))?.reason).toBe(
        'out of scope: operating system iOS is not in writeback.scope.operatingSystems',
      );
      expect((await notWritten(6))?.reason).toBe(
        'out of scope: the registered owner has no on-premises account',
      );
      // The owners of a device kept out by the owner rule are kept, to show whose they are.
      expect((await store.getDevices([idOf(6)])).get(idOf(6))?.relations?.registeredOwners[0]?.id).toBe('u2');

      // Enter: the iOS device becomes Windows, the owner gets an on-premises account; leave: managed no more.
      source.patch(idOf(4), { operatingSystem: 'Windows' });
      source.relations.set(idOf(6), { registeredOwners: [onPrem], registeredUsers: [] });
      source.patch(idOf(6), { displayName: 'owner synced' }); // the device delta brings it back
      source.patch(idOf(2), { isManaged: false });
      const delta = await engine.sync();
      expect(delta).toMatchObject({ mode: 'delta', created: 2, deleted: 1 });
      expect(directory.get(dnOf(2))).toBeUndefined();
      expect(directory.get(dnOf(4))).toBeDefined();
      expect(directory.get(dnOf(6))).toBeDefined();
      expect(await notWritten(2)).toEqual({ rule: 'managedOnly', reason: 'out of scope: not managed' });
    });

    it('follows group membership, direct and nested, within one cycle and without a device change', async () => {
      for (let n = 1; n <= 4; n++) source.put(sampleDevice(n));
      groups.group(PILOT, [idOf(1), `g:${NESTED}`]);
      groups.group(NESTED, [idOf(2)]);
      build(`  scope:\n    groups: [${PILOT}]\n`);
      expect(await engine.sync()).toMatchObject({ created: 2, outOfScope: { groups: 2 } });
      expect(await notWritten(3)).toEqual({ rule: 'groups', reason: 'out of scope: not in any scope group' });

      // A no-op cycle reads one groups/delta per read and touches no device.
      const asked = groups.requests.length;
      expect(await engine.sync()).toMatchObject({ mode: 'delta', created: 0, deleted: 0, unchanged: 0 });
      expect(groups.requests.slice(asked).sort()).toEqual([`delta ${PILOT}`, `delta ${NESTED}`]);

      groups.add(PILOT, idOf(3)); // direct
      groups.remove(NESTED, idOf(2)); // nested
      groups.add(NESTED, idOf(4));
      const delta = await engine.sync();
      expect(delta).toMatchObject({ mode: 'delta', created: 2, deleted: 1 });
      expect(directory.get(dnOf(2))).toBeUndefined();
      expect(directory.get(dnOf(3))).toBeDefined();
      expect(directory.get(dnOf(4))).toBeDefined();
      expect((await store.heldDeletions()).length).toBe(0);

      // The nested group leaves the pilot group: its devices leave AD.
      groups.remove(PILOT, `g:${NESTED}`);
      expect(await engine.sync()).toMatchObject({ deleted: 1 });
      expect(directory.get(dnOf(4))).toBeUndefined();
      expect(await notWritten(4)).toEqual({ rule: 'groups', reason: 'out of scope: not in any scope group' });
    });

    it('holds a membership change that deletes more than the threshold, and reads it again until approved', async () => {
      for (let n = 1; n <= 5; n++) source.put(sampleDevice(n));
      groups.group(PILOT, [1, 2, 3, 4, 5].map(idOf));
      build(`  deleteThreshold: 2\n  scope:\n    groups: [${PILOT}]\n`);
      expect(await engine.sync()).toMatchObject({ created: 5 });
      for (const n of [1, 2, 3]) groups.remove(PILOT, idOf(n));
      const held = await engine.sync();
      expect(held).toMatchObject({ thresholdStopped: true, deletionsHeld: 3, deleted: 0 });
      expect((await store.heldDeletions()).map((h) => h.reason)).toEqual(
        Array(3).fill('out of scope: not in any scope group'),
      );
      // Not committed: the next cycle sees the same membership change, and holds it again.
      expect(await engine.sync()).toMatchObject({ thresholdStopped: true, deletionsHeld: 3 });
      await store.approveDeletions();
      expect(await engine.sync()).toMatchObject({
        deleted: 3,
        thresholdStopped: false,
        watermarkCommitted: true,
      });
      expect(directory.all()).toHaveLength(2);
      expect(await engine.sync()).toMatchObject({ mode: 'delta', deleted: 0, created: 0 });
    });

    it('applies a change of the scope configuration with a full pass, shown first by a dry run', async () => {
      for (let n = 1; n <= 4; n++) source.put(sampleDevice(n, { isCompliant: n <= 2 }));
      expect(await engine.sync()).toMatchObject({ created: 4 });
      expect(await engine.sync()).toMatchObject({ mode: 'delta' }); // no scope rules: nothing to apply

      build('  scope:\n    compliantOnly: true\n');
      const dry = await engine.sync({ dryRun: true });
      expect(dry).toMatchObject({ mode: 'full', dryRun: true, deleted: 2, watermarkCommitted: false });
      expect(dry.reason).toMatch(/scope configuration .* changed since the last full pass/);
      expect(dry.operations?.map((o) => [o.action, o.dn, o.reason])).toEqual([
        ['delete', dnOf(3), 'out of scope: not compliant'],
        ['delete', dnOf(4), 'out of scope: not compliant'],
      ]);
      expect(directory.all()).toHaveLength(4);

      const applied = await engine.sync();
      expect(applied).toMatchObject({ mode: 'full', deleted: 2, watermarkCommitted: true });
      expect(applied.reason).toMatch(/compliant/);
      expect(await engine.sync()).toMatchObject({ mode: 'delta' });

      // Back to no rule: the two devices come back, by a full pass again, shown first by a dry run.
      build('');
      const widen = await engine.sync({ dryRun: true });
      expect(widen).toMatchObject({ mode: 'full', dryRun: true, created: 2, deleted: 0 });
      expect(widen.operations?.map((o) => [o.action, o.dn])).toEqual([
        ['add', dnOf(3)],
        ['add', dnOf(4)],
      ]);
      expect(directory.all()).toHaveLength(2);
      expect(await engine.sync()).toMatchObject({ mode: 'full', created: 2 });
      expect(await notWritten(3)).toBeNull();
    });

    it('holds a scope change bigger than the deletion threshold; a dry run lists the held deletions', async () => {
      for (let n = 1; n <= 6; n++)
        source.put(sampleDevice(n, { operatingSystem: n <= 2 ? 'Windows' : 'Android' }));
      await engine.sync();
      build('  deleteThreshold: 3\n  scope:\n    operatingSystems: [Windows]\n');
      const dry = await engine.sync({ dryRun: true });
      expect(dry).toMatchObject({ thresholdStopped: true, deletionsHeld: 4, deleted: 0 });
      expect(dry.operations?.filter((o) => o.held).map((o) => o.reason)).toEqual(
        Array(4).fill('out of scope: operating system Android is not in writeback.scope.operatingSystems'),
      );
      const held = await engine.sync();
      expect(held).toMatchObject({ mode: 'full', thresholdStopped: true, deletionsHeld: 4, deleted: 0 });
      expect(directory.all()).toHaveLength(6);
      // Still full (the configuration is not applied yet), still held.
      expect(await engine.sync()).toMatchObject({ mode: 'full', thresholdStopped: true });
      expect(await engine.sync({ allowDeletes: true })).toMatchObject({ mode: 'full', deleted: 4 });
      expect(await engine.sync()).toMatchObject({ mode: 'delta', deleted: 0 });
    });

    it('stops when a configured group is missing, deleting nothing', async () => {
      source.put(sampleDevice(1));
      groups.group(PILOT, [idOf(1)]);
      build(`  scope:\n    groups: [${PILOT}]\n`);
      await engine.sync();
      groups.deleteGroup(PILOT);
      await expect(engine.sync()).rejects.toMatchObject({ code: 'DWB_SCOPE_GROUP_NOT_FOUND' });
      expect(directory.all()).toHaveLength(1);
      expect((await store.recentRuns(1))[0]).toMatchObject({ outcome: 'failed' });
    });

    it('refuses scope groups with a device source that cannot read groups', () => {
      expect(
        () =>
          new SyncEngine({
            writeback: writeback(`  scope:\n    groups: [${PILOT}]\n`),
            store,
            source,
            forests: [forest],
            severalForests: false,
          }),
      ).toThrow(/cannot read group membership/);
    });
  });
}
