// The engine with several forests, without Samba, as a suite that runs against every state store
// (SQLite in engine-forests.test.ts, PostgreSQL in engine-forests-postgres.int.test.ts; the
// engine-forests.int.test.ts does it against two real Samba forests): routing by the registered owner's domain, unrouted devices with their
// reason, moves (created in the new forest before deleted from the old), a forest that is down
// (the others go on, its changes wait in the store and arrive when it is back), per-forest
// deletion thresholds.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { DeviceRelations } from '../../src/entra/types.js';
import { setLogLevel } from '../../src/log.js';
import type { StateStore } from '../../src/state/store.js';
import { SyncEngine } from '../../src/sync/engine.js';
import type { SyncSummary } from '../../src/sync/pass.js';
import type { ForestLink } from '../../src/sync/pass.js';
import { FakeForestLink } from '../support/fake-directory.js';
import { FakeSource, sampleDevice } from '../support/fake-source.js';
import { until } from '../support/wait.js';
import type { EngineStoreFactory } from './engine-suite.js';

const CORP = 'CN=RegisteredDevices,DC=corp,DC=test';
const FAB = 'CN=RegisteredDevices,DC=fabrikam,DC=test';
const CORP_SID = 'S-1-5-21-1-2-3';
const FAB_SID = 'S-1-5-21-4-5-6';
const owner = (sid: string | null, rid = 1104): DeviceRelations => ({
  registeredOwners: [
    {
      id: `u-${sid}-${rid}`,
      userPrincipalName: `user${rid}@x.test`,
      onPremisesSecurityIdentifier: sid ? `${sid}-${rid}` : null,
    },
  ],
  registeredUsers: [],
});
const dnIn = (container: string, n: number) => `CN=${sampleDevice(n).deviceId},${container}`;

