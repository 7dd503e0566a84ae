// The StateStore contract, as one suite that every implementation runs (SQLite here, PostgreSQL in
// its own file): what the engine, the CLI and the console rely on, through the interface only.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudDevice } from '../../src/entra/types.js';
import type { StateStore } from '../../src/state/store.js';

export const sampleCloudDevice = (over: Partial<CloudDevice> = {}): CloudDevice => ({
  id: 'g-1',
  deviceId: '9d6f8f6a-5e5d-4c3b-8a29-1f0e2d3c4b5a',
  displayName: 'PC-1',
  accountEnabled: true,
  operatingSystem: 'Windows',
  operatingSystemVersion: '10.0.22631',
  trustType: 'Workplace',
  isManaged: null,
  isCompliant: null,
  deviceVersion: 2,
  approximateLastSignInDateTime: '2026-11-01T10:00:00Z',
  physicalIds: ['[USER-GID]:a:1', '[GID]:g:2'],
  alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'QUJD' }],
  ...over,
});

export interface StoreFactory {
  /** A new, empty store opened as the writer. */
  open(): Promise<StateStore>;
  /** Another handle on the same store, as a reader (the console, status). */
  reader(): Promise<StateStore>;
  cleanup(): Promise<void>;
}

export function describeStateStore(name: string, factory: () => Promise<StoreFactory>): void {
  describe(`${name}: the StateStore contract`, () => {
    let f: StoreFactory;
    let store: StateStore;
    beforeEach(async () => {
      f = await factory();
      store = await f.open();
    });
    afterEach(async () => {
      await store.close();
      await f.cleanup();
    });

    it('records devices, skipping what it holds already (by fingerprint)', async () => {
      const d = sampleCloudDevice();
      expect(await store.putDevices([{ device: d, relations: null }])).toBe(1);
      expect(await store.putDevices([{ device: d, relations: null }])).toBe(0); // compared without help
      const known = await store.deviceFingerprints();
      expect([...known.keys()]).toEqual(['g-1']);
      expect(
        await store.putDevices([{ device: d, relations: null, storedFingerprint: known.get('g-1') }]),
      ).toBe(0);
      const renamed = sampleCloudDevice({ displayName: 'PC-renamed' });
      expect(
        await store.putDevices([{ device: renamed, relations: null, storedFingerprint: known.get('g-1') }]),
      ).toBe(1);
      expect((await store.getDevices(['g-1'])).get('g-1')?.device.displayName).toBe('PC-renamed');
      const owners = { registeredOwners: [], registeredUsers: [] };
      await store.putDevices([{ device: renamed, relations: owners }]);
      expect((await store.getDevices(['g-1', 'absent'])).get('g-1')?.relations).toEqual(owners);
      expect((await store.findDeviceByDeviceId(d.deviceId.toUpperCase()))?.device.id).toBe('g-1');
      await store.deleteDevices(['g-1']);
      expect((await store.getDevices(['g-1'])).size).toBe(0);
    });

    it('keeps the object map, and forgets a device with its object and quarantine', async () => {
      const d = sampleCloudDevice();
      await store.putDevices([{ device: d, relations: null }]);
      await store.putObjects([
        {
          forest: 'corp',
          deviceId: d.deviceId.toUpperCase(),
          graphId: 'g-1',
          dn: 'CN=x,DC=t',
          objectGuid: 'og',
          hash: 'h1',
        },
      ]);
      await store.putObjects([
        {
          forest: 'corp',
          deviceId: d.deviceId,
          graphId: 'g-1',
          dn: 'CN=x,DC=t',
          objectGuid: null,
          hash: 'h2',
        },
        // the same device in a second forest (a move under way)
        {
          forest: 'fabrikam',
          deviceId: d.deviceId,
          graphId: 'g-1',
          dn: 'CN=x,DC=f',
          objectGuid: null,
          hash: 'h3',
        },
      ]);
      const object = (await store.getObjects('corp', [d.deviceId])).get(d.deviceId);
      expect(object).toMatchObject({
        forest: 'corp',
        graphId: 'g-1',
        dn: 'CN=x,DC=t',
        objectGuid: 'og',
        hash: 'h2',
      });
      expect((await store.getObjects('fabrikam', [d.deviceId])).get(d.deviceId)?.dn).toBe('CN=x,DC=f');
      expect((await store.objectsOfDevices(['g-1'])).map((o) => o.forest).sort()).toEqual([
        'corp',
        'fabrikam',
      ]);
      expect((await store.lastSyncTimes('corp', [d.deviceId])).get(d.deviceId)).toBe(object?.lastSyncedAt);
      expect((await store.counts()).forests).toEqual({
        corp: { managedObjects: 1, unmanaged: 0 },
        fabrikam: { managedObjects: 1, unmanaged: 0 },
      });
      await store.quarantine([
        {
          key: 'g-1',
          graphId: 'g-1',
          deviceId: d.deviceId,
          displayName: 'PC-1',
          code: 'DWB_DEVICE_NO_KEY',
          message: 'm',
        },
      ]);
      await store.forgetDevices([{ graphId: 'g-1', deviceId: d.deviceId }]);
      expect((await store.getDevices(['g-1'])).size).toBe(0);
      expect(await store.objectsOfDevices(['g-1'])).toEqual([]);
      expect(await store.quarantineKeys()).toEqual(new Set());
      await store.putObjects([
        { forest: 'corp', deviceId: 'a', graphId: 'g-a', dn: 'CN=a', objectGuid: null, hash: 'h' },
      ]);
      await store.deleteObjects('fabrikam', ['A']);
      expect((await store.counts()).managedObjects).toBe(1);
      await store.deleteObjects('corp', ['A']);
      expect(await store.counts()).toMatchObject({ managedObjects: 0, cloudDevices: 0 });
    });

    it('counts quarantine attempts, releases, and marks retries', async () => {
      const issue = {
        key: 'g-2',
        graphId: 'g-2',
        deviceId: null,
        displayName: 'X',
        code: 'DWB_DEVICE_BAD_ID',
        message: 'first',
      };
      await store.quarantine([issue]);
      await store.quarantine([{ ...issue, deviceId: 'd-2', message: 'second' }]);
      await store.quarantine([{ ...issue, message: 'third' }]);
      const [entry] = await store.quarantined();
      expect(entry).toMatchObject({ key: 'g-2', deviceId: 'd-2', message: 'third', attempts: 3 });
      expect(await store.requestRetry('g-2')).toBe(true);
      expect(await store.requestRetry('nope')).toBe(false);
      expect((await store.retryRequests()).has('g-2')).toBe(true);
      await store.release(['g-2']);
      expect(await store.quarantined()).toEqual([]);
    });

    it('records runs with their counters and device errors', async () => {
      const id = await store.startRun('delta', false);
      expect((await store.getRun(id))?.outcome).toBe('running');
      await store.finishRun(id, {
        mode: 'full',
        created: 1,
        updated: 2,
        deleted: 3,
        unchanged: 4,
        quarantined: 1,
        adopted: 1,
        outcome: 'quarantined',
        durationMs: 12,
        errors: [{ deviceId: 'd-9', code: 'DWB_DEVICE_NO_KEY', message: 'no key' }],
      });
      const run = await store.getRun(id);
      expect(run).toMatchObject({
        mode: 'full',
        created: 1,
        updated: 2,
        deleted: 3,
        unchanged: 4,
        quarantined: 1,
        adopted: 1,
        outcome: 'quarantined',
        durationMs: 12,
        dryRun: false,
      });
      expect(run?.finishedAt).toBeTruthy();
      expect(await store.runErrors(id)).toEqual([
        { deviceId: 'd-9', code: 'DWB_DEVICE_NO_KEY', message: 'no key' },
      ]);
      expect((await store.runErrorCounts(id)).get(id)).toBe(1);
      expect((await store.recentDeviceErrors(5))[0]).toMatchObject({ runId: id, deviceId: 'd-9' });
      expect(await store.deviceErrors(['d-9', 'g-9'], 5)).toHaveLength(1);
      expect((await store.recentRuns(5)).map((r) => r.id)).toEqual([id]);
      expect(await store.getRun(id + 100)).toBeUndefined();
    });

    it('commits the watermark, with the time of the last full pass', async () => {
      expect(await store.watermark()).toEqual({});
      await store.commitWatermark('https://graph/delta?t=1', 'full', new Date('2026-01-01T00:00:00Z'));
      await store.commitWatermark('https://graph/delta?t=2', 'delta', new Date('2026-01-02T00:00:00Z'));
      expect(await store.watermark()).toEqual({
        deltaLink: 'https://graph/delta?t=2',
        committedAt: '2026-01-02T00:00:00.000Z',
        lastFullAt: '2026-01-01T00:00:00.000Z',
      });
    });

    it('reads the state a pass starts from at once: the watermark, each forest, the applied scope', async () => {
      expect(await store.cycleState()).toEqual({
        watermark: {},
        forests: new Map(),
        scopeFingerprint: undefined,
      });
      await store.commitWatermark('https://graph/delta?t=1', 'full', new Date('2026-01-01T00:00:00Z'));
      await store.setScopeFingerprint('scope-v1:abc');
      await store.setForestState('fabrikam', { needsFull: true, lastError: 'DC down' });
      await store.setForestState('corp', {
        needsFull: false,
        lastFullAt: '2026-01-01T00:00:00.000Z',
        domains: [
          { dnsName: 'corp.test', netbiosName: 'CORP', sid: 'S-1-5-21-1-2-3', dn: 'DC=corp,DC=test' },
        ],
      });
      const state = await store.cycleState();
      expect(state).toEqual({
        watermark: await store.watermark(),
        forests: await store.forestStates(),
        scopeFingerprint: 'scope-v1:abc',
      });
      expect(state.watermark.deltaLink).toBe('https://graph/delta?t=1');
      expect([...state.forests.keys()].sort()).toEqual(['corp', 'fabrikam']);
      expect(state.forests.get('corp')?.domains).toEqual([
        { dnsName: 'corp.test', netbiosName: 'CORP', sid: 'S-1-5-21-1-2-3', dn: 'DC=corp,DC=test' },
      ]);
    });

    it('records why a device is not written, rewrites it when only the reason changed, and counts reasons', async () => {
      const notCompliant = { rule: 'compliantOnly', reason: 'out of scope: not compliant' };
      const out = (why: { rule: string; reason: string } | null) => ({
        forest: null,
        ...(why ?? { rule: null, reason: null }),
      });
      const written = { forest: 'default', rule: null, reason: null };
      const d1 = sampleCloudDevice();
      const d2 = sampleCloudDevice({ id: 'g-2', deviceId: '2d6f8f6a-5e5d-4c3b-8a29-1f0e2d3c4b5a' });
      const d3 = sampleCloudDevice({ id: 'g-3', deviceId: '3d6f8f6a-5e5d-4c3b-8a29-1f0e2d3c4b5a' });
      await store.putDevices(
        [
          { device: d1, relations: null, ...written },
          { device: d2, relations: null, ...out(notCompliant) },
          { device: d3, relations: null, ...out(notCompliant) },
        ],
        '2026-01-01T00:00:00.000Z',
      );
      const stored = await store.getDevices(['g-1', 'g-2']);
      expect(stored.get('g-1')).toMatchObject(written);
      expect(stored.get('g-2')).toMatchObject(out(notCompliant));
      expect(await store.notWrittenCounts()).toEqual([{ ...notCompliant, count: 2 }]);
      // The device itself did not change, its reason did: the row is written again (and seen as changed).
      const fingerprints = await store.deviceFingerprints();
      const noGroup = { rule: 'groups', reason: 'out of scope: not in any scope group' };
      expect(
        await store.putDevices(
          [
            { device: d1, relations: null, ...written, storedFingerprint: fingerprints.get('g-1') },
            { device: d2, relations: null, ...out(noGroup), storedFingerprint: fingerprints.get('g-2') },
            { device: d3, relations: null, ...written, storedFingerprint: fingerprints.get('g-3') },
          ],
          '2026-01-02T00:00:00.000Z',
        ),
      ).toBe(2);
      expect(await store.findDeviceByDeviceId(d2.deviceId)).toMatchObject(out(noGroup));
      expect(
        (await store.devicesChangedSince('2026-01-02')).map((r) => [r.graphId, r.forest, r.rule, r.reason]),
      ).toEqual([
        ['g-2', null, noGroup.rule, noGroup.reason],
        ['g-3', 'default', null, null],
      ]);
      expect(await store.notWrittenCounts()).toEqual([{ ...noGroup, count: 1 }]);
      // Without a stored fingerprint at hand, the store compares by itself.
      expect(await store.putDevices([{ device: d2, relations: null, ...out(noGroup) }])).toBe(0);
    });

    it('keeps the fingerprint of the scope configuration the last full pass applied', async () => {
      expect(await store.scopeFingerprint()).toBeUndefined();
      await store.setScopeFingerprint('scope-v1:abc');
      await store.setScopeFingerprint('scope-v1:def');
      expect(await store.scopeFingerprint()).toBe('scope-v1:def');
    });

    it('keeps the scope groups: delta reads replaced, membership edges added, removed and dropped by group', async () => {
      expect(await store.scopeGroups()).toEqual({ tracks: [], edges: [] });
      await store.commitScopeGroups({
        tracks: [
          { groupIds: ['root-1', 'root-2'], deltaLink: 'https://graph/groups/delta?t=1' },
          { groupIds: ['nested'], deltaLink: 'https://graph/groups/delta?t=2' },
        ],
        droppedGroups: [],
        added: [
          { groupId: 'root-1', memberId: 'dev-1', memberType: 'device' },
          { groupId: 'root-1', memberId: 'nested', memberType: 'group' },
          { groupId: 'nested', memberId: 'dev-2', memberType: 'device' },
          { groupId: 'root-2', memberId: 'dev-3', memberType: 'device' },
        ],
        removed: [],
      });
      const sorted = (edges: { groupId: string; memberId: string }[]) =>
        edges.map((e) => `${e.groupId}>${e.memberId}`).sort();
      let state = await store.scopeGroups();
      expect(state.tracks).toEqual([
        { groupIds: ['root-1', 'root-2'], deltaLink: 'https://graph/groups/delta?t=1' },
        { groupIds: ['nested'], deltaLink: 'https://graph/groups/delta?t=2' },
      ]);
      expect(sorted(state.edges)).toEqual(['nested>dev-2', 'root-1>dev-1', 'root-1>nested', 'root-2>dev-3']);
      expect(state.edges.find((e) => e.memberId === 'nested')?.memberType).toBe('group');
      await store.commitScopeGroups({
        tracks: [{ groupIds: ['root-1'], deltaLink: 'https://graph/groups/delta?t=3' }],
        droppedGroups: ['root-2', 'nested'],
        added: [
          { groupId: 'root-1', memberId: 'dev-4', memberType: 'device' },
          { groupId: 'root-1', memberId: 'dev-1', memberType: 'device' },
        ],
        removed: [{ groupId: 'root-1', memberId: 'nested' }],
      });
      state = await store.scopeGroups();
      expect(state.tracks).toEqual([{ groupIds: ['root-1'], deltaLink: 'https://graph/groups/delta?t=3' }]);
      expect(sorted(state.edges)).toEqual(['root-1>dev-1', 'root-1>dev-4']);
      const reader = await f.reader();
      try {
        expect(sorted((await reader.scopeGroups()).edges)).toEqual(['root-1>dev-1', 'root-1>dev-4']);
      } finally {
        await reader.close();
      }
    });

    it('keeps where each device goes (its forest, or why it is not written) and pages through devices', async () => {
      await store.putDevices([
        {
          device: sampleCloudDevice({ id: 'g-a', displayName: 'B-laptop' }),
          relations: null,
          forest: 'corp',
          reason: null,
        },
        {
          device: sampleCloudDevice({ id: 'g-b', displayName: 'A-phone' }),
          relations: null,
          forest: null,
          reason: 'unrouted: it has no registered owner',
          rule: 'unrouted',
        },
        {
          device: sampleCloudDevice({ id: 'g-c', displayName: 'C-tablet' }),
          relations: null,
          forest: null,
          reason: 'out of scope: trustType ServerAd is not in writeback.trustTypes',
          rule: 'trustTypes',
        },
      ]);
      expect((await store.getDevices(['g-a'])).get('g-a')).toMatchObject({ forest: 'corp', reason: null });
      expect((await store.notWrittenDevices()).map((d) => [d.graphId, d.reason.split(':')[0]])).toEqual([
        ['g-b', 'unrouted'],
        ['g-c', 'out of scope'],
      ]);
      expect(await store.counts()).toMatchObject({ notWritten: 2, unrouted: 1 });
      // One vocabulary: the unrouted and the out of scope are counted alike, by rule and words.
      expect((await store.notWrittenCounts()).map((c) => [c.rule, c.count])).toEqual([
        ['trustTypes', 1],
        ['unrouted', 1],
      ]);
      // the same record routed elsewhere is a change: it is written again
      expect(
        await store.putDevices([
          {
            device: sampleCloudDevice({ id: 'g-a', displayName: 'B-laptop' }),
            relations: null,
            forest: 'fabrikam',
            reason: null,
          },
        ]),
      ).toBe(1);
      const first = await store.storedDevicesAfter('', 2);
      expect(first.map((d) => d.graphId)).toEqual(['g-a', 'g-b']);
      expect(first[0]).toMatchObject({ forest: 'fabrikam' });
      expect((await store.storedDevicesAfter('g-b', 2)).map((d) => d.graphId)).toEqual(['g-c']);
    });

    it("keeps each forest's state, its held deletions and its deletion window apart", async () => {
      await store.setForestState('corp', { needsFull: true, lastError: 'DC down' });
      await store.setForestState('corp', {
        domains: [
          { dnsName: 'corp.test', netbiosName: 'CORP', sid: 'S-1-5-21-1-2-3', dn: 'DC=corp,DC=test' },
        ],
      });
      const corp = (await store.forestStates()).get('corp');
      expect(corp).toMatchObject({
        needsFull: true,
        lastError: 'DC down',
        domains: [{ sid: 'S-1-5-21-1-2-3' }],
      });
      await store.recordDeletions('corp', 3);
      await store.recordDeletions('fabrikam', 4);
      expect(await store.deletionsSince('corp', '1970-01-01T00:00:00Z')).toBe(3);
      await store.holdDeletions('corp', [{ deviceId: 'd1', graphId: 'g1', dn: 'CN=d1', reason: 'gone' }]);
      await store.holdDeletions('fabrikam', [
        { deviceId: 'd1', graphId: 'g1', dn: 'CN=d1,F', reason: 'moved' },
      ]);
      expect((await store.heldDeletions()).map((h) => h.forest).sort()).toEqual(['corp', 'fabrikam']);
      const released = await store.approveDeletions(1);
      expect(released).toHaveLength(1);
      // the approval empties the window of the forest it released deletions in, only
      const other = released[0]!.forest === 'corp' ? 'fabrikam' : 'corp';
      expect(await store.deletionsSince(released[0]!.forest, '1970-01-01T00:00:00Z')).toBe(0);
      expect(await store.deletionsSince(other, '1970-01-01T00:00:00Z')).toBeGreaterThan(0);
      await store.deletionsDone(other, ['D1'], { clearWindow: true });
      expect((await store.heldDeletions()).map((h) => h.forest)).toEqual([released[0]!.forest]);
      await store.putObjects([
        { forest: 'old', deviceId: 'x', graphId: 'g-x', dn: 'CN=x', objectGuid: null, hash: 'h' },
      ]);
      await store.setForestState('old', { needsFull: false });
      await store.forgetForestsExcept(['corp', 'fabrikam']);
      expect(await store.objectsOfDevices(['g-x'])).toEqual([]);
      expect([...(await store.forestStates()).keys()]).toEqual(['corp']);
    });

    it("feeds the console's device index: a change stamp, rows changed since a mark, keys", async () => {
      const reader = await f.reader();
      try {
        const before = await reader.changeStamp();
        await store.putDevices(
          [
            {
              device: sampleCloudDevice({ displayName: 'Läptop "1"', accountEnabled: false }),
              relations: {
                registeredOwners: [
                  { id: 'u1', userPrincipalName: 'ann@corp.test', onPremisesSecurityIdentifier: null },
                ],
                registeredUsers: [],
              },
            },
          ],
          '2026-01-01T00:00:00.000Z',
        );
        expect(await reader.changeStamp()).not.toBe(before);
        const rows = await reader.devicesChangedSince('');
        expect(rows).toEqual([
          {
            graphId: 'g-1',
            deviceId: '9d6f8f6a-5e5d-4c3b-8a29-1f0e2d3c4b5a',
            updatedAt: '2026-01-01T00:00:00.000Z',
            displayName: 'Läptop "1"',
            enabled: false,
            osType: 'Windows',
            osVersion: '10.0.22631',
            trustType: 'Workplace',
            owner: 'ann@corp.test',
            forest: null,
            reason: null,
            rule: null,
          },
        ]);
        expect(await reader.devicesChangedSince('2026-01-02')).toEqual([]);
        expect(await reader.deviceGraphIds()).toEqual(['g-1']);
        await store.putObjects([
          {
            forest: 'corp',
            deviceId: 'd',
            graphId: 'g-1',
            dn: 'CN=d',
            objectGuid: null,
            hash: 'h',
            lastSyncedAt: '2026-01-03T00:00:00.000Z',
          },
        ]);
        expect(await reader.objectsChangedSince('2026-01-03')).toEqual([
          {
            forest: 'corp',
            deviceId: 'd',
            graphId: 'g-1',
            dn: 'CN=d',
            lastSyncedAt: '2026-01-03T00:00:00.000Z',
          },
        ]);
        expect(await reader.objectDeviceIds()).toEqual(['corp/d']);
        const unmanagedBefore = await reader.unmanagedStamp();
        await store.replaceUnmanaged('corp', [{ dn: 'CN=u', deviceId: null, displayName: 'foreign' }]);
        expect(await reader.unmanagedStamp()).not.toBe(unmanagedBefore);
        expect(await reader.unmanagedObjects()).toMatchObject([
          { forest: 'corp', dn: 'CN=u', displayName: 'foreign' },
        ]);
        expect(await reader.counts()).toEqual({
          cloudDevices: 1,
          managedObjects: 1,
          quarantined: 0,
          unmanaged: 1,
          notWritten: 0,
          unrouted: 0,
          forests: { corp: { managedObjects: 1, unmanaged: 1 } },
        });
      } finally {
        await reader.close();
      }
    });
  });
}
