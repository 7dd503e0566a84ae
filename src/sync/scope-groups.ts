// The scope groups (writeback.scope.groups): which devices are members of one of them, directly or
// through nested groups, read incrementally. Each pass reads groups/delta from the last committed
// delta links (a round with no change costs one request per 50 groups and nothing else), applies
// the membership changes to the direct-member edges kept in memory, and updates the transitive set
// of devices from those changes only: a device is in when at least one group reachable from the
// configured ones holds it directly (a count per device), and only the groups whose reachability
// changed are walked again. The devices whose membership changed are re-evaluated by that pass.
//
// A nested group found in a round is tracked too (a read of its own), as deep as nesting goes.
// What a round read is committed — edges and delta links, to the state store — only together with
// the pass's watermark, once AD has what it implies; a pass that does not commit (a failure, held
// deletions, a dry run) drops it, and the next pass reads the same changes again from the store.
import { DwbError } from '../errors.js';
import { MAX_GROUPS_PER_DELTA } from '../entra/groups.js';
import type { GroupChange, GroupDeltaEvent, GroupDeltaRequest, GroupSummary } from '../entra/types.js';
import { logger } from '../log.js';
import type { ScopeGroupCommit, ScopeGroupEdge, ScopeGroupTrack, StateStore } from '../state/store.js';
import type { ScopeGroupMembership } from './scope.js';

/** Where group membership comes from: the Entra connector, or a test's fake. */
export interface GroupSource {
  readGroupDelta(request: GroupDeltaRequest): AsyncGenerator<GroupDeltaEvent>;
  findGroup(id: string): Promise<GroupSummary | undefined>;
}

export function isGroupSource(value: unknown): value is GroupSource {
  const v = value as Partial<GroupSource> | undefined;
  return typeof v?.readGroupDelta === 'function' && typeof v.findGroup === 'function';
}

type EdgeKey = string;
const edgeKey = (groupId: string, memberId: string): EdgeKey => `${groupId}\u0000${memberId}`;

/**
 * The direct members (devices and nested groups) of the tracked groups, and the devices that are
 * members of a configured group, directly or through nesting, kept up to date change by change.
 */
export class GroupMembership implements ScopeGroupMembership {
  private readonly roots: ReadonlySet<string>;
  private readonly devicesOf = new Map<string, Set<string>>();
  private readonly groupsOf = new Map<string, Set<string>>();
  /** Groups reachable from the roots (the roots included). */
  private reachable = new Set<string>();
  /** Device → how many reachable groups hold it directly; a device is in while it is above 0. */
  private readonly holders = new Map<string, number>();
  /** Devices whose membership crossed in or out since the last `takeChanged`. */
  private changed = new Set<string>();
  /** Net edge changes since the last `takeEdgeChanges` (for the state store). */
  private edgeChanges = new Map<EdgeKey, { edge: ScopeGroupEdge; added: boolean }>();

  constructor(roots: readonly string[], edges: readonly ScopeGroupEdge[] = []) {
    this.roots = new Set(roots.map((r) => r.toLowerCase()));
    for (const e of edges) this.setOf(e.memberType, e.groupId).add(e.memberId);
    this.reach();
    this.changed.clear();
  }

  has(deviceGraphId: string): boolean {
    return this.holders.has(deviceGraphId.toLowerCase());
  }

  /** How many devices are in (for logs and the check). */
  get size(): number {
    return this.holders.size;
  }

  /** The groups the scope needs read: the configured ones and every group nested in them. */
  neededGroups(): ReadonlySet<string> {
    return this.reachable;
  }

  /** Direct members of a tracked group, by kind. */
  membersOf(groupId: string): { devices: ReadonlySet<string>; groups: ReadonlySet<string> } {
    return {
      devices: this.devicesOf.get(groupId) ?? new Set(),
      groups: this.groupsOf.get(groupId) ?? new Set(),
    };
  }

  private setOf(kind: 'device' | 'group', groupId: string): Set<string> {
    const map = kind === 'device' ? this.devicesOf : this.groupsOf;
    let set = map.get(groupId);
    if (!set) map.set(groupId, (set = new Set()));
    return set;
  }

