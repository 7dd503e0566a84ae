// An in-memory groups/delta with Graph's semantics (a first round lists every member, a later round
// only the members added and removed, `@removed` for a deleted group, expired tokens), for tests of
// the scope groups without a Graph server. Members are device ids, or `g:<id>` for a nested group.
// The emulator and the real connector are tested end to end elsewhere.
import type {
  GroupChange,
  GroupDeltaEvent,
  GroupDeltaRequest,
  GroupMemberChange,
  GroupSummary,
} from '../../src/entra/types.js';
import type { GroupSource } from '../../src/sync/scope-groups.js';

type Entry =
  | { seq: number; groupId: string; kind: 'member'; member: string; added: boolean }
  | { seq: number; groupId: string; kind: 'deleted' };

function memberOf(member: string, removed: boolean): GroupMemberChange {
  return member.startsWith('g:')
    ? { id: member.slice(2), kind: 'group', removed }
    : { id: member, kind: 'device', removed };
}

export class FakeGroups implements GroupSource {
  private readonly groups = new Map<string, { members: Set<string>; deleted: boolean }>();
  private readonly log: Entry[] = [];
  private expired = false;
  /** Members listed on one page of a first round (a large group spans pages, as in Graph). */
  membersPerPage = 3;
  /** What was asked, in order: `find <id>`, `first <ids>`, `delta <ids>`. */
  readonly requests: string[] = [];

  group(id: string, members: string[] = []): void {
    this.groups.set(id, { members: new Set(), deleted: false });
    for (const m of members) this.add(id, m);
  }

  add(groupId: string, member: string): void {
    this.groups.get(groupId)!.members.add(member);
    this.log.push({ seq: this.log.length + 1, groupId, kind: 'member', member, added: true });
  }

  remove(groupId: string, member: string): void {
    this.groups.get(groupId)!.members.delete(member);
    this.log.push({ seq: this.log.length + 1, groupId, kind: 'member', member, added: false });
  }

  deleteGroup(id: string): void {
    this.groups.get(id)!.deleted = true;
    this.log.push({ seq: this.log.length + 1, groupId: id, kind: 'deleted' });
  }

  /** Every delta link issued so far is refused once (410), as Graph does after a while. */
  expire(): void {
    this.expired = true;
  }

  async findGroup(id: string): Promise<GroupSummary | undefined> {
    this.requests.push(`find ${id}`);
    const g = this.groups.get(id);
    return g && !g.deleted ? { id, displayName: `Group ${id}` } : undefined;
  }

  async *readGroupDelta(request: GroupDeltaRequest): AsyncGenerator<GroupDeltaEvent> {
    const ids = request.groupIds;
    const link = (): string => `https://graph.test/v1.0/groups/delta?seq=${this.log.length}`;
    let from: number | undefined;
    if (request.deltaLink !== undefined) {
      this.requests.push(`delta ${ids.join(',')}`);
      if (this.expired) {
        this.expired = false;
        yield { kind: 'reset', reason: 'syncStateNotFound' };
      } else {
        from = Number(new URL(request.deltaLink).searchParams.get('seq'));
      }
    }
    if (from === undefined) {
      this.requests.push(`first ${ids.join(',')}`);
      const pages: GroupChange[][] = [];
      for (const id of ids) {
        const g = this.groups.get(id);
        if (!g || g.deleted) continue;
        const members = [...g.members];
        if (members.length === 0)
          pages.push([{ kind: 'group', id, displayName: `Group ${id}`, members: [] }]);
        for (let i = 0; i < members.length; i += this.membersPerPage) {
          pages.push([
            {
              kind: 'group',
              id,
              displayName: `Group ${id}`,
              members: members.slice(i, i + this.membersPerPage).map((m) => memberOf(m, false)),
            },
          ]);
        }
      }
      if (pages.length === 0) pages.push([]);
      for (const [i, groups] of pages.entries())
        yield i === pages.length - 1 ? { kind: 'page', groups, deltaLink: link() } : { kind: 'page', groups };
      return;
    }
    const wanted = new Set(ids);
    const net = new Map<string, Map<string, boolean>>();
    const deleted = new Set<string>();
    for (const e of this.log.slice(from)) {
      if (!wanted.has(e.groupId)) continue;
      if (e.kind === 'deleted') {
        deleted.add(e.groupId);
        continue;
      }
      let members = net.get(e.groupId);
      if (!members) net.set(e.groupId, (members = new Map()));
      const before = members.get(e.member);
      // Added then removed within the round: no change.
      if (before !== undefined && before !== e.added) members.delete(e.member);
      else members.set(e.member, e.added);
    }
    const groups: GroupChange[] = [];
    for (const [id, members] of net) {
      if (deleted.has(id)) continue;
      groups.push({
        kind: 'group',
        id,
        displayName: `Group ${id}`,
        members: [...members].map(([m, added]) => memberOf(m, !added)),
      });
    }
    for (const id of deleted) groups.push({ kind: 'removed', id });
    yield { kind: 'page', groups, deltaLink: link() };
  }
}
