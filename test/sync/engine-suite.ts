// The engine's logic without Samba, as a suite that runs against every state store (SQLite in
// engine.test.ts, PostgreSQL in engine-postgres.int.test.ts): the pipeline (import -> sync rule ->
// export) against an in-memory device directory with the AD connector's outcomes, and a real
// store. engine-samba-suite.ts runs the same engine against the real Samba DC.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isManaged } from '../../src/ad/device-object.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { parseConfig } from '../../src/config/load.js';
import { setLogLevel } from '../../src/log.js';
import type { StateStore } from '../../src/state/store.js';
import { SyncEngine } from '../../src/sync/engine.js';
import type { ForestLink } from '../../src/sync/pass.js';
import { FakeForestLink, type FakeDirectory } from '../support/fake-directory.js';
import { FakeSource, sampleDevice } from '../support/fake-source.js';

const CONTAINER = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';
const dnOf = (n: number) => `CN=${sampleDevice(n).deviceId},${CONTAINER}`;

function writeback(yaml = '') {
  const config = parseConfig(
    `ad: { url: ldaps://dc.test, bindDn: CN=x, password: { env: X } }\nwriteback:\n  intervalSeconds: 5\n${yaml}`,
    '/tmp/device-writeback.yaml',
  );
  return config.writeback;
}

/** A new, empty store opened as the one writer, and what the engine writes to AD through. */
export interface EngineStoreFactory {
  open(): Promise<{
    store: StateStore;
    /** The forest as this store's writer reaches it (a group's leader: its directory fenced). */
    forest?(inner: ForestLink): ForestLink;
    cleanup(): Promise<void>;
  }>;
}

