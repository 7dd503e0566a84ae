// `GET /groups/delta` as Graph documents it (https://learn.microsoft.com/graph/delta-query-groups,
// https://learn.microsoft.com/graph/api/group-delta): a first round pages through the groups, each
// carrying its members in `members@delta` (`@odata.type` and `id`), a large member list split
// across pages with the group repeated on each; the final page has the delta link. A later round
// returns only the groups whose properties or membership changed: all selected properties (or only
// the changed ones with `Prefer: return=minimal`), `members@delta` with only the members added and
// those removed (`"@removed": {"reason": "deleted"}`), `@removed` for a deleted group. `$select`
// (with `members` to track membership) and `$filter=id eq '…' or id eq '…'` (at most 50) are kept
// in the tokens. A round reads the group log from the token's sequence, and a group's membership
// log from there: a round with no change costs nothing, whatever the size of the groups.
import { badRequest, GraphError } from './errors.js';
import { checkState, gone } from './delta.js';
import { groupProperties, odataType } from './model.js';
import { buildQuery, decodeToken, encodeToken, project, type FilterExpression } from './odata.js';
import type { DirectoryStore, GroupChangeEntry, GroupRecord } from './store.js';

/** How many members one page of groups/delta carries, over all its groups. */
export const DEFAULT_GROUP_DELTA_MEMBERS_PER_PAGE = 1000;
/** Graph accepts at most 50 ids in a groups/delta $filter. */
export const MAX_FILTERED_GROUPS = 50;

/** What a round tracks: chosen once, by the first request, and kept in every token. */
interface Tracking {
  /** Selected group properties; undefined for all of them. */
  sel?: string[];
  /** Whether `members@delta` is returned. */
  mem: boolean;
  /** Only these group ids ($filter). */
  ids?: string[];
  /** The raw $select and $filter, to build the link of a fresh round. */
  q?: string;
  f?: string;
}

/** State inside a `$skiptoken` of a groups/delta round. */
interface GroupDeltaCursor extends Tracking {
  v: 1;
  r: 'groups';
  st: string;
  g: number;
  m: 'full' | 'changes';
  from: number;
  to: number;
  /** full: next position (ordinal, or index into ids); changes: last sequence done. */
  pos: number;
  /** changes: the sequence of the group whose members continue on the next page. */
  cur?: number;
  /** Members of the current group already sent. */
  mo: number;
  t: number;
}

/** State inside a `$deltatoken` of groups/delta. */
interface GroupDeltaToken extends Tracking {
  v: 1;
  r: 'groups';
  st: string;
  g: number;
  s: number;
  t: number;
}

export interface GroupDeltaRequest {
  origin: string;
  /** Raw $select and $filter of the first request. */
  select: string | null;
  filter: string | null;
  skiptoken: string | null;
  deltatoken: string | null;
  pageSize: number;
  membersPerPage: number;
  /** `Prefer: return=minimal`: only changed properties in a later round. */
  minimal: boolean;
}

type MemberDelta = { '@odata.type': string; id: string; '@removed'?: { reason: 'deleted' } };

/** `$select` of groups/delta: group properties and `members`; anything else is refused. */
export function parseGroupDeltaSelect(raw: string | null): Pick<Tracking, 'sel' | 'mem'> {
  if (raw === null || raw.trim() === '') return { mem: true };
  const byLower = new Map(groupProperties.map((p) => [p.toLowerCase(), p as string]));
  const sel: string[] = [];
  let mem = false;
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (!name) continue;
    if (name.toLowerCase() === 'members') {
      mem = true;
      continue;
    }
    const canonical = byLower.get(name.toLowerCase());
    if (!canonical)
      throw badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.group'.`);
    if (!sel.includes(canonical)) sel.push(canonical);
  }
  return { sel, mem };
}

/** `$filter` of groups/delta: `id eq '…'` terms joined by `or`, at most 50; nothing else. */
export function parseGroupDeltaFilter(expression: FilterExpression): string[] {
  const ids: string[] = [];
  const collect = (node: FilterExpression): void => {
    if (node.kind === 'or') {
      collect(node.left);
      collect(node.right);
      return;
    }
    if (
      node.kind === 'compare' &&
      node.operator === 'eq' &&
      node.property === 'id' &&
      typeof node.value === 'string'
    ) {
      ids.push(node.value.toLowerCase());
      return;
    }
    throw new GraphError(
      400,
      'Request_UnsupportedQuery',
      "Unsupported query: groups/delta supports only $filter=id eq '{id}', several joined with 'or'.",
    );
  };
  collect(expression);
  if (ids.length > MAX_FILTERED_GROUPS) {
    throw new GraphError(
      400,
      'Request_UnsupportedQuery',
      `Too many ids in the filter: groups/delta tracks at most ${MAX_FILTERED_GROUPS} groups by id.`,
    );
  }
  return [...new Set(ids)];
}