  private hold(deviceId: string, delta: 1 | -1): void {
    const before = this.holders.get(deviceId) ?? 0;
    const after = before + delta;
    if (after <= 0) this.holders.delete(deviceId);
    else this.holders.set(deviceId, after);
    if (before > 0 !== after > 0) this.changed.add(deviceId);
  }

  private note(edge: ScopeGroupEdge, added: boolean): void {
    const key = edgeKey(edge.groupId, edge.memberId);
    const previous = this.edgeChanges.get(key);
    // Added then removed (or the reverse) within the round: nothing for the store.
    if (previous && previous.added !== added) this.edgeChanges.delete(key);
    else this.edgeChanges.set(key, { edge, added });
  }

  /**
   * Applies edge changes: nested-group edges first (reachability walked again once, only if one of
   * them touched a reachable group), then device edges, each counted only in reachable groups.
   */
  apply(added: readonly ScopeGroupEdge[], removed: readonly ScopeGroupEdge[]): void {
    let walk = false;
    for (const e of removed) {
      if (e.memberType !== 'group') continue;
      if (this.groupsOf.get(e.groupId)?.delete(e.memberId)) {
        this.note(e, false);
        if (this.reachable.has(e.groupId)) walk = true;
      }
    }
    for (const e of added) {
      if (e.memberType !== 'group') continue;
      const set = this.setOf('group', e.groupId);
      if (set.has(e.memberId)) continue;
      set.add(e.memberId);
      this.note(e, true);
      if (this.reachable.has(e.groupId)) walk = true;
    }
    if (walk) this.reach();
    for (const e of removed) {
      if (e.memberType !== 'device') continue;
      if (!this.devicesOf.get(e.groupId)?.delete(e.memberId)) continue;
      this.note(e, false);
      if (this.reachable.has(e.groupId)) this.hold(e.memberId, -1);
    }
    for (const e of added) {
      if (e.memberType !== 'device') continue;
      const set = this.setOf('device', e.groupId);
      if (set.has(e.memberId)) continue;
      set.add(e.memberId);
      this.note(e, true);
      if (this.reachable.has(e.groupId)) this.hold(e.memberId, 1);
    }
  }

  /** Replaces every direct member of a group (a first round lists them all). */
  replaceMembers(groupId: string, members: readonly ScopeGroupEdge[]): void {
    const want = new Set(members.map((m) => edgeKey(m.memberType, m.memberId)));
    const removed: ScopeGroupEdge[] = [];
    for (const memberType of ['device', 'group'] as const) {
      for (const memberId of (memberType === 'device' ? this.devicesOf : this.groupsOf).get(groupId) ?? [])
        if (!want.has(edgeKey(memberType, memberId))) removed.push({ groupId, memberId, memberType });
    }
    this.apply(members, removed);
  }

  /** A group that is no longer read: its edges go (it counts no longer). */
  dropGroup(groupId: string): void {
    const { devices, groups } = this.membersOf(groupId);
    this.apply(
      [],
      [
        ...[...devices].map((memberId) => ({ groupId, memberId, memberType: 'device' as const })),
        ...[...groups].map((memberId) => ({ groupId, memberId, memberType: 'group' as const })),
      ],
    );
  }

  /** Walks the nested groups from the roots; devices of groups that came in or went out are counted. */
  private reach(): void {
    const next = new Set<string>();
    const queue = [...this.roots];
    while (queue.length > 0) {
      const group = queue.pop()!;
      if (next.has(group)) continue; // cycles are tolerated, as in Entra ID
      next.add(group);
      for (const nested of this.groupsOf.get(group) ?? []) queue.push(nested);
    }
    for (const group of this.reachable)
      if (!next.has(group)) for (const d of this.devicesOf.get(group) ?? []) this.hold(d, -1);
    for (const group of next)
      if (!this.reachable.has(group)) for (const d of this.devicesOf.get(group) ?? []) this.hold(d, 1);
    this.reachable = next;
  }

  /** Devices whose membership changed since the last call. */
  takeChanged(): Set<string> {
    const changed = this.changed;
    this.changed = new Set();
    return changed;
  }

  /** Net edge changes since the last call. */
  takeEdgeChanges(): { added: ScopeGroupEdge[]; removed: ScopeGroupEdge[] } {
    const added: ScopeGroupEdge[] = [];
    const removed: ScopeGroupEdge[] = [];
    for (const { edge, added: isAdd } of this.edgeChanges.values()) (isAdd ? added : removed).push(edge);
    this.edgeChanges = new Map();
    return { added, removed };
  }
}