export function describeEngine(name: string, factory: EngineStoreFactory): void {
  describe(`the engine (no Samba), ${name} state`, () => {
    let store: StateStore;
    let source: FakeSource;
    let directory: FakeDirectory;
    let engine: SyncEngine;
    let forest: FakeForestLink;
    let wrap: (inner: ForestLink) => ForestLink;
    let cleanup: () => Promise<void>;

    function build(yaml = ''): void {
      engine = new SyncEngine({
        writeback: writeback(yaml),
        store,
        source,
        forests: [wrap(forest)],
        severalForests: false,
      });
    }

    beforeEach(async () => {
      setLogLevel('silent');
      const opened = await factory.open();
      store = opened.store;
      wrap = opened.forest ?? ((inner) => inner);
      cleanup = opened.cleanup;
      source = new FakeSource();
      forest = new FakeForestLink('default', CONTAINER);
      directory = forest.directory;
      build();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('a first pass is full and writes every device; the next one is a delta that changes nothing', async () => {
      for (let n = 1; n <= 7; n++) source.put(sampleDevice(n));
      const first = await engine.sync();
      expect(first).toMatchObject({
        mode: 'full',
        created: 7,
        updated: 0,
        deleted: 0,
        watermarkCommitted: true,
      });
      expect(directory.all().every(isManaged)).toBe(true);
      const second = await engine.sync();
      expect(second).toMatchObject({ mode: 'delta', created: 0, updated: 0, unchanged: 0 });
      expect((await store.counts()).managedObjects).toBe(7);
      expect((await store.recentRuns(5)).map((r) => r.outcome)).toEqual(['ok', 'ok']);
    });

    it('a delta merges partial records: only what changed is written, nothing is blanked', async () => {
      source.put(sampleDevice(1));
      await engine.sync();
      source.patch(sampleDevice(1).id, { displayName: 'RENAMED' });
      const writes = directory.writes.length;
      const delta = await engine.sync();
      expect(delta).toMatchObject({ mode: 'delta', updated: 1 });
      expect(directory.writes.slice(writes)).toEqual([`modify ${dnOf(1)}`]);
      const values = directory.get(dnOf(1))!.values;
      expect(values.get('displayName')![0]!.toString()).toBe('RENAMED');
      expect(values.get('msDS-DeviceOSType')![0]!.toString()).toBe('Windows');
    });

    it('removals leave AD, then the device is forgotten; the deletion threshold holds them back', async () => {
      for (let n = 1; n <= 4; n++) source.put(sampleDevice(n));
      await engine.sync();
      build('  deleteThreshold: 2');
      const link = (await store.watermark()).deltaLink;
      for (let n = 1; n <= 3; n++) source.remove(sampleDevice(n).id, n === 1 ? 'changed' : 'deleted');
      const held = await engine.sync();
      expect(held).toMatchObject({
        thresholdStopped: true,
        deletionsHeld: 3,
        deleted: 0,
        watermarkCommitted: false,
      });
      expect((await store.watermark()).deltaLink).toBe(link);
      expect(directory.get(dnOf(1))).toBeDefined();
      const allowed = await engine.sync({ allowDeletes: true });
      expect(allowed).toMatchObject({ deleted: 3, thresholdStopped: false });
      expect(directory.get(dnOf(1))).toBeUndefined();
      expect((await store.getDevices([sampleDevice(1).id])).size).toBe(0);
      expect((await store.counts()).managedObjects).toBe(1);
    });

    it('counts deletions over the window across passes; an approval releases them and empties the window', async () => {
      for (let n = 1; n <= 12; n++) source.put(sampleDevice(n));
      await engine.sync();
      build('  deleteThreshold: 5\n  deleteWindowSeconds: 3600');
      for (let n = 1; n <= 3; n++) source.remove(sampleDevice(n).id, 'deleted');
      expect(await engine.sync()).toMatchObject({ deleted: 3, thresholdStopped: false });
      for (let n = 4; n <= 6; n++) source.remove(sampleDevice(n).id, 'deleted');
      // 3 in the window + 3 now > 5: none of them is made
      const held = await engine.sync();
      expect(held).toMatchObject({
        deleted: 0,
        thresholdStopped: true,
        deletionsHeld: 3,
        watermarkCommitted: false,
      });
      expect((await store.heldDeletions()).map((h) => h.deviceId)).toEqual(
        [4, 5, 6].map((n) => sampleDevice(n).deviceId).sort(),
      );
      expect(directory.get(dnOf(4))).toBeDefined();
      // still held on the next pass (the same delta is read again)
      expect(await engine.sync()).toMatchObject({ thresholdStopped: true, deletionsHeld: 3 });
      const released = await store.approveDeletions(2);
      expect(released).toHaveLength(2);
      // the two approved are made; the third, counted on an emptied window, too
      expect(await engine.sync()).toMatchObject({
        deleted: 3,
        thresholdStopped: false,
        watermarkCommitted: true,
      });
      expect(await store.heldDeletions()).toEqual([]);
      // the release emptied the window: only the one deletion made beside the approved ones counts
      expect(await store.deletionsSince('default', '1970-01-01T00:00:00Z')).toBe(1);
      for (let n = 7; n <= 10; n++) source.remove(sampleDevice(n).id, 'deleted');
      expect(await engine.sync()).toMatchObject({ deleted: 4, thresholdStopped: false });
      expect(await store.deletionsSince('default', '1970-01-01T00:00:00Z')).toBe(5);
    });

    it('a held deletion whose device comes back is no longer held; --allow-deletes makes them and empties the window', async () => {
      for (let n = 1; n <= 6; n++) source.put(sampleDevice(n));
      await engine.sync();
      build('  deleteThreshold: 2');
      for (let n = 1; n <= 3; n++) source.remove(sampleDevice(n).id, 'changed');
      expect(await engine.sync()).toMatchObject({ thresholdStopped: true, deletionsHeld: 3 });
      source.put(sampleDevice(1)); // restored in the cloud
      source.put(sampleDevice(2));
      const after = await engine.sync();
      expect(after).toMatchObject({ thresholdStopped: false, deleted: 1 });
      expect(await store.heldDeletions()).toEqual([]);
      for (let n = 4; n <= 6; n++) source.remove(sampleDevice(n).id, 'deleted');
      expect(await engine.sync({ allowDeletes: true })).toMatchObject({
        deleted: 3,
        thresholdStopped: false,
      });
      expect(await store.deletionsSince('default', '1970-01-01T00:00:00Z')).toBe(0);
    });

    it('a device that leaves writeback.trustTypes is removed; one that enters is written', async () => {
      source.put(sampleDevice(1));
      source.put(sampleDevice(2, { trustType: 'ServerAd' }));
      build('  trustTypes: [Workplace]');
      expect(await engine.sync()).toMatchObject({ created: 1 });
      source.patch(sampleDevice(1).id, { trustType: 'AzureAd' });
      source.patch(sampleDevice(2).id, { trustType: 'Workplace' });
      expect(await engine.sync()).toMatchObject({ mode: 'delta', created: 1, deleted: 1 });
      expect(directory.get(dnOf(1))).toBeUndefined();
      expect(directory.get(dnOf(2))).toBeDefined();
    });

    it('quarantines one bad device and writes the rest; it leaves quarantine once fixed', async () => {
      source.put(sampleDevice(1));
      source.put(sampleDevice(2, { alternativeSecurityIds: [] }));
      const first = await engine.sync();
      expect(first).toMatchObject({ created: 1, quarantined: 1 });
      expect(first.errors).toEqual([
        expect.objectContaining({ code: 'DWB_DEVICE_NO_KEY', deviceId: sampleDevice(2).deviceId }),
      ]);
      expect((await store.recentRuns(1))[0]!.outcome).toBe('quarantined');
      source.patch(sampleDevice(2).id, { alternativeSecurityIds: sampleDevice(2).alternativeSecurityIds });
      expect(await engine.sync()).toMatchObject({ created: 1, quarantined: 0 });
      expect(await store.quarantined()).toEqual([]);
    });

    it('a write the DC refuses quarantines that device only; a DC that stops answering ends the pass', async () => {
      source.put(sampleDevice(1));
      source.put(sampleDevice(2));
      directory.failNext('add', 'refused', dnOf(2));
      const pass = await engine.sync();
      expect(pass).toMatchObject({ created: 1, quarantined: 1 });
      expect(pass.errors[0]).toMatchObject({
        code: 'DWB_DEVICE_WRITE_FAILED',
        message: expect.stringContaining(`add ${dnOf(2)}`),
      });
      source.put(sampleDevice(3));
      directory.failNext('add', 'transient', dnOf(3));
      await expect(engine.sync()).rejects.toMatchObject({ code: 'DWB_AD_UNREACHABLE' });
      expect((await store.recentRuns(1))[0]!.outcome).toBe('failed');
      // the retry converges: nothing duplicated, the quarantined device written too
      const after = await engine.sync();
      expect(after).toMatchObject({ quarantined: 0, watermarkCommitted: true });
      expect(directory.all()).toHaveLength(3);
      expect(await store.quarantined()).toEqual([]);
    });

    it('an add that meets an object (a crashed pass wrote it) re-plans: unchanged, modify, or conflict', async () => {
      source.put(sampleDevice(1));
      source.put(sampleDevice(2));
      await engine.sync();
      // a crash after the add but before the store recorded it: the object is there, the map is not
      await store.deleteObjects('default', [sampleDevice(1).deviceId]);
      source.patch(sampleDevice(1).id, { displayName: 'AFTER-CRASH' });
      expect(await engine.sync()).toMatchObject({ created: 0, updated: 1 });
      // an unmanaged object with the same CN is a conflict, left alone
      const foreign = new Map(directory.get(dnOf(2))!.values);
      foreign.delete('msDS-CloudAnchor');
      directory.place(
        dnOf(3),
        new Map([...foreign, ['msDS-DeviceID', [guidToBytes(sampleDevice(3).deviceId)]]]),
      );
      source.put(sampleDevice(3));
      const conflict = await engine.sync();
      expect(conflict.errors[0]?.code).toBe('DWB_DEVICE_CONFLICT');
      expect(isManaged(directory.get(dnOf(3))!)).toBe(false);
      const adopted = await engine.sync({ adopt: true });
      expect(adopted).toMatchObject({ adopted: 1, updated: 1 });
      expect(isManaged(directory.get(dnOf(3))!)).toBe(true);
    });

    it('a modify whose delete meets an attribute already gone is retried without it', async () => {
      source.put(sampleDevice(1));
      await engine.sync();
      directory.failNext('modify', 'no-such-attribute', dnOf(1));
      source.patch(sampleDevice(1).id, { operatingSystemVersion: null, displayName: 'X' });
      expect(await engine.sync()).toMatchObject({ updated: 1, quarantined: 0 });
      expect(directory.get(dnOf(1))!.values.has('msDS-DeviceOSVersion')).toBe(false);
    });

    it('a full pass repairs drift, sweeps objects of devices gone and leaves unmanaged objects alone', async () => {
      for (let n = 1; n <= 3; n++) source.put(sampleDevice(n));
      await engine.sync();
      const drifted = directory.get(dnOf(1))!.values;
      drifted.set('displayName', [Buffer.from('hand edit')]);
      directory.place(dnOf(1), drifted);
      await directory.delete(dnOf(2));
      directory.place(`CN=foreign,${CONTAINER}`, new Map([['displayName', [Buffer.from('theirs')]]]));
      source.devices.delete(sampleDevice(3).id); // gone without a trace in the delta (only a full read sees it)
      const full = await engine.sync({ full: true });
      expect(full).toMatchObject({ mode: 'full', created: 1, updated: 1, deleted: 1 });
      expect(directory.get(dnOf(1))!.values.get('displayName')![0]!.toString()).toBe('DEVICE-1');
      expect(directory.get(dnOf(3))).toBeUndefined();
      expect(directory.get(`CN=foreign,${CONTAINER}`)).toBeDefined();
      expect((await store.unmanagedObjects()).map((u) => u.displayName)).toEqual(['theirs']);
      expect((await store.getDevices([sampleDevice(3).id])).size).toBe(0);
    });

    it('a dry run lists the operations as LDIF and writes nothing, not even the store', async () => {
      source.put(sampleDevice(1));
      const dry = await engine.sync({ dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, created: 1, watermarkCommitted: false });
      expect(dry.operations?.[0]).toMatchObject({ action: 'add', dn: dnOf(1) });
      expect(dry.operations?.[0]?.ldif).toContain('changetype: add');
      expect(directory.all()).toEqual([]);
      expect(await store.counts()).toMatchObject({ cloudDevices: 0, managedObjects: 0 });
    });

    it('an expired delta token falls back to a full read', async () => {
      source.put(sampleDevice(1));
      await engine.sync();
      source.expired = true;
      const summary = await engine.sync();
      expect(summary).toMatchObject({ mode: 'full', unchanged: 1 });
      expect(summary.reason).toMatch(/expired/);
    });

    it('owners that could not be read keep their last known values', async () => {
      const owner = {
        id: 'u1',
        userPrincipalName: 'a@corp.test',
        onPremisesSecurityIdentifier: 'S-1-5-21-1-2-3-1104',
      };
      source.put(sampleDevice(1), { registeredOwners: [owner], registeredUsers: [] });
      await engine.sync();
      source.relations.delete(sampleDevice(1).id);
      const fetch = source.fetchRelations.bind(source);
      source.fetchRelations = async (ids) => {
        const found = await fetch(ids);
        for (const id of ids) found.delete(id); // as the connector does for owners it could not read
        return found;
      };
      source.patch(sampleDevice(1).id, { displayName: 'R' });
      await engine.sync();
      expect(directory.get(dnOf(1))!.values.has('msDS-RegisteredOwner')).toBe(true);
    });

    it('stops after the current page when asked, without committing the watermark', async () => {
      source.pageSize = 2;
      for (let n = 1; n <= 6; n++) source.put(sampleDevice(n));
      const stopped = await engine.sync({ shouldStop: () => true });
      expect(stopped).toMatchObject({ mode: 'full', created: 2, watermarkCommitted: false });
      expect((await store.watermark()).deltaLink).toBeUndefined();
      expect(await engine.sync()).toMatchObject({ mode: 'full', created: 4, unchanged: 2 });
    });
  });
}