function freshLink(origin: string, tracking: Tracking): string {
  const params: [string, string][] = [];
  if (tracking.q) params.push(['$select', tracking.q]);
  if (tracking.f) params.push(['$filter', tracking.f]);
  return `${origin}/v1.0/groups/delta${buildQuery(params)}`;
}

function tracking(source: Tracking): Tracking {
  const out: Tracking = { mem: source.mem };
  if (source.sel) out.sel = source.sel;
  if (source.ids) out.ids = source.ids;
  if (source.q) out.q = source.q;
  if (source.f) out.f = source.f;
  return out;
}

function unknownToken(fresh: string): GraphError {
  return gone(
    'syncStateNotFound',
    'The sync state generation is not found. The delta token is unknown here; synchronize again without a token.',
    fresh,
  );
}

/** Members a group gained and lost within (from, to], from its membership log. */
function memberChanges(store: DirectoryStore, record: GroupRecord, from: number, to: number): MemberDelta[] {
  const log = record.membershipLog;
  // The first entry after `from`: the log is in sequence order.
  let low = 0;
  let high = log.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((log[middle]?.seq ?? 0) <= from) low = middle + 1;
    else high = middle;
  }
  const net = new Map<string, { first: boolean; last: boolean }>();
  for (let i = low; i < log.length; i++) {
    const entry = log[i];
    if (!entry || entry.seq > to) break;
    store.membersWalked++;
    const seen = net.get(entry.memberId);
    if (seen) seen.last = entry.added;
    else net.set(entry.memberId, { first: entry.added, last: entry.added });
  }
  const out: MemberDelta[] = [];
  for (const [id, { first, last }] of net) {
    // Added then removed (or the reverse) within the round: no change to report.
    if (first !== last) continue;
    const kind = store.kindOf(id);
    if (!kind) continue;
    out.push(
      last
        ? { '@odata.type': odataType[kind], id }
        : { '@odata.type': odataType[kind], id, '@removed': { reason: 'deleted' } },
    );
  }
  return out;
}

/** Members to list in pages: only the slice a page carries is turned into JSON. */
interface MemberList {
  length: number;
  slice(from: number, to: number): MemberDelta[];
}

/** Every current member, as `members@delta` lists them in a full read. */
function allMembers(store: DirectoryStore, record: GroupRecord): MemberList {
  const ids = store.memberIds(record.group.id);
  return {
    length: ids.length,
    slice: (from, to) => {
      const out: MemberDelta[] = [];
      for (const id of ids.slice(from, to)) {
        const kind = store.kindOf(id);
        if (kind) out.push({ '@odata.type': odataType[kind], id });
      }
      return out;
    },
  };
}

function properties(record: GroupRecord, selected: readonly string[]): Record<string, unknown> {
  return project(record.group, selected);
}

/** The properties changed within (from, to], among the selected ones. */
function changedProperties(
  record: GroupRecord,
  from: number,
  to: number,
  selected: readonly string[],
): string[] {
  const changed = new Set<string>();
  for (const entry of record.changes) {
    if (entry.seq > from && entry.seq <= to) for (const p of entry.properties) changed.add(p);
  }
  return selected.filter((p) => changed.has(p));
}