/** One pass's read of the scope groups: the membership it sees, and what changed. */
export interface GroupRound {
  membership: ScopeGroupMembership;
  /** Devices (Graph object ids) that entered or left the scope groups in this round. */
  changedDevices: ReadonlySet<string>;
  /** How many membership edges the round changed. */
  edgesChanged: number;
  /** Records the round in the state store; call once AD has what it implies. */
  commit(): Promise<void>;
  /** Forgets the round: the next pass reads the same changes again. */
  discard(): void;
}

interface Tracked {
  tracks: ScopeGroupTrack[];
  membership: GroupMembership;
  /** When the store last received these tracks' delta links (ms). */
  persistedAt: number;
}

/**
 * A round that changed nothing moves only the delta links on. An older link reads the same
 * nothing again (until it expires, after days), so the store receives them only this often: a
 * no-op cycle of `run` then costs no write for the scope groups.
 */
const LINK_PERSIST_MS = 10 * 60_000;

const sameTracks = (a: readonly ScopeGroupTrack[], b: readonly ScopeGroupTrack[]): boolean =>
  a.length === b.length && a.every((t, i) => t.groupIds.join(',') === b[i]!.groupIds.join(','));

/** The scope groups of a session: their committed state, kept in memory between passes of `run`. */
export class ScopeGroups {
  private committed: Tracked | undefined;
  private roundOpen = false;

  private readonly roots: readonly string[];

  constructor(
    roots: readonly string[],
    private readonly store: StateStore,
    private readonly source: GroupSource,
  ) {
    this.roots = roots.map((r) => r.toLowerCase());
  }

  /**
   * Reads the changes since the last committed round. Groups that are tracked but no longer needed
   * (a nested group taken out) stop being read: a read of only such groups is dropped, a read that
   * mixes them with needed ones starts again for those.
   */
  async read(): Promise<GroupRound> {
    if (this.roundOpen) throw new Error('a scope group round is already open');
    this.roundOpen = true;
    try {
      return await this.readRound();
    } catch (err) {
      this.committed = undefined;
      this.roundOpen = false;
      throw err;
    }
  }

  private async load(): Promise<Tracked> {
    if (!this.committed) {
      const state = await this.store.scopeGroups();
      this.committed = {
        tracks: state.tracks,
        membership: new GroupMembership(this.roots, state.edges),
        persistedAt: Date.now(),
      };
    }
    return this.committed;
  }

  private async readRound(): Promise<GroupRound> {
    const started = Date.now();
    const { membership, tracks: committedTracks, persistedAt } = await this.load();
    const needed = membership.neededGroups();
    const tracks: ScopeGroupTrack[] = [];
    const dropped: string[] = [];
    for (const track of committedTracks) {
      if (track.groupIds.every((g) => needed.has(g))) {
        tracks.push(track);
        continue;
      }
      // The needed ones of this read are read again, from a first round, with the untracked below.
      for (const g of track.groupIds) {
        if (needed.has(g)) continue;
        membership.dropGroup(g);
        dropped.push(g);
      }
    }
    const next: ScopeGroupTrack[] = [];
    for (const track of tracks) next.push(await this.readTrack(track.groupIds, track.deltaLink, membership));
    // Groups not read yet: configured groups new to the store, and nested groups found just now
    // (which may hold groups of their own: until none is left).
    for (;;) {
      const tracked = new Set(next.flatMap((t) => t.groupIds));
      const untracked = [...new Set([...this.roots, ...membership.neededGroups()])].filter(
        (g) => !tracked.has(g),
      );
      if (untracked.length === 0) break;
      await this.requireExisting(untracked.filter((g) => this.roots.includes(g)));
      for (let i = 0; i < untracked.length; i += MAX_GROUPS_PER_DELTA)
        next.push(await this.readTrack(untracked.slice(i, i + MAX_GROUPS_PER_DELTA), undefined, membership));
    }
    const changedDevices = membership.takeChanged();
    const edges = membership.takeEdgeChanges();
    const edgesChanged = edges.added.length + edges.removed.length;
    const log = edgesChanged > 0 ? logger().info.bind(logger()) : logger().debug.bind(logger());
    log(
      {
        component: 'scope',
        reads: next.length,
        edgesChanged,
        devicesChanged: changedDevices.size,
        devicesInGroups: membership.size,
        ms: Date.now() - started,
      },
      'scope groups read',
    );
    const commit: ScopeGroupCommit = {
      tracks: next,
      droppedGroups: dropped,
      added: edges.added,
      removed: edges.removed.map(({ groupId, memberId }) => ({ groupId, memberId })),
    };
    let settled = false;
    const settle = (): void => {
      if (settled) throw new Error('this scope group round is already settled');
      settled = true;
      this.roundOpen = false;
    };
    return {
      membership,
      changedDevices,
      edgesChanged,
      commit: async () => {
        settle();
        try {
          const quiet =
            edgesChanged === 0 &&
            dropped.length === 0 &&
            sameTracks(next, committedTracks) &&
            Date.now() - persistedAt < LINK_PERSIST_MS;
          if (!quiet) await this.store.commitScopeGroups(commit);
          this.committed = { tracks: next, membership, persistedAt: quiet ? persistedAt : Date.now() };
        } catch (err) {
          this.committed = undefined;
          throw err;
        }
      },
      discard: () => {
        settle();
        // The membership in memory went ahead of the store: read it again next time.
        this.committed = undefined;
      },
    };
  }