export function describeEngineForests(name: string, factory: EngineStoreFactory): void {
  let store: StateStore;
  let source: FakeSource;
  let corp: FakeForestLink;
  let fabrikam: FakeForestLink;
  let engine: SyncEngine;
  let wrap: (inner: ForestLink) => ForestLink;
  let cleanup: () => Promise<void>;

  function build(yaml = ''): void {
    const config = parseConfig(
      `forests:\n  - { name: corp, ad: { url: ldaps://c, bindDn: x, password: { env: X } } }\n  - { name: fabrikam, ad: { url: ldaps://f, bindDn: x, password: { env: X } } }\nwriteback:\n  intervalSeconds: 5\n${yaml}`,
      '/tmp/device-writeback.yaml',
    );
    engine = new SyncEngine({
      writeback: config.writeback,
      store,
      source,
      forests: [wrap(corp), wrap(fabrikam)],
      severalForests: true,
    });
  }

  beforeEach(async () => {
    setLogLevel('silent');
    const opened = await factory.open();
    store = opened.store;
    wrap = opened.forest ?? ((inner) => inner);
    cleanup = opened.cleanup;
    source = new FakeSource();
    corp = new FakeForestLink('corp', CORP, [
      { sid: CORP_SID, dnsName: 'corp.test', netbiosName: 'CORP', dn: 'DC=corp,DC=test' },
    ]);
    fabrikam = new FakeForestLink('fabrikam', FAB, [
      { sid: FAB_SID, dnsName: 'fabrikam.test', netbiosName: 'FABRIKAM', dn: 'DC=fabrikam,DC=test' },
    ]);
    build();
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  /** Devices 1-3 owned in corp, 4-5 in fabrikam, 6 by a cloud-only user. */
  function seed(): void {
    for (const n of [1, 2, 3]) source.put(sampleDevice(n), owner(CORP_SID, 1100 + n));
    for (const n of [4, 5]) source.put(sampleDevice(n), owner(FAB_SID, 2100 + n));
    source.put(sampleDevice(6), owner(null));
  }

  describe(`the engine with several forests (no Samba), ${name} state`, () => {
    it("writes each device to its owner's forest; a cloud-only owner's device is unrouted, with the reason", async () => {
      seed();
      const first = await engine.sync();
      expect(first).toMatchObject({ mode: 'full', created: 5, unrouted: 1, watermarkCommitted: true });
      expect(first.forests.corp).toMatchObject({ created: 3 });
      expect(first.forests.fabrikam).toMatchObject({ created: 2 });
      expect(
        corp.directory
          .all()
          .map((o) => o.dn)
          .sort(),
      ).toEqual([1, 2, 3].map((n) => dnIn(CORP, n)).sort());
      expect(
        fabrikam.directory
          .all()
          .map((o) => o.dn)
          .sort(),
      ).toEqual([4, 5].map((n) => dnIn(FAB, n)).sort());
      const notWritten = await store.notWrittenDevices();
      expect(notWritten.map((d) => [d.graphId, d.reason])).toEqual([
        [
          sampleDevice(6).id,
          'unrouted: its registered owner user1104@x.test has no on-premises account (a cloud-only user)',
        ],
      ]);
      expect((await store.counts()).forests).toMatchObject({
        corp: { managedObjects: 3 },
        fabrikam: { managedObjects: 2 },
      });
      expect(await engine.sync()).toMatchObject({ mode: 'delta', created: 0, deleted: 0 });
    });

    it('writeback.defaultForest takes the devices no forest holds', async () => {
      build('  defaultForest: fabrikam');
      seed();
      expect(await engine.sync()).toMatchObject({ created: 6, unrouted: 0 });
      expect(fabrikam.directory.get(dnIn(FAB, 6))).toBeDefined();
    });

    it('a device whose owner moves to the other forest is created there first, then deleted from the old one', async () => {
      seed();
      await engine.sync();
      source.relations.set(sampleDevice(2).id, owner(FAB_SID, 2200));
      source.patch(sampleDevice(2).id, { displayName: 'MOVED-2' });
      const before = { corp: corp.directory.writes.length, fabrikam: fabrikam.directory.writes.length };
      const moved = await engine.sync();
      expect(moved.forests.fabrikam).toMatchObject({ created: 1 });
      expect(moved.forests.corp).toMatchObject({ deleted: 1 });
      expect(fabrikam.directory.writes.slice(before.fabrikam)).toEqual([`add ${dnIn(FAB, 2)}`]);
      expect(corp.directory.writes.slice(before.corp)).toEqual([`delete ${dnIn(CORP, 2)}`]);
      expect((await store.objectsOfDevices([sampleDevice(2).id])).map((o) => o.forest)).toEqual(['fabrikam']);
    });

    it('a move whose new forest refuses the device keeps the old copy until the new one exists', async () => {
      seed();
      await engine.sync();
      source.relations.set(sampleDevice(3).id, owner(FAB_SID, 2300));
      source.patch(sampleDevice(3).id, { displayName: 'MOVED-3' });
      fabrikam.directory.failNext('add', 'refused', dnIn(FAB, 3));
      const refused = await engine.sync();
      expect(refused).toMatchObject({ quarantined: 1 });
      expect(corp.directory.get(dnIn(CORP, 3))).toBeDefined(); // still in its old forest
      // the next pass retries the quarantined device, and only then is the old copy removed
      const retried = await engine.sync();
      expect(retried.forests.fabrikam).toMatchObject({ created: 1 });
      expect(corp.directory.get(dnIn(CORP, 3))).toBeUndefined();
    });

    it('a full dry run lists a move as a create in the new forest and a delete in the old, and changes nothing', async () => {
      seed();
      await engine.sync();
      // the user migrated: the same cloud account, now with a fabrikam SID
      source.relations.set(sampleDevice(2).id, owner(FAB_SID, 2102));
      const plan = await engine.sync({ full: true, dryRun: true });
      const ops = (plan.operations ?? []).filter((o) => o.deviceId === sampleDevice(2).deviceId);
      expect(ops.map((o) => [o.action, o.forest, o.dn])).toEqual(
        expect.arrayContaining([
          ['add', 'fabrikam', dnIn(FAB, 2)],
          ['delete', 'corp', dnIn(CORP, 2)],
        ]),
      );
      expect(fabrikam.directory.get(dnIn(FAB, 2))).toBeUndefined();
      expect(corp.directory.get(dnIn(CORP, 2))).toBeDefined();
      const done = await engine.sync({ full: true });
      expect(done.forests.fabrikam).toMatchObject({ created: 1 });
      expect(done.forests.corp).toMatchObject({ deleted: 1 });
    });

    it('a move interrupted between the create and the delete converges on the next pass', async () => {
      seed();
      await engine.sync();
      source.relations.set(sampleDevice(1).id, owner(FAB_SID, 2101));
      source.patch(sampleDevice(1).id, { displayName: 'MOVED-1' });
      corp.directory.failNext('delete', 'transient'); // the old forest stops answering right after the create
      const interrupted = await engine.sync();
      expect(interrupted.forests.fabrikam).toMatchObject({ created: 1 });
      expect(interrupted.forests.corp?.error?.code).toBe('DWB_AD_UNREACHABLE');
      expect(corp.directory.get(dnIn(CORP, 1))).toBeDefined();
      // corp answers again: reconciled from the store, its stale copy of the moved device goes
      const next = await engine.sync();
      expect(next.forests.corp).toMatchObject({ deleted: 1 });
      expect(corp.directory.get(dnIn(CORP, 1))).toBeUndefined();
      expect(fabrikam.directory.get(dnIn(FAB, 1))).toBeDefined();
    });

    it('a forest taken out of the configuration is forgotten by the state store at the next pass', async () => {
      seed();
      await engine.sync();
      expect((await store.forestStates()).has('fabrikam')).toBe(true);
      const config = parseConfig(
        `forests:\n  - { name: corp, ad: { url: ldaps://c, bindDn: x, password: { env: X } } }\n  - { name: other, ad: { url: ldaps://o, bindDn: x, password: { env: X } } }\n`,
        '/tmp/device-writeback.yaml',
      );
      const other = new FakeForestLink('other', 'CN=RegisteredDevices,DC=other,DC=test', [
        { sid: 'S-1-5-21-7-8-9', dnsName: 'other.test', netbiosName: 'OTHER', dn: 'DC=other,DC=test' },
      ]);
      engine = new SyncEngine({
        writeback: config.writeback,
        store,
        source,
        forests: [wrap(corp), wrap(other)],
        severalForests: true,
      });
      await engine.sync();
      const states = await store.forestStates();
      expect([...states.keys()].sort()).toEqual(['corp', 'other']);
      expect(Object.keys((await store.counts()).forests).sort()).not.toContain('fabrikam');
      expect((await store.getObjects('fabrikam', [sampleDevice(4).deviceId])).size).toBe(0);
    });

    it('a forest that was down at the last pass gets one attempt, not the retry budget, until it answers', async () => {
      seed();
      await engine.sync();
      fabrikam.directory.down = true;
      await engine.sync(); // the pass that finds it down retries as usual
      expect(fabrikam.connectOptions.at(-1)).toEqual({ once: false });
      expect(corp.connectOptions.at(-1)).toEqual({ once: false });
      await engine.sync(); // known down: one attempt
      expect(fabrikam.connectOptions.at(-1)).toEqual({ once: true });
      expect(corp.connectOptions.at(-1)).toEqual({ once: false });
      fabrikam.directory.down = false;
      const back = await engine.sync(); // one attempt, and it answers
      expect(fabrikam.connectOptions.at(-1)).toEqual({ once: true });
      expect(back.forests.fabrikam?.error).toBeUndefined();
      await engine.sync();
      expect(fabrikam.connectOptions.at(-1)).toEqual({ once: false });
    });

    it('a forest that is down does not stop the others; its changes wait in the store and arrive when it is back', async () => {
      seed();
      await engine.sync();
      fabrikam.directory.down = true;
      source.patch(sampleDevice(1).id, { displayName: 'CORP-RENAMED' });
      source.patch(sampleDevice(4).id, { displayName: 'FAB-RENAMED' });
      source.remove(sampleDevice(5).id, 'deleted');
      source.put(sampleDevice(7), owner(FAB_SID, 2107));
      const outage = await engine.sync();
      expect(outage.forests.corp).toMatchObject({ updated: 1 });
      expect(outage.forests.fabrikam?.error?.code).toBe('DWB_AD_UNREACHABLE');
      expect(outage.watermarkCommitted).toBe(true); // the Graph watermark moves on
      expect(corp.directory.get(dnIn(CORP, 1))!.values.get('displayName')![0]!.toString()).toBe(
        'CORP-RENAMED',
      );
      expect((await store.forestStates()).get('fabrikam')).toMatchObject({ needsFull: true });
      // still down: nothing is lost, it keeps waiting
      expect((await engine.sync()).forests.fabrikam?.error).toBeDefined();
      fabrikam.directory.down = false;
      const back = await engine.sync();
      expect(back.forests.fabrikam).toMatchObject({ created: 1, updated: 1, deleted: 1 });
      expect(fabrikam.directory.get(dnIn(FAB, 4))!.values.get('displayName')![0]!.toString()).toBe(
        'FAB-RENAMED',
      );
      expect(fabrikam.directory.get(dnIn(FAB, 5))).toBeUndefined();
      expect(fabrikam.directory.get(dnIn(FAB, 7))).toBeDefined();
      expect((await store.forestStates()).get('fabrikam')).toMatchObject({ needsFull: false });
      expect(await engine.sync()).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    });

    it('a slow forest does not hold back the others: each writes its batches at its own pace', async () => {
      const put = (from: number, to: number) => {
        for (let n = from; n <= to; n++)
          source.put(sampleDevice(n), owner(n % 2 ? CORP_SID : FAB_SID, 1000 + n));
      };
      const slowly = async (pass: () => Promise<SyncSummary>, corpAhead: number) => {
        let release!: () => void;
        fabrikam.directory.hold = new Promise<void>((r) => (release = r));
        const before = { corp: corp.directory.writes.length, fabrikam: fabrikam.directory.writes.length };
        const running = pass();
        try {
          // corp goes past its part of the first batch while fabrikam has written nothing of it
          await until(
            () => corp.directory.writes.length - before.corp >= corpAhead,
            'corp ahead of fabrikam',
            10_000,
          );
          expect(fabrikam.directory.writes.length).toBe(before.fabrikam);
        } finally {
          fabrikam.directory.hold = undefined;
          release();
        }
        return running;
      };
      // A full pass: pages of 50 devices (25 per forest) are its batches.
      put(1, 200);
      const full = await slowly(() => engine.sync(), 50);
      expect(full.forests).toMatchObject({ corp: { created: 100 }, fabrikam: { created: 100 } });
      // A delta pass: batches of 50, then 200 (25 and 100 per forest).
      put(201, 600);
      const delta = await slowly(() => engine.sync(), 125);
      expect(delta.forests).toMatchObject({ corp: { created: 200 }, fabrikam: { created: 200 } });
      expect(await engine.sync()).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    });

    it('every forest down: the pass fails as with one forest, and the watermark waits', async () => {
      seed();
      await engine.sync();
      corp.directory.down = true;
      fabrikam.directory.down = true;
      const link = (await store.watermark()).deltaLink;
      await expect(engine.sync()).rejects.toMatchObject({ code: 'DWB_AD_UNREACHABLE' });
      expect((await store.watermark()).deltaLink).toBe(link);
    });

    it('each forest has its own deletion threshold', async () => {
      build('  deleteThreshold: 1');
      seed();
      await engine.sync();
      source.remove(sampleDevice(1).id, 'deleted');
      source.remove(sampleDevice(2).id, 'deleted');
      source.remove(sampleDevice(4).id, 'deleted');
      const held = await engine.sync();
      expect(held.forests.corp).toMatchObject({ deletionsHeld: 2, deleted: 0 });
      expect(held.forests.fabrikam).toMatchObject({ deletionsHeld: 0, deleted: 1 });
      expect(held).toMatchObject({ thresholdStopped: true, watermarkCommitted: false });
      expect((await store.heldDeletions()).map((h) => h.forest)).toEqual(['corp', 'corp']);
      await store.approveDeletions();
      expect(await engine.sync()).toMatchObject({
        deleted: 2,
        thresholdStopped: false,
        watermarkCommitted: true,
      });
    });

    it('a device whose owner becomes cloud-only leaves its forest (unrouted)', async () => {
      seed();
      await engine.sync();
      source.relations.set(sampleDevice(5).id, owner(null, 9));
      source.patch(sampleDevice(5).id, { displayName: 'NOW-CLOUD-ONLY' });
      const pass = await engine.sync();
      expect(pass.forests.fabrikam).toMatchObject({ deleted: 1 });
      expect(fabrikam.directory.get(dnIn(FAB, 5))).toBeUndefined();
      expect((await store.notWrittenDevices()).map((d) => d.graphId)).toContain(sampleDevice(5).id);
    });

    it('a full pass sweeps a device from the forest it no longer belongs to', async () => {
      seed();
      await engine.sync();
      // the owner changed and no delta said so (Graph's device delta does not carry owners)
      source.relations.set(sampleDevice(3).id, owner(FAB_SID, 2300));
      const full = await engine.sync({ full: true });
      expect(full.forests.fabrikam).toMatchObject({ created: 1 });
      expect(full.forests.corp).toMatchObject({ deleted: 1 });
      expect(corp.directory.get(dnIn(CORP, 3))).toBeUndefined();
    });
  });

  describe(`scope rules with several forests (no Samba), ${name} state`, () => {
    it('apply to every forest: a device out of scope is written to none, whatever forest its owner is in', async () => {
      build('  scope:\n    compliantOnly: true');
      seed();
      source.patch(sampleDevice(2).id, { isCompliant: false }); // owned in corp
      source.patch(sampleDevice(5).id, { isCompliant: false }); // owned in fabrikam
      const first = await engine.sync();
      expect(first).toMatchObject({ created: 3, unrouted: 1, outOfScope: { compliantOnly: 2 } });
      expect(corp.directory.get(dnIn(CORP, 2))).toBeUndefined();
      expect(fabrikam.directory.get(dnIn(FAB, 5))).toBeUndefined();
      // One column, one vocabulary: out of scope and unrouted side by side, each with its rule.
      const stored = await store.getDevices([2, 5, 6].map((n) => sampleDevice(n).id));
      expect([2, 5, 6].map((n) => stored.get(sampleDevice(n).id))).toMatchObject([
        { forest: null, rule: 'compliantOnly', reason: 'out of scope: not compliant' },
        { forest: null, rule: 'compliantOnly', reason: 'out of scope: not compliant' },
        { forest: null, rule: 'unrouted', reason: expect.stringMatching(/^unrouted: /) },
      ]);
      expect((await store.notWrittenCounts()).map((c) => [c.rule, c.count])).toEqual([
        ['compliantOnly', 2],
        ['unrouted', 1],
      ]);

      // A device of each forest leaves the scope: each forest deletes its own, with the rule as reason.
      source.patch(sampleDevice(1).id, { isCompliant: false });
      source.patch(sampleDevice(4).id, { isCompliant: false });
      source.patch(sampleDevice(5).id, { isCompliant: true });
      const delta = await engine.sync();
      expect(delta.forests.corp).toMatchObject({ deleted: 1, created: 0 });
      expect(delta.forests.fabrikam).toMatchObject({ deleted: 1, created: 1 });
      expect(corp.directory.get(dnIn(CORP, 1))).toBeUndefined();
      expect(fabrikam.directory.get(dnIn(FAB, 4))).toBeUndefined();
      expect(fabrikam.directory.get(dnIn(FAB, 5))).toBeDefined();
    });

    it('a scope change is held per forest, and its dry run names the forest and the reason of each deletion', async () => {
      seed();
      await engine.sync();
      build('  deleteThreshold: 1\n  scope:\n    compliantOnly: true');
      for (const n of [1, 2, 4]) source.patch(sampleDevice(n).id, { isCompliant: false });
      const dry = await engine.sync({ dryRun: true });
      expect(dry).toMatchObject({ mode: 'full', dryRun: true });
      expect(dry.reason).toMatch(/scope configuration .* changed/);
      expect(
        dry.operations
          ?.filter((o) => o.action === 'delete')
          .map((o) => [o.forest, o.dn, o.reason, o.held ?? false])
          .sort(),
      ).toEqual(
        [
          ['corp', dnIn(CORP, 1), 'out of scope: not compliant', true],
          ['corp', dnIn(CORP, 2), 'out of scope: not compliant', true],
          ['fabrikam', dnIn(FAB, 4), 'out of scope: not compliant', false],
        ].sort(),
      );
      const held = await engine.sync();
      expect(held.forests.corp).toMatchObject({ deletionsHeld: 2, deleted: 0 });
      expect(held.forests.fabrikam).toMatchObject({ deleted: 1 });
      expect((await store.heldDeletions()).map((h) => [h.forest, h.reason])).toEqual([
        ['corp', 'out of scope: not compliant'],
        ['corp', 'out of scope: not compliant'],
      ]);
      // Not applied until the held deletions are made: the next pass is full again.
      expect(await engine.sync()).toMatchObject({ mode: 'full', thresholdStopped: true });
      await store.approveDeletions();
      expect(await engine.sync()).toMatchObject({ mode: 'full', deleted: 2, watermarkCommitted: true });
      expect(await engine.sync()).toMatchObject({ mode: 'delta', deleted: 0 });
    });

    it("a full pass's sweep says why: moved to another forest, or out of scope", async () => {
      seed();
      await engine.sync();
      source.relations.set(sampleDevice(3).id, owner(FAB_SID, 2300)); // no delta says so
      source.patch(sampleDevice(1).id, { isCompliant: false });
      build('  scope:\n    compliantOnly: true');
      const dry = await engine.sync({ dryRun: true });
      expect(
        dry.operations
          ?.filter((o) => o.action === 'delete')
          .map((o) => [o.dn, o.reason])
          .sort(),
      ).toEqual(
        [
          [dnIn(CORP, 1), 'out of scope: not compliant'],
          [dnIn(CORP, 3), "the device moved to forest fabrikam (its registered owner's forest)"],
        ].sort(),
      );
    });
  });
}
