// `GET /devices/delta` as Graph implements change tracking for directory objects: a first round
// pages through every device and ends with a delta link; later rounds return, once each, the
// devices changed since the token, with only the changed properties (plus id) for updates, the
// full object for devices that are new (or restored), and `@removed` for soft ("changed") and hard
// ("deleted") deletions. Tokens carry the change-log sequence they stand for, so a round reads the
// log from there: its cost is the number of changes, not the size of the directory.
import { GraphError } from './errors.js';
import { deviceProperties, type DeviceProperty } from './model.js';
import { buildQuery, decodeToken, encodeToken, project } from './odata.js';
import type { ChangeEntry, DeviceRecord, DirectoryStore } from './store.js';

export const DEFAULT_DELTA_PAGE_SIZE = 200;
/** Graph keeps delta tokens of directory objects for seven days. */
export const DELTA_TOKEN_LIFETIME_MS = 7 * 86_400_000;

/** State inside a `$skiptoken` of a delta round. */
interface DeltaCursor {
  v: 1;
  st: string;
  g: number;
  /** full: every device; changes: the log after `from`. */
  m: 'full' | 'changes';
  from: number;
  /** Sequence this round covers up to; the final delta link stands for it. */
  to: number;
  /** full: next device ordinal; changes: last sequence scanned. */
  pos: number;
  sel?: string[];
  t: number;
}

/** State inside a `$deltatoken`. */
interface DeltaToken {
  v: 1;
  st: string;
  g: number;
  s: number;
  sel?: string[];
  t: number;
}

export interface DeltaRequest {
  origin: string;
  select: string[] | undefined;
  skiptoken: string | null;
  deltatoken: string | null;
  pageSize: number;
}