  /** A configured group that Entra ID does not have stops the pass before anything leaves AD. */
  private async requireExisting(groupIds: readonly string[]): Promise<void> {
    for (const id of groupIds) {
      const found = await this.source.findGroup(id);
      if (!found) throw missingGroup(id, this.roots.indexOf(id), 'Entra ID has no group with this object id');
    }
  }

  /** One groups/delta read to its delta link, applied to the membership. */
  private async readTrack(
    groupIds: string[],
    deltaLink: string | undefined,
    membership: GroupMembership,
  ): Promise<ScopeGroupTrack> {
    let firstRound = deltaLink === undefined;
    /** A first round lists every member: they replace what was known, group by group, at its end. */
    let listed = new Map<string, ScopeGroupEdge[]>();
    let link: string | undefined;
    for await (const event of this.source.readGroupDelta({ groupIds, deltaLink })) {
      if (event.kind === 'reset') {
        firstRound = true;
        listed = new Map();
        continue;
      }
      for (const change of event.groups) this.applyChange(change, firstRound, listed, membership);
      if (event.deltaLink) link = event.deltaLink;
    }
    if (!link)
      throw new DwbError('DWB_ENTRA_BAD_RESPONSE', 'a groups/delta round ended without a delta link.');
    if (firstRound) {
      // A first round says nothing of a group that does not exist: a configured one must.
      if (deltaLink !== undefined) await this.requireExisting(groupIds.filter((g) => this.roots.includes(g)));
      for (const id of groupIds) membership.replaceMembers(id, listed.get(id) ?? []);
    }
    return { groupIds, deltaLink: link };
  }

  private applyChange(
    change: GroupChange,
    firstRound: boolean,
    listed: Map<string, ScopeGroupEdge[]>,
    membership: GroupMembership,
  ): void {
    if (change.kind === 'removed') {
      const index = this.roots.indexOf(change.id);
      if (index >= 0) throw missingGroup(change.id, index, 'the group was deleted in Entra ID');
      membership.dropGroup(change.id);
      listed.delete(change.id);
      return;
    }
    const edges = (removed: boolean): ScopeGroupEdge[] =>
      change.members.flatMap((m) =>
        m.removed === removed && m.kind !== 'other'
          ? [{ groupId: change.id, memberId: m.id, memberType: m.kind }]
          : [],
      );
    if (firstRound) {
      let list = listed.get(change.id);
      if (!list) listed.set(change.id, (list = []));
      list.push(...edges(false));
      return;
    }
    membership.apply(edges(false), edges(true));
  }
}

function missingGroup(id: string, index: number, why: string): DwbError {
  return new DwbError(
    'DWB_SCOPE_GROUP_NOT_FOUND',
    `writeback.scope.groups[${index}] ${id}: ${why}. No device was written or deleted because of it.`,
  );
}
