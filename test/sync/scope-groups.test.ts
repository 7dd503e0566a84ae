// The scope groups without Graph: the transitive membership kept up to date from edge changes
// (direct and nested, cycles, groups whose reachability changes), and the tracker's rounds against
// a fake groups/delta source: first rounds, later rounds, nested groups found on the way, resets,
// a missing or deleted configured group, and a round that is committed or dropped (those in
// scope-groups-suite.ts, run here on SQLite and in engine-postgres.int.test.ts on PostgreSQL).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { GroupMembership } from '../../src/sync/scope-groups.js';
import { describeScopeGroupRounds, device, group } from './scope-groups-suite.js';

describe('GroupMembership', () => {
  it('counts devices of the configured groups and of the groups nested in them', () => {
    const m = new GroupMembership(
      ['root'],
      [device('root', 'd1'), group('root', 'nested'), device('nested', 'd2')],
    );
    expect(m.has('d1')).toBe(true);
    expect(m.has('D2')).toBe(true);
    expect(m.size).toBe(2);
    expect([...m.neededGroups()].sort()).toEqual(['nested', 'root']);
    expect(m.takeChanged().size).toBe(0);
  });

  it('reports the devices that entered or left, not those held by another group too', () => {
    const m = new GroupMembership(['a', 'b'], [device('a', 'd1'), device('b', 'd1'), device('a', 'd2')]);
    m.apply([device('b', 'd3')], [device('a', 'd1'), device('a', 'd2')]);
    expect(m.has('d1')).toBe(true); // still in b
    expect(m.has('d2')).toBe(false);
    expect([...m.takeChanged()].sort()).toEqual(['d2', 'd3']);
    expect(m.takeEdgeChanges()).toEqual({
      added: [device('b', 'd3')],
      removed: [device('a', 'd1'), device('a', 'd2')],
    });
    // An edge added and removed again is no change for the store.
    m.apply([device('a', 'd9')], []);
    m.apply([], [device('a', 'd9')]);
    expect(m.takeEdgeChanges()).toEqual({ added: [], removed: [] });
  });

  it('walks nested groups again only when a nested group comes or goes', () => {
    const m = new GroupMembership(
      ['root'],
      [device('nested', 'd2'), device('deeper', 'd3'), group('nested', 'deeper')],
    );
    expect(m.has('d2')).toBe(false); // nested is not in root yet
    m.apply([group('root', 'nested')], []);
    expect([...m.takeChanged()].sort()).toEqual(['d2', 'd3']);
    expect(m.has('d3')).toBe(true);
    m.apply([], [group('nested', 'deeper')]);
    expect([...m.takeChanged()]).toEqual(['d3']);
    expect(m.has('d3')).toBe(false);
    // A device added to a group that is not reachable is not in.
    m.apply([device('deeper', 'd4')], []);
    expect(m.has('d4')).toBe(false);
    expect(m.takeChanged().size).toBe(0);
  });

  it('tolerates cycles of nested groups', () => {
    const m = new GroupMembership(['a'], [group('a', 'b'), group('b', 'a'), device('b', 'd1')]);
    expect(m.has('d1')).toBe(true);
    m.apply([], [group('a', 'b')]);
    expect(m.has('d1')).toBe(false);
  });

  it('replaces the members of a group from a first round, and drops a group', () => {
    const m = new GroupMembership(
      ['a'],
      [device('a', 'd1'), device('a', 'd2'), group('a', 'n'), device('n', 'd5')],
    );
    m.replaceMembers('a', [device('a', 'd2'), device('a', 'd3')]);
    expect(['d1', 'd2', 'd3', 'd5'].map((d) => m.has(d))).toEqual([false, true, true, false]);
    expect([...m.takeChanged()].sort()).toEqual(['d1', 'd3', 'd5']);
    m.dropGroup('a');
    expect(m.size).toBe(0);
  });
});

describeScopeGroupRounds('SQLite', {
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-scope-groups-'));
    return {
      store: SqliteStateStore.open(path.join(dir, 'state.db'), { writer: true }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