export function groupDeltaPage(
  store: DirectoryStore,
  request: GroupDeltaRequest,
  parseFilter: (raw: string) => FilterExpression,
): { body: Record<string, unknown> } {
  const now = Date.now();
  const { origin } = request;
  let cursor: GroupDeltaCursor;

  if (request.skiptoken !== null) {
    const decoded = decodeToken<GroupDeltaCursor>(request.skiptoken);
    const fresh = freshLink(origin, decoded ?? { mem: true });
    if (!decoded || decoded.v !== 1 || decoded.r !== 'groups')
      throw gone('syncStateNotFound', 'The sync state is not found: the skip token is not valid.', fresh);
    checkState(store, decoded, fresh, now);
    cursor = decoded;
  } else if (request.deltatoken !== null) {
    if (request.deltatoken.toLowerCase() === 'latest') {
      const track = newTracking(request, parseFilter);
      const token: GroupDeltaToken = {
        v: 1,
        r: 'groups',
        st: store.storeId,
        g: store.deltaGeneration,
        s: store.currentGroupSeq,
        ...track,
        t: now,
      };
      return {
        body: {
          '@odata.context': `${origin}/v1.0/$metadata#groups`,
          '@odata.deltaLink': `${origin}/v1.0/groups/delta${buildQuery([['$deltatoken', encodeToken(token)]])}`,
          value: [],
        },
      };
    }
    const decoded = decodeToken<GroupDeltaToken>(request.deltatoken);
    const fresh = freshLink(origin, decoded ?? { mem: true });
    if (
      !decoded ||
      decoded.v !== 1 ||
      decoded.r !== 'groups' ||
      typeof decoded.s !== 'number' ||
      decoded.s > store.currentGroupSeq
    ) {
      throw unknownToken(fresh);
    }
    checkState(store, decoded, fresh, now);
    cursor = {
      v: 1,
      r: 'groups',
      st: store.storeId,
      g: store.deltaGeneration,
      m: 'changes',
      from: decoded.s,
      to: store.currentGroupSeq,
      pos: decoded.s,
      mo: 0,
      ...tracking(decoded),
      t: decoded.t,
    };
  } else {
    cursor = {
      v: 1,
      r: 'groups',
      st: store.storeId,
      g: store.deltaGeneration,
      m: 'full',
      from: 0,
      to: store.currentGroupSeq,
      pos: 0,
      mo: 0,
      ...newTracking(request, parseFilter),
      t: now,
    };
  }

  const selected: readonly string[] = cursor.sel ?? groupProperties;
  const value: Record<string, unknown>[] = [];
  let budget = request.membersPerPage;
  /** Adds an item with its members from the cursor's offset; false when the page is full. */
  const emit = (item: Record<string, unknown>, members: MemberList | undefined): boolean => {
    if (!members || members.length === 0) {
      value.push(item);
      cursor.mo = 0;
      return true;
    }
    // (A group that lost members since the last page may now end before the offset.)
    const start = Math.min(cursor.mo, members.length);
    const end = Math.min(members.length, start + budget);
    budget -= end - start;
    value.push({ ...item, 'members@delta': members.slice(start, end) });
    if (end < members.length) {
      cursor.mo = end;
      return false;
    }
    cursor.mo = 0;
    return true;
  };
  const room = (): boolean => value.length < request.pageSize && budget > 0;

  let done: boolean;
  if (cursor.m === 'full') {
    const total = cursor.ids ? cursor.ids.length : store.groupOrdinalCount;
    while (cursor.pos < total && room()) {
      const record = cursor.ids
        ? store.groupRecord(cursor.ids[cursor.pos] ?? '')
        : store.groupRecordAt(cursor.pos);
      if (record?.state !== 'active') {
        cursor.pos++;
        cursor.mo = 0;
        continue;
      }
      if (!emit(properties(record, selected), cursor.mem ? allMembers(store, record) : undefined)) break;
      cursor.pos++;
    }
    done = cursor.pos >= total;
  } else {
    const wanted = cursor.ids ? new Set(cursor.ids) : undefined;
    while (room()) {
      let entry: GroupChangeEntry | undefined;
      if (cursor.cur !== undefined) {
        // The group whose members did not fit on the last page.
        entry = store.groupChangeAt(cursor.cur);
        delete cursor.cur;
      } else {
        if (cursor.pos >= cursor.to) break;
        cursor.mo = 0;
        entry = store.groupChangeAt(++cursor.pos);
      }
      if (!entry) break;
      const record = store.groupRecord(entry.groupId);
      // Report each group once per round, at its last change within the round.
      const later = record?.changes[entry.indexInGroup + 1];
      if (!record || (wanted && !wanted.has(record.group.id)) || (later && later.seq <= cursor.to)) continue;
      if (record.state === 'deleted') {
        emit({ id: record.group.id, '@removed': { reason: 'deleted' } }, undefined);
        continue;
      }
      const created = record.changes.some(
        (c) => c.kind === 'created' && c.seq > cursor.from && c.seq <= cursor.to,
      );
      const shown =
        created || !request.minimal ? selected : changedProperties(record, cursor.from, cursor.to, selected);
      const members = cursor.mem
        ? created
          ? allMembers(store, record)
          : memberChanges(store, record, cursor.from, cursor.to)
        : undefined;
      if (!emit(properties(record, shown), members)) {
        cursor.cur = entry.seq;
        break;
      }
    }
    done = cursor.cur === undefined && cursor.pos >= cursor.to;
  }

  // As in Graph's examples, the first request's context names the selected properties; the pages
  // that follow a link (whose token carries the selection) say just `#groups`.
  const first = request.skiptoken === null && request.deltatoken === null;
  const body: Record<string, unknown> = {
    '@odata.context': `${origin}/v1.0/$metadata#groups${first && cursor.sel?.length ? `(${cursor.sel.join(',')})` : ''}`,
  };
  if (done) {
    const token: GroupDeltaToken = {
      v: 1,
      r: 'groups',
      st: cursor.st,
      g: cursor.g,
      s: cursor.to,
      ...tracking(cursor),
      t: now,
    };
    body['@odata.deltaLink'] =
      `${origin}/v1.0/groups/delta${buildQuery([['$deltatoken', encodeToken(token)]])}`;
  } else {
    body['@odata.nextLink'] =
      `${origin}/v1.0/groups/delta${buildQuery([['$skiptoken', encodeToken(cursor)]])}`;
  }
  body.value = value;
  return { body };
}

function newTracking(request: GroupDeltaRequest, parseFilter: (raw: string) => FilterExpression): Tracking {
  const { sel, mem } = parseGroupDeltaSelect(request.select);
  const out: Tracking = { mem };
  if (sel) out.sel = sel;
  if (request.select) out.q = request.select;
  if (request.filter) {
    out.ids = parseGroupDeltaFilter(parseFilter(request.filter));
    out.f = request.filter;
  }
  return out;
}
