// The scope groups tracker's rounds against a fake groups/delta source, as a suite that runs
// against every state store (SQLite in scope-groups.test.ts, PostgreSQL in
// engine-postgres.int.test.ts): first rounds, later rounds, nested groups found on the way, resets,
// a missing or deleted configured group, and a round that is committed or dropped.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setLogLevel } from '../../src/log.js';
import type { ScopeGroupEdge, StateStore } from '../../src/state/store.js';
import { ScopeGroups } from '../../src/sync/scope-groups.js';
import { FakeGroups } from '../support/fake-groups.js';
import type { EngineStoreFactory } from './engine-suite.js';

export const device = (groupId: string, memberId: string): ScopeGroupEdge => ({
  groupId,
  memberId,
  memberType: 'device',
});
export const group = (groupId: string, memberId: string): ScopeGroupEdge => ({
  groupId,
  memberId,
  memberType: 'group',
});

export function describeScopeGroupRounds(name: string, factory: EngineStoreFactory): void {
  describe(`ScopeGroups rounds, ${name} state`, () => {
    let cleanup: () => Promise<void>;
    let store: StateStore;
    let graph: FakeGroups;

    beforeEach(async () => {
      setLogLevel('silent');
      const opened = await factory.open();
      store = opened.store;
      cleanup = opened.cleanup;
      graph = new FakeGroups();
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('reads a first round, then only changes; a committed round is what the next session starts from', async () => {
      graph.group('root', ['d1', 'd2']);
      const tracker = new ScopeGroups(['root'], store, graph);
      const first = await tracker.read();
      expect(first.membership.has('d1')).toBe(true);
      expect([...first.changedDevices].sort()).toEqual(['d1', 'd2']);
      await first.commit();
      expect(graph.requests).toEqual(['find root', 'first root']);

      const quiet = await tracker.read();
      expect(quiet.changedDevices.size).toBe(0);
      expect(quiet.edgesChanged).toBe(0);
      await quiet.commit();
      expect(graph.requests.slice(2)).toEqual(['delta root']);

      graph.remove('root', 'd1');
      graph.add('root', 'd3');
      const changed = await tracker.read();
      expect([...changed.changedDevices].sort()).toEqual(['d1', 'd3']);
      await changed.commit();

      // A new session (another `sync`) starts from the store, with no first round.
      const again = new ScopeGroups(['root'], store, graph);
      const round = await again.read();
      expect(round.membership.has('d3')).toBe(true);
      expect(round.membership.has('d1')).toBe(false);
      expect(graph.requests.at(-1)).toBe('delta root');
      round.discard();
    });

    it('writes nothing to the store for a round that changed nothing (the older delta link reads the same)', async () => {
      graph.group('root', ['d1']);
      const tracker = new ScopeGroups(['root'], store, graph);
      await (await tracker.read()).commit();
      const saved = (await store.scopeGroups()).tracks[0]!.deltaLink;
      let writes = 0;
      const commit = store.commitScopeGroups.bind(store);
      store.commitScopeGroups = async (c) => {
        writes++;
        return commit(c);
      };
      for (let i = 0; i < 3; i++) await (await tracker.read()).commit();
      expect(writes).toBe(0);
      expect((await store.scopeGroups()).tracks[0]!.deltaLink).toBe(saved);
      graph.add('root', 'd2');
      await (await tracker.read()).commit();
      expect(writes).toBe(1);
      expect((await store.scopeGroups()).tracks[0]!.deltaLink).not.toBe(saved);
    });

    it('follows nested groups as deep as they go, found in a first round or added later', async () => {
      graph.group('root', ['d1', 'g:nested']);
      graph.group('nested', ['d2', 'g:deeper']);
      graph.group('deeper', ['d3']);
      graph.group('other', ['d9']);
      const tracker = new ScopeGroups(['root'], store, graph);
      const first = await tracker.read();
      expect(['d1', 'd2', 'd3', 'd9'].map((d) => first.membership.has(d))).toEqual([true, true, true, false]);
      await first.commit();
      expect((await store.scopeGroups()).tracks.map((t) => t.groupIds)).toEqual([
        ['root'],
        ['nested'],
        ['deeper'],
      ]);

      graph.add('deeper', 'g:other');
      const later = await tracker.read();
      expect(later.membership.has('d9')).toBe(true);
      expect([...later.changedDevices]).toEqual(['d9']);
      await later.commit();

      graph.remove('root', 'g:nested');
      const out = await tracker.read();
      expect([...out.changedDevices].sort()).toEqual(['d2', 'd3', 'd9']);
      await out.commit();
      // The next round stops reading the groups that are no longer needed, and forgets their edges.
      const rebuilt = await tracker.read();
      await rebuilt.commit();
      expect((await store.scopeGroups()).tracks.map((t) => t.groupIds)).toEqual([['root']]);
      expect((await store.scopeGroups()).edges).toEqual([device('root', 'd1')]);
    });

    it('reads again from the committed state when a round is dropped', async () => {
      graph.group('root', ['d1']);
      const tracker = new ScopeGroups(['root'], store, graph);
      await (await tracker.read()).commit();
      graph.remove('root', 'd1');
      const dropped = await tracker.read();
      expect([...dropped.changedDevices]).toEqual(['d1']);
      dropped.discard();
      // The same change again: the pass that did not commit it is repeated.
      const repeated = await tracker.read();
      expect([...repeated.changedDevices]).toEqual(['d1']);
      expect(repeated.membership.has('d1')).toBe(false);
      await repeated.commit();
    });

    it('reads a first round again after an expired token, with only the difference reported', async () => {
      graph.group('root', ['d1', 'd2']);
      const tracker = new ScopeGroups(['root'], store, graph);
      await (await tracker.read()).commit();
      graph.remove('root', 'd2');
      graph.expire();
      const round = await tracker.read();
      expect([...round.changedDevices]).toEqual(['d2']);
      expect(graph.requests.slice(-3)).toEqual(['delta root', 'first root', 'find root']);
      await round.commit();
    });

    it('stops the pass when a configured group does not exist or was deleted, naming the key', async () => {
      graph.group('root', ['d1']);
      const missing = new ScopeGroups(['root', 'typo'], store, graph);
      await expect(missing.read()).rejects.toMatchObject({
        code: 'DWB_SCOPE_GROUP_NOT_FOUND',
        message: expect.stringMatching(/writeback\.scope\.groups\[1\] typo: Entra ID has no group/),
      });
      const tracker = new ScopeGroups(['root'], store, graph);
      await (await tracker.read()).commit();
      graph.deleteGroup('root');
      await expect(tracker.read()).rejects.toMatchObject({
        code: 'DWB_SCOPE_GROUP_NOT_FOUND',
        message: expect.stringMatching(/groups\[0\] root: the group was deleted/),
      });
      // Nothing was committed: the next attempt sees the same.
      await expect(tracker.read()).rejects.toMatchObject({
        code: 'DWB_SCOPE_GROUP_NOT_FOUND',
      });
    });

    it('splits more than 50 groups into several reads', async () => {
      const ids = Array.from({ length: 60 }, (_, i) => `g${i}`);
      for (const id of ids) graph.group(id, [`d-${id}`]);
      const tracker = new ScopeGroups(ids, store, graph);
      const round = await tracker.read();
      expect(round.membership.has('d-g59')).toBe(true);
      await round.commit();
      expect((await store.scopeGroups()).tracks.map((t) => t.groupIds.length)).toEqual([50, 10]);
    });
  });
}