export interface DeltaResponse {
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

export function gone(
  code: 'syncStateNotFound' | 'resyncRequired',
  message: string,
  freshLink: string,
): GraphError {
  return new GraphError(410, code, message, { Location: freshLink });
}

function freshDeltaLink(origin: string, select: string[] | undefined): string {
  return `${origin}/v1.0/devices/delta${buildQuery(select ? [['$select', select.join(',')]] : [])}`;
}

/** Refuses a token of another directory, of an expired generation, or older than Graph keeps them. */
export function checkState(
  store: DirectoryStore,
  state: { st?: unknown; g?: unknown; t?: unknown },
  freshLink: string,
  now: number,
): void {
  if (state.st !== store.storeId || typeof state.g !== 'number' || state.g > store.deltaGeneration) {
    throw gone(
      'syncStateNotFound',
      'The sync state generation is not found. The delta token is unknown here; synchronize again without a token.',
      freshLink,
    );
  }
  if (state.g < store.deltaGeneration) {
    throw gone(
      'resyncRequired',
      'The delta token has expired; the application must restart with a full synchronization (a delta query without a token).',
      freshLink,
    );
  }
  if (typeof state.t !== 'number' || now - state.t > DELTA_TOKEN_LIFETIME_MS) {
    throw gone(
      'syncStateNotFound',
      'The sync state generation is not found. The delta token is expired and data must be synchronized again.',
      freshLink,
    );
  }
}

/** What a device looks like in a delta page, given the changes of this round. */
function deltaItem(
  record: DeviceRecord,
  from: number,
  to: number,
  select: string[] | undefined,
): Record<string, unknown> {
  if (record.state === 'deleted') return { id: record.device.id, '@removed': { reason: 'deleted' } };
  if (record.state === 'softDeleted') return { id: record.device.id, '@removed': { reason: 'changed' } };
  const wanted: readonly string[] = select ?? deviceProperties;
  const changed = new Set<string>();
  let full = from === 0;
  for (let i = record.changes.length - 1; i >= 0 && !full; i--) {
    const entry = record.changes[i] as ChangeEntry;
    if (entry.seq > to) continue;
    if (entry.seq <= from) break;
    if (entry.kind === 'created' || entry.kind === 'restored') full = true;
    for (const property of entry.properties) changed.add(property);
  }
  if (full) return project(record.device, wanted);
  // Only the changed properties, plus id, as Graph does; a relation-only change yields just the id.
  return project(
    record.device,
    wanted.filter((p) => changed.has(p as DeviceProperty)),
  );
}

export function deltaPage(store: DirectoryStore, request: DeltaRequest): DeltaResponse {
  const now = Date.now();
  const { origin } = request;
  let cursor: DeltaCursor;

  if (request.skiptoken !== null) {
    const decoded = decodeToken<DeltaCursor & { r?: unknown }>(request.skiptoken);
    const fresh = freshDeltaLink(origin, decoded?.sel ?? request.select);
    if (!decoded || decoded.v !== 1 || decoded.r !== undefined)
      throw gone('syncStateNotFound', 'The sync state is not found: the skip token is not valid.', fresh);
    checkState(store, decoded, fresh, now);
    cursor = decoded;
  } else if (request.deltatoken !== null) {
    if (request.deltatoken.toLowerCase() === 'latest') {
      const token: DeltaToken = {
        v: 1,
        st: store.storeId,
        g: store.deltaGeneration,
        s: store.currentSeq,
        sel: request.select,
        t: now,
      };
      return {
        body: {
          '@odata.context': `${origin}/v1.0/$metadata#devices`,
          '@odata.deltaLink': `${origin}/v1.0/devices/delta${buildQuery([['$deltatoken', encodeToken(token)]])}`,
          value: [],
        },
        headers: {},
      };
    }
    const decoded = decodeToken<DeltaToken & { r?: unknown }>(request.deltatoken);
    const fresh = freshDeltaLink(origin, decoded?.sel ?? request.select);
    // `r` marks the tokens of other collections (groups/delta): unknown here.
    if (
      !decoded ||
      decoded.v !== 1 ||
      decoded.r !== undefined ||
      typeof decoded.s !== 'number' ||
      decoded.s > store.currentSeq
    ) {
      throw gone(
        'syncStateNotFound',
        'The sync state generation is not found. The delta token is unknown here; synchronize again without a token.',
        fresh,
      );
    }
    checkState(store, decoded, fresh, now);
    cursor = {
      v: 1,
      st: store.storeId,
      g: store.deltaGeneration,
      m: 'changes',
      from: decoded.s,
      to: store.currentSeq,
      pos: decoded.s,
      sel: decoded.sel,
      t: decoded.t,
    };
  } else {
    cursor = {
      v: 1,
      st: store.storeId,
      g: store.deltaGeneration,
      m: 'full',
      from: 0,
      to: store.currentSeq,
      pos: 0,
      sel: request.select,
      t: now,
    };
  }

  const value: Record<string, unknown>[] = [];
  let done: boolean;
  if (cursor.m === 'full') {
    let ordinal = cursor.pos;
    const total = store.deviceOrdinalCount;
    while (ordinal < total && value.length < request.pageSize) {
      const record = store.deviceRecordAt(ordinal++);
      if (record?.state === 'active') value.push(project(record.device, cursor.sel ?? deviceProperties));
    }
    cursor = { ...cursor, pos: ordinal };
    done = ordinal >= total;
  } else {
    let seq = cursor.pos;
    while (seq < cursor.to && value.length < request.pageSize) {
      const entry = store.changeAt(++seq);
      if (!entry) break;
      const record = store.deviceRecord(entry.objectId);
      if (!record) continue;
      // Report each device once per round, at its last change within the round.
      const later = record.changes[entry.indexInDevice + 1];
      if (later && later.seq <= cursor.to) continue;
      value.push(deltaItem(record, cursor.from, cursor.to, cursor.sel));
    }
    cursor = { ...cursor, pos: seq };
    done = seq >= cursor.to;
  }

  const body: Record<string, unknown> = {
    '@odata.context': `${origin}/v1.0/$metadata#devices${cursor.sel ? `(${cursor.sel.join(',')})` : ''}`,
  };
  if (done) {
    const token: DeltaToken = { v: 1, st: cursor.st, g: cursor.g, s: cursor.to, sel: cursor.sel, t: now };
    body['@odata.deltaLink'] =
      `${origin}/v1.0/devices/delta${buildQuery([['$deltatoken', encodeToken(token)]])}`;
  } else {
    body['@odata.nextLink'] =
      `${origin}/v1.0/devices/delta${buildQuery([['$skiptoken', encodeToken(cursor)]])}`;
  }
  body.value = value;
  return { body, headers: {} };
}
