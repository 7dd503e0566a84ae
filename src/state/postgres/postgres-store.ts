// The shared state store: PostgreSQL, for a group of `run` instances with active/passive failover
// (SPEC §7). Implements StateStore with the SQLite store's data and rules; all of its SQL is here
// and in schema.ts and group-sql.ts.
//
// Every method that takes a list does its work in one statement (unnest of arrays, = ANY), so a
// 100,000-device pass costs a round trip per batch, not per device. Every write of the engine is
// one transaction that first calls fence(epoch, holder): a commit of an instance that no longer
// leads fails (DWB_STATE_FENCED). Two writes are not the engine's and are never fenced, so that a
// standby's console and approve-deletes can record them for the leader: an approval of held
// deletions and a retry request. After each commit the change sequence is bumped (the console's
// change stamp). At open, the store is migrated, refused when a newer version wrote it
// (DWB_STATE_VERSION) and refused when one of its tables is missing (DWB_STATE_CORRUPT); an error
// the server reports as data corruption (SQLSTATE class XX) is DWB_STATE_CORRUPT too.
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import type { CloudDevice, DeviceRelations } from '../../entra/types.js';
import { DwbError, causeText } from '../../errors.js';
import { logger } from '../../log.js';
import { fingerprint } from '../fingerprint.js';
import { GroupMembership, fencedError, type MemberIdentity } from '../group.js';
import { fromLease } from '../lease.js';
import type {
  DeviceError,
  DeviceSummary,
  DeviceWrite,
  ForestState,
  GroupMember,
  HeldDeletion,
  LeaderTerm,
  NotWrittenCount,
  ObjectRecord,
  ObjectSummary,
  ObjectWrite,
  OpenOptions,
  QuarantineEntry,
  QuarantineIssue,
  RecentDeviceError,
  RunMode,
  RunOutcome,
  RunRecord,
  RunResult,
  ScopeGroupCommit,
  ScopeGroupEdge,
  ScopeGroupState,
  StateStore,
  StoreCounts,
  StoredDevice,
  UnmanagedObject,
  Watermark,
  CycleState,
} from '../store.js';
import { PostgresGroupBackend } from './group-sql.js';
import {
  FENCED_SQLSTATE,
  POSTGRES_SCHEMA,
  POSTGRES_SCHEMA_VERSION,
  POSTGRES_TABLES,
  migrate,
  readSchemaState,
} from './schema.js';
import { postgresSettings } from './settings.js';

type Row = Record<string, unknown>;
type ForestCounts = StoreCounts['forests'];

/** int8 (bigint, count(*)) as a number: every one of ours is below 2^53 (fingerprints included). */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The console's change feed reads this far back before its mark: commits land out of order. */
const FEED_OVERLAP_MS = 5000;

/** PostgreSQL's text cannot hold NUL: a value from the cloud or the directory that has one keeps a U+FFFD. */
function clean(value: string): string;
function clean(value: string | null | undefined): string | null;
function clean(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return value.includes('\u0000') ? value.replace(/\u0000/g, '\ufffd') : value;
}

const iso = (value: unknown): string =>
  value instanceof Date ? value.toISOString() : value === null || value === undefined ? '' : String(value);

const DB_NOW_ISO = `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

function parse<T>(json: string | null): T | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}

/** Keeps the last of several entries with the same key (an upsert cannot touch one row twice). */
function lastByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  const map = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    map.delete(k);
    map.set(k, item);
  }
  return [...map.values()];
}

function toRun(r: Row): RunRecord {
  return {
    id: Number(r.id),
    startedAt: r.started_at as string,
    finishedAt: (r.finished_at as string | null) ?? null,
    mode: r.mode as RunMode,
    dryRun: r.dry_run === true,
    created: Number(r.created),
    updated: Number(r.updated),
    deleted: Number(r.deleted),
    unchanged: Number(r.unchanged),
    quarantined: Number(r.quarantined),
    adopted: Number(r.adopted ?? 0),
    outcome: r.outcome as RunOutcome,
    error: (r.error as string | null) ?? null,
    durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
  };
}

function toObject(r: Row): ObjectRecord {
  return {
    forest: r.forest as string,
    deviceId: r.device_id as string,
    graphId: r.graph_id as string,
    dn: r.dn as string,
    objectGuid: (r.object_guid as string | null) ?? null,
    hash: r.hash as string,
    lastSyncedAt: r.last_synced_at as string,
  };
}

function toQuarantineEntry(r: Row): QuarantineEntry {
  return {
    key: r.key as string,
    forest: (r.forest as string | null) ?? null,
    graphId: (r.graph_id as string | null) ?? null,
    deviceId: (r.device_id as string | null) ?? null,
    displayName: (r.display_name as string | null) ?? null,
    code: r.code as string,
    message: r.message as string,
    firstSeen: r.first_seen as string,
    lastSeen: r.last_seen as string,
    attempts: Number(r.attempts),
  };
}

/** A stored device's columns, in the order toStored() reads them. */
const STORED_COLUMNS = 'json, relations, forest, reason, reason_rule';
type StoredRow = [CloudDevice, DeviceRelations | null, string | null, string | null, string | null];

function toStored([device, relations, forest, reason, rule]: StoredRow): StoredDevice {
  return {
    device,
    relations: relations ?? null,
    forest: forest ?? null,
    reason: reason ?? null,
    rule: rule ?? null,
  };
}

/** A prepared statement's name, from its text (each session prepares it once, at its first use). */
function statementName(text: string): string {
  return `dwb_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** The watermark from the meta rows that hold it. */
function toWatermark(meta: Record<string, string>): Watermark {
  const out: Watermark = {};
  if (meta.deltaLink !== undefined) out.deltaLink = meta.deltaLink;
  if (meta.watermarkAt !== undefined) out.committedAt = meta.watermarkAt;
  if (meta.lastFullAt !== undefined) out.lastFullAt = meta.lastFullAt;
  return out;
}

const FOREST_COLUMNS = 'name, needs_full, last_error, last_full_at, domains, updated_at';

/** What a pass starts from, in one statement (StateStore.cycleState). */
const CYCLE_STATE_SQL = `SELECT (SELECT json_object_agg(key, value) FROM meta
         WHERE key IN ('deltaLink', 'watermarkAt', 'lastFullAt', 'scopeFingerprint')),
      (SELECT json_agg(f ORDER BY f.name) FROM (SELECT ${FOREST_COLUMNS} FROM forests) f)`;

function toForestStates(rows: Row[]): Map<string, ForestState> {
  return new Map(
    rows.map((r) => [
      r.name as string,
      {
        needsFull: r.needs_full === true,
        lastError: (r.last_error as string | null) ?? null,
        lastFullAt: (r.last_full_at as string | null) ?? null,
        domains: (r.domains as ForestState['domains'] | null) ?? null,
        updatedAt: r.updated_at as string,
      },
    ]),
  );
}

const OBJECT_COLUMNS = 'forest, device_id, graph_id, dn, object_guid, hash, last_synced_at';
const HELD_COLUMNS =
  'forest, device_id AS "deviceId", graph_id AS "graphId", dn, reason, held_at AS "heldAt", approved_at AS "approvedAt"';

/** The PostgreSQL errors of a broken connection or a server going away (not the query's fault). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || code.startsWith('E')))
    return true;
  return /Connection terminated|connection closed|not queryable|timeout|ECONN|socket/i.test(causeText(err));
}

/** A store error as the user's error: damaged, fenced, or unreachable. */
export function storeError(err: unknown, location: string): unknown {
  if (err instanceof DwbError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === FENCED_SQLSTATE)
    return fencedError(
      `a commit to the state store ${location} was refused: this instance no longer leads its group (${causeText(err)}).`,
    );
  if (
    typeof code === 'string' &&
    (code.startsWith('XX') || code === '42P01' || code === '42703' || code === '3F000')
  )
    return damaged(location, causeText(err), err);
  return new DwbError(
    'DWB_STATE_UNAVAILABLE',
    `the PostgreSQL state store ${location} ${isConnectionError(err) ? 'cannot be reached' : 'refused a request'}: ${causeText(err)}`,
    { cause: err },
  );
}

function damaged(location: string, detail: string, cause?: unknown): DwbError {
  return new DwbError(
    'DWB_STATE_CORRUPT',
    `the PostgreSQL state store ${location} is damaged (${detail}); it was not used, so nothing was read from it half-way.`,
    {
      cause,
      fix: `Keep it for analysis (ALTER SCHEMA ${POSTGRES_SCHEMA} RENAME TO ${POSTGRES_SCHEMA}_damaged), or drop it (DROP SCHEMA ${POSTGRES_SCHEMA} CASCADE), then run \`device-writeback sync --full\`: it rebuilds the state from AD (which holds the anchors) and Entra ID, with no duplicate and no loss.`,
    },
  );
}

/** The application name of every session of this process: a DBA sees who is connected. */
export function applicationName(command: string, pid = process.pid): string {
  return `device-writeback ${command} ${pid}`.slice(0, 63);
}

export class PostgresStateStore implements StateStore {
  private constructor(
    readonly location: string,
    private readonly pool: pg.Pool,
    readonly group: GroupMembership | undefined,
  ) {}

  /**
   * Opens the store (creating and migrating its tables). `writer: true` joins the group of the
   * store as its leader (or, with `standby`, as a standby while another leads).
   */
  static async open(url: string, options: OpenOptions): Promise<PostgresStateStore> {
    const settings = postgresSettings(url);
    const location = settings.location;
    const command = options.command ?? (options.writer ? 'sync' : 'reader');
    const clientConfig: pg.ClientConfig = {
      ...settings.client,
      application_name: applicationName(command),
      options: `-c search_path=${POSTGRES_SCHEMA}`,
      types: TYPES,
    };
    const pool = new pg.Pool({ ...clientConfig, max: 5, idleTimeoutMillis: 30_000 });
    // A pooled session that the server ends while idle is dropped by the pool; nothing else to do.
    pool.on('error', (err) => logger().debug({ cause: causeText(err) }, 'a state store session ended'));
    let group: GroupMembership | undefined;
    try {
      await prepare(pool, location);
      if (options.writer) {
        const lease = options.lease ?? fromLease(13_250, 10_250);
        const me: MemberIdentity = {
          instanceId: randomBytes(8).toString('hex'),
          host: os.hostname(),
          pid: process.pid,
          command,
          startedAt: new Date().toISOString(),
        };
        const bump = async (): Promise<void> => void (await pool.query("SELECT nextval('change_seq')"));
        const backend = new PostgresGroupBackend(
          // the loop's own session: a renewal answered later than the lease is of no use
          { ...clientConfig, query_timeout: lease.leaseMs },
          (sql, params) => pool.query(sql, params),
          bump,
        );
        group = new GroupMembership(backend, me, lease, { standby: options.standby ?? false, location });
        await group.start();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw storeError(err, location);
    }
    return new PostgresStateStore(location, pool, group);
  }

  async close(): Promise<void> {
    try {
      await this.group?.close();
    } finally {
      await this.pool.end().catch(() => undefined);
    }
  }

  // --- plumbing ---------------------------------------------------------------------------------

  private async read(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>(sql, params)).rows;
    } catch (err) {
      throw storeError(err, this.location);
    }
  }

  private async readArrays<T extends unknown[]>(
    sql: string,
    params: unknown[] = [],
    options: { name?: string } = {},
  ): Promise<T[]> {
    try {
      return (await this.pool.query<T>({ text: sql, values: params, rowMode: 'array', ...options })).rows;
    } catch (err) {
      throw storeError(err, this.location);
    }
  }

  /** This instance's fencing token, or DWB_STATE_FENCED when it may not write. */
  private fenceToken(): { epoch: number; holder: string } {
    const token = this.group?.fenceToken();
    if (!token) {
      throw fencedError(
        this.group
          ? `this instance no longer leads its group, so its commits to ${this.location} are refused.`
          : `the state store ${this.location} was opened read-only, so it takes no writes of the engine.`,
      );
    }
    if (!/^[0-9a-f]+$/.test(token.holder)) throw new Error('unexpected instance id');
    return { epoch: Number(token.epoch), holder: token.holder };
  }

  /**
   * One fenced statement in one round trip, for the writes of every cycle (its run record, the
   * watermark). The statement reads its rows FROM lease (whose epoch and holder columns are this
   * instance's fencing token), a CTE that calls fence() first: it writes
   * nothing unless this instance holds the lease's epoch, and the FOR SHARE lock fence() takes on the
   * lease row lasts until the statement's own commit, as in write(). It does not move the change
   * stamp: what it writes is not the devices and objects the console indexes.
   */
  private async fencedStatement<R extends pg.QueryResultRow = Row>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    if (!/\bFROM lease\b/.test(sql)) throw new Error('a fenced statement must read FROM lease');
    const { epoch, holder } = this.fenceToken();
    const n = params.length;
    try {
      const text = `WITH lease AS (SELECT fence($${n + 1}::bigint, $${n + 2}::text), set_config('synchronous_commit', 'off', true), $${n + 1}::bigint AS epoch, $${n + 2}::text AS holder) ${sql}`;
      return await this.pool.query<R>({
        name: statementName(text),
        text,
        values: [...params, epoch, holder],
      });
    } catch (err) {
      throw storeError(err, this.location);
    }
  }

  /**
   * One transaction. Fenced (the engine's writes): it first checks that this instance still holds
   * the lease's epoch, and fails with DWB_STATE_FENCED when it does not.
   */
  private async write<T>(body: (client: pg.PoolClient) => Promise<T>, fenced = true): Promise<T> {
    let begin = 'BEGIN';
    if (fenced) {
      const { epoch, holder } = this.fenceToken();
      begin = `BEGIN; SELECT fence(${epoch}, '${holder}')`;
    }
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storeError(err, this.location);
    }
    let broken: unknown;
    try {
      await client.query(begin);
      const result = await body(client);
      await client.query("COMMIT; SELECT nextval('change_seq')");
      return result;
    } catch (err) {
      if (isConnectionError(err)) broken = err;
      else await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
      throw storeError(err, this.location);
    } finally {
      client.release(broken instanceof Error ? broken : broken ? true : undefined);
    }
  }

  // --- watermark ------------------------------------------------------------------------------

  async watermark(): Promise<Watermark> {
    const rows = await this.readArrays<[string, string]>(
      "SELECT key, value FROM meta WHERE key IN ('deltaLink', 'watermarkAt', 'lastFullAt')",
    );
    return toWatermark(Object.fromEntries(rows));
  }

  async cycleState(): Promise<CycleState> {
    const [row] = await this.readArrays<[Record<string, string> | null, Row[] | null]>(CYCLE_STATE_SQL, [], {
      name: statementName(CYCLE_STATE_SQL),
    });
    const [meta, forests] = row ?? [null, null];
    return {
      watermark: toWatermark(meta ?? {}),
      forests: toForestStates(forests ?? []),
      scopeFingerprint: meta?.scopeFingerprint,
    };
  }

  async commitWatermark(deltaLink: string, mode: RunMode, at = new Date()): Promise<void> {
    const keys = ['deltaLink', 'watermarkAt'];
    const values = [clean(deltaLink), at.toISOString()];
    if (mode === 'full') {
      keys.push('lastFullAt');
      values.push(at.toISOString());
    }
    await this.fencedStatement(
      `INSERT INTO meta (key, value) SELECT u.key, u.value FROM lease, unnest($1::text[], $2::text[]) AS u(key, value)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      [keys, values],
    );
  }

  // --- last known cloud state -------------------------------------------------------------------

  async getDevices(graphIds: readonly string[]): Promise<Map<string, StoredDevice>> {
    const out = new Map<string, StoredDevice>();
    if (graphIds.length === 0) return out;
    const rows = await this.readArrays<[string, ...StoredRow]>(
      `SELECT graph_id, ${STORED_COLUMNS} FROM devices WHERE graph_id = ANY($1::text[])`,
      [graphIds.map((id) => clean(id))],
    );
    for (const [graphId, ...stored] of rows) out.set(graphId, toStored(stored));
    return out;
  }

  async findDeviceByDeviceId(deviceId: string): Promise<StoredDevice | undefined> {
    const [row] = await this.readArrays<StoredRow>(
      `SELECT ${STORED_COLUMNS} FROM devices WHERE device_id = $1 LIMIT 1`,
      [clean(deviceId.toLowerCase())],
    );
    return row ? toStored(row) : undefined;
  }

  async deviceFingerprints(): Promise<Map<string, number | null>> {
    const rows = await this.readArrays<[string, number | null]>('SELECT graph_id, fp FROM devices');
    return new Map(rows);
  }

  async putDevices(writes: readonly DeviceWrite[], now?: string): Promise<number> {
    const ids: string[] = [];
    const deviceIds: (string | null)[] = [];
    const json: string[] = [];
    const relations: (string | null)[] = [];
    const fps: number[] = [];
    const forests: (string | null)[] = [];
    const reasons: (string | null)[] = [];
    const rules: (string | null)[] = [];
    for (const w of lastByKey(writes, (w) => w.device.id)) {
      const { device, relations: r, storedFingerprint, forest = null, reason = null, rule = null } = w;
      // The fingerprint covers where the device goes and why it is not: a new disposition is written.
      const fp = fingerprint(device, r, forest, reason, rule);
      if (storedFingerprint === fp) continue;
      forests.push(clean(forest));
      reasons.push(clean(reason));
      rules.push(clean(rule));
      ids.push(clean(device.id));
      deviceIds.push(clean(device.deviceId?.toLowerCase() ?? null));
      json.push(JSON.stringify(device));
      relations.push(r ? JSON.stringify(r) : null);
      fps.push(fp);
    }
    if (ids.length === 0) return 0;
    return this.write(async (c) => {
      const result = await c.query(
        `INSERT INTO devices (graph_id, device_id, json, relations, updated_at, fp, forest, reason, reason_rule)
         SELECT g, d, j, r, COALESCE($5, ${DB_NOW_ISO}), f, fo, re, ru
           FROM unnest($1::text[], $2::text[], $3::json[], $4::json[], $6::bigint[], $7::text[], $8::text[], $9::text[])
             AS u(g, d, j, r, f, fo, re, ru)
         ON CONFLICT (graph_id) DO UPDATE SET device_id = excluded.device_id, json = excluded.json,
           relations = excluded.relations, updated_at = excluded.updated_at, fp = excluded.fp,
           forest = excluded.forest, reason = excluded.reason, reason_rule = excluded.reason_rule
         WHERE devices.fp IS DISTINCT FROM excluded.fp`,
        [ids, deviceIds, json, relations, now ?? null, fps, forests, reasons, rules],
      );
      return result.rowCount ?? 0;
    });
  }

  async deleteDevices(graphIds: readonly string[]): Promise<void> {
    if (graphIds.length === 0) return;
    await this.write((c) =>
      c.query('DELETE FROM devices WHERE graph_id = ANY($1::text[])', [graphIds.map((id) => clean(id))]),
    );
  }

  async storedDevicesAfter(after: string, limit: number): Promise<(StoredDevice & { graphId: string })[]> {
    const rows = await this.readArrays<[string, ...StoredRow]>(
      `SELECT graph_id, ${STORED_COLUMNS} FROM devices WHERE graph_id > $1 ORDER BY graph_id LIMIT $2`,
      [clean(after), limit],
    );
    return rows.map(([graphId, ...stored]) => ({ graphId, ...toStored(stored) }));
  }

  async notWrittenCounts(): Promise<NotWrittenCount[]> {
    return (await this.read(
      `SELECT reason_rule AS rule, reason, COUNT(*) AS count FROM devices
        WHERE reason IS NOT NULL GROUP BY reason_rule, reason
        ORDER BY count DESC, rule NULLS FIRST, reason`,
    )) as unknown as NotWrittenCount[];
  }

  async notWrittenDevices(): Promise<(DeviceSummary & { reason: string })[]> {
    const rows = await this.summaries('WHERE reason IS NOT NULL', []);
    return rows
      .filter((r): r is DeviceSummary & { reason: string } => typeof r.reason === 'string')
      .sort((a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? ''));
  }

  // --- object map -----------------------------------------------------------------------------

  async getObjects(forest: string, deviceIds: readonly string[]): Promise<Map<string, ObjectRecord>> {
    const out = new Map<string, ObjectRecord>();
    if (deviceIds.length === 0) return out;
    const rows = await this.read(
      `SELECT ${OBJECT_COLUMNS} FROM objects WHERE forest = $1 AND device_id = ANY($2::text[])`,
      [clean(forest), deviceIds.map((id) => clean(id.toLowerCase()))],
    );
    for (const r of rows) out.set(r.device_id as string, toObject(r));
    return out;
  }

  async objectsOfDevices(graphIds: readonly string[]): Promise<ObjectRecord[]> {
    if (graphIds.length === 0) return [];
    const rows = await this.read(
      `SELECT ${OBJECT_COLUMNS} FROM objects WHERE graph_id = ANY($1::text[]) ORDER BY graph_id, forest, device_id`,
      [graphIds.map((id) => clean(id))],
    );
    return rows.map(toObject);
  }

  async putObjects(records: readonly ObjectWrite[]): Promise<void> {
    if (records.length === 0) return;
    const now = new Date().toISOString();
    const unique = lastByKey(records, (r) => `${r.forest}\u0000${r.deviceId.toLowerCase()}`);
    await this.write((c) =>
      c.query(
        `INSERT INTO objects (${OBJECT_COLUMNS})
         SELECT * FROM unnest($7::text[], $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         ON CONFLICT (forest, device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn,
           object_guid = COALESCE(excluded.object_guid, objects.object_guid), hash = excluded.hash,
           last_synced_at = excluded.last_synced_at`,
        [
          unique.map((r) => clean(r.deviceId.toLowerCase())),
          unique.map((r) => clean(r.graphId)),
          unique.map((r) => clean(r.dn)),
          unique.map((r) => clean(r.objectGuid)),
          unique.map((r) => clean(r.hash)),
          unique.map((r) => r.lastSyncedAt ?? now),
          unique.map((r) => clean(r.forest)),
        ],
      ),
    );
  }

  async deleteObjects(forest: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.write((c) =>
      c.query('DELETE FROM objects WHERE forest = $1 AND device_id = ANY($2::text[])', [
        clean(forest),
        deviceIds.map((id) => clean(id.toLowerCase())),
      ]),
    );
  }

  async lastSyncTimes(forest: string, deviceIds: readonly string[]): Promise<Map<string, string>> {
    if (deviceIds.length === 0) return new Map();
    const rows = await this.readArrays<[string, string]>(
      'SELECT device_id, last_synced_at FROM objects WHERE forest = $1 AND device_id = ANY($2::text[])',
      [clean(forest), deviceIds.map((id) => clean(id.toLowerCase()))],
    );
    return new Map(rows);
  }

  async forgetDevices(devices: readonly { graphId: string; deviceId?: string }[]): Promise<void> {
    if (devices.length === 0) return;
    const graphIds = devices.map((d) => clean(d.graphId));
    const deviceIds = devices.flatMap((d) => (d.deviceId ? [clean(d.deviceId.toLowerCase())] : []));
    await this.write((c) =>
      c.query(
        `WITH d AS (DELETE FROM devices WHERE graph_id = ANY($1::text[])),
              q AS (DELETE FROM quarantine WHERE key = ANY($1::text[]))
         DELETE FROM objects WHERE graph_id = ANY($1::text[]) OR device_id = ANY($2::text[])`,
        [graphIds, deviceIds],
      ),
    );
  }

  async forgetForestsExcept(names: readonly string[]): Promise<void> {
    const keep = names.map((n) => clean(n));
    await this.write((c) =>
      c.query(
        `WITH o AS (DELETE FROM objects WHERE NOT (forest = ANY($1::text[]))),
              u AS (DELETE FROM unmanaged WHERE NOT (forest = ANY($1::text[]))),
              h AS (DELETE FROM held_deletions WHERE NOT (forest = ANY($1::text[]))),
              l AS (DELETE FROM deletion_log WHERE NOT (forest = ANY($1::text[])))
         DELETE FROM forests WHERE NOT (name = ANY($1::text[]))`,
        [keep],
      ),
    );
  }

  async replaceUnmanaged(forest: string, objects: readonly UnmanagedObject[]): Promise<void> {
    const now = new Date().toISOString();
    const unique = lastByKey(objects, (o) => o.dn);
    await this.write(async (c) => {
      await c.query('DELETE FROM unmanaged WHERE forest = $1', [clean(forest)]);
      if (unique.length === 0) return;
      await c.query(
        `INSERT INTO unmanaged (forest, dn, device_id, display_name, seen_at)
         SELECT $5, u.dn, u.device_id, u.display_name, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(dn, device_id, display_name)`,
        [
          unique.map((o) => clean(o.dn)),
          unique.map((o) => clean(o.deviceId)),
          unique.map((o) => clean(o.displayName)),
          now,
          clean(forest),
        ],
      );
    });
  }

  async unmanagedObjects(): Promise<(UnmanagedObject & { forest: string; seenAt: string })[]> {
    return (await this.read(
      'SELECT forest, dn, device_id AS "deviceId", display_name AS "displayName", seen_at AS "seenAt" FROM unmanaged ORDER BY forest, dn',
    )) as unknown as (UnmanagedObject & { forest: string; seenAt: string })[];
  }

  // --- forests --------------------------------------------------------------------------------

  async forestStates(): Promise<Map<string, ForestState>> {
    return toForestStates(await this.read(`SELECT ${FOREST_COLUMNS} FROM forests ORDER BY name`));
  }

  async setForestState(forest: string, state: Partial<Omit<ForestState, 'updatedAt'>>): Promise<void> {
    // Only the fields given change; $2..$5 say which (a null flag keeps the stored value).
    await this.write((c) =>
      c.query(
        `INSERT INTO forests (name, needs_full, last_error, last_full_at, domains, updated_at)
         VALUES ($1, COALESCE($3, false), $5, $7, $9::json, $10)
         ON CONFLICT (name) DO UPDATE SET
           needs_full = CASE WHEN $2 THEN excluded.needs_full ELSE forests.needs_full END,
           last_error = CASE WHEN $4 THEN excluded.last_error ELSE forests.last_error END,
           last_full_at = CASE WHEN $6 THEN excluded.last_full_at ELSE forests.last_full_at END,
           domains = CASE WHEN $8 THEN excluded.domains ELSE forests.domains END,
           updated_at = excluded.updated_at`,
        [
          clean(forest),
          state.needsFull !== undefined,
          state.needsFull ?? null,
          state.lastError !== undefined,
          clean(state.lastError ?? null),
          state.lastFullAt !== undefined,
          state.lastFullAt ?? null,
          state.domains !== undefined,
          state.domains ? JSON.stringify(state.domains) : null,
          new Date().toISOString(),
        ],
      ),
    );
  }

  // --- quarantine -----------------------------------------------------------------------------

  async quarantine(issues: readonly QuarantineIssue[]): Promise<void> {
    if (issues.length === 0) return;
    // As one upsert per issue would: every repetition counts as an attempt, the last message wins
    // and the last known deviceId is kept.
    const byKey = new Map<string, QuarantineIssue & { times: number }>();
    for (const issue of issues) {
      const before = byKey.get(issue.key);
      byKey.set(issue.key, {
        ...issue,
        deviceId: issue.deviceId ?? before?.deviceId ?? null,
        times: (before?.times ?? 0) + 1,
      });
    }
    const rows = [...byKey.values()];
    const now = new Date().toISOString();
    await this.write((c) =>
      c.query(
        `INSERT INTO quarantine (key, forest, graph_id, device_id, display_name, code, message, first_seen, last_seen, attempts)
         SELECT u.key, u.forest, u.graph_id, u.device_id, u.display_name, u.code, u.message, $8, $8, u.times
           FROM unnest($1::text[], $9::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])
             AS u(key, forest, graph_id, device_id, display_name, code, message, times)
         ON CONFLICT (key) DO UPDATE SET forest = excluded.forest, code = excluded.code, message = excluded.message,
           display_name = excluded.display_name,
           device_id = COALESCE(excluded.device_id, quarantine.device_id), last_seen = excluded.last_seen,
           attempts = quarantine.attempts + excluded.attempts`,
        [
          rows.map((r) => clean(r.key)),
          rows.map((r) => clean(r.graphId)),
          rows.map((r) => clean(r.deviceId)),
          rows.map((r) => clean(r.displayName)),
          rows.map((r) => clean(r.code)),
          rows.map((r) => clean(r.message)),
          rows.map((r) => r.times),
          now,
          rows.map((r) => clean(r.forest ?? null)),
        ],
      ),
    );
  }

  async quarantineKeys(): Promise<Set<string>> {
    return new Set((await this.readArrays<[string]>('SELECT key FROM quarantine')).map((r) => r[0]));
  }

  async release(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.write((c) =>
      c.query('DELETE FROM quarantine WHERE key = ANY($1::text[])', [keys.map((k) => clean(k))]),
    );
  }

  async quarantined(): Promise<QuarantineEntry[]> {
    return (await this.read('SELECT * FROM quarantine ORDER BY last_seen DESC')).map(toQuarantineEntry);
  }

  // A request of the console (any instance's): recorded for the leader, never fenced.
  async requestRetry(key: string): Promise<boolean> {
    return this.write(async (c) => {
      const found = await c.query('SELECT 1 FROM quarantine WHERE key = $1', [clean(key)]);
      if (found.rowCount === 0) return false;
      await c.query(
        'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        [`retry:${clean(key)}`, new Date().toISOString()],
      );
      return true;
    }, false);
  }

  async retryRequests(): Promise<Map<string, string>> {
    const rows = await this.readArrays<[string, string]>(
      "SELECT key, value FROM meta WHERE key LIKE 'retry:%'",
    );
    return new Map(rows.map(([key, value]) => [key.slice('retry:'.length), value]));
  }

  // --- the deletion threshold ---------------------------------------------------------------

  async deletionsSince(forest: string, since: string): Promise<number> {
    const [row] = await this.readArrays<[number]>(
      'SELECT COALESCE(SUM(count), 0)::bigint FROM deletion_log WHERE forest = $1 AND at > $2',
      [clean(forest), since],
    );
    return row?.[0] ?? 0;
  }

  async recordDeletions(forest: string, count: number, at = new Date()): Promise<void> {
    if (count <= 0) return;
    await this.write((c) =>
      c.query('INSERT INTO deletion_log (forest, at, count) VALUES ($1, $2, $3)', [
        clean(forest),
        at.toISOString(),
        count,
      ]),
    );
  }

  async holdDeletions(
    forest: string,
    held: readonly Omit<HeldDeletion, 'forest' | 'heldAt' | 'approvedAt'>[],
  ): Promise<void> {
    const now = new Date().toISOString();
    const unique = lastByKey(held, (h) => h.deviceId.toLowerCase());
    const ids = unique.map((h) => clean(h.deviceId.toLowerCase()));
    await this.write(async (c) => {
      await c.query('DELETE FROM held_deletions WHERE forest = $1 AND NOT (device_id = ANY($2::text[]))', [
        clean(forest),
        ids,
      ]);
      if (unique.length === 0) return;
      await c.query(
        `INSERT INTO held_deletions (forest, device_id, graph_id, dn, reason, held_at)
         SELECT $6, u.device_id, u.graph_id, u.dn, u.reason, $5
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(device_id, graph_id, dn, reason)
         ON CONFLICT (forest, device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn, reason = excluded.reason`,
        [
          ids,
          unique.map((h) => clean(h.graphId)),
          unique.map((h) => clean(h.dn)),
          unique.map((h) => clean(h.reason)),
          now,
          clean(forest),
        ],
      );
    });
  }

  async heldDeletions(): Promise<HeldDeletion[]> {
    return (await this.read(
      `SELECT ${HELD_COLUMNS} FROM held_deletions ORDER BY held_at, forest, device_id`,
    )) as unknown as HeldDeletion[];
  }

  // An administrator's approval (approve-deletes, any instance's console): never fenced. It empties
  // the deletion windows of the forests it released deletions in.
  async approveDeletions(max?: number): Promise<HeldDeletion[]> {
    const now = new Date().toISOString();
    return this.write(async (c) => {
      await c.query(
        `WITH approved AS (
           UPDATE held_deletions SET approved_at = $1 WHERE (forest, device_id) IN (
             SELECT forest, device_id FROM held_deletions WHERE approved_at IS NULL
              ORDER BY held_at, forest, device_id LIMIT $2)
           RETURNING forest)
         DELETE FROM deletion_log WHERE forest IN (SELECT forest FROM approved)`,
        [now, max ?? null],
      );
      return (
        await c.query<Row>(
          `SELECT ${HELD_COLUMNS} FROM held_deletions WHERE approved_at = $1 ORDER BY held_at, forest, device_id`,
          [now],
        )
      ).rows as unknown as HeldDeletion[];
    }, false);
  }

  async deletionsDone(
    forest: string,
    deviceIds: readonly string[],
    options: { clearWindow?: boolean } = {},
  ): Promise<void> {
    if (deviceIds.length === 0 && !options.clearWindow) return;
    await this.write(async (c) => {
      if (deviceIds.length > 0)
        await c.query('DELETE FROM held_deletions WHERE forest = $1 AND device_id = ANY($2::text[])', [
          clean(forest),
          deviceIds.map((id) => clean(id.toLowerCase())),
        ]);
      if (options.clearWindow) await c.query('DELETE FROM deletion_log WHERE forest = $1', [clean(forest)]);
    });
  }

  // --- the scope ------------------------------------------------------------------------------

  async scopeFingerprint(): Promise<string | undefined> {
    const [row] = await this.readArrays<[string]>("SELECT value FROM meta WHERE key = 'scopeFingerprint'");
    return row?.[0];
  }

  async setScopeFingerprint(fingerprint: string): Promise<void> {
    await this.write((c) =>
      c.query(
        `INSERT INTO meta (key, value) VALUES ('scopeFingerprint', $1)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [clean(fingerprint)],
      ),
    );
  }

  async scopeGroups(): Promise<ScopeGroupState> {
    const tracks = (
      await this.readArrays<[string[], string]>(
        'SELECT group_ids, delta_link FROM scope_group_tracks ORDER BY position',
      )
    ).map(([groupIds, deltaLink]) => ({ groupIds, deltaLink }));
    const edges: ScopeGroupEdge[] = [];
    for (const [groupId, memberId, memberType] of await this.readArrays<[string, string, string]>(
      'SELECT group_id, member_id, member_type FROM scope_group_members',
    )) {
      if (memberType === 'device' || memberType === 'group') edges.push({ groupId, memberId, memberType });
    }
    return { tracks, edges };
  }

  async commitScopeGroups(commit: ScopeGroupCommit): Promise<void> {
    // As the SQLite store applies them, in order: dropped groups, removed edges, added edges, tracks.
    const added = lastByKey(commit.added, (e) => `${e.groupId}\u0000${e.memberId}`);
    await this.write(async (c) => {
      if (commit.droppedGroups.length > 0)
        await c.query('DELETE FROM scope_group_members WHERE group_id = ANY($1::text[])', [
          commit.droppedGroups.map((g) => clean(g)),
        ]);
      if (commit.removed.length > 0)
        await c.query(
          `DELETE FROM scope_group_members m USING unnest($1::text[], $2::text[]) AS r(group_id, member_id)
            WHERE m.group_id = r.group_id AND m.member_id = r.member_id`,
          [commit.removed.map((e) => clean(e.groupId)), commit.removed.map((e) => clean(e.memberId))],
        );
      if (added.length > 0)
        await c.query(
          `INSERT INTO scope_group_members (group_id, member_id, member_type)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT (group_id, member_id) DO UPDATE SET member_type = excluded.member_type`,
          [
            added.map((e) => clean(e.groupId)),
            added.map((e) => clean(e.memberId)),
            added.map((e) => clean(e.memberType)),
          ],
        );
      await c.query('DELETE FROM scope_group_tracks');
      if (commit.tracks.length > 0)
        await c.query(
          `INSERT INTO scope_group_tracks (position, group_ids, delta_link)
           SELECT n - 1, g, d FROM unnest($1::json[], $2::text[]) WITH ORDINALITY AS t(g, d, n)`,
          [
            commit.tracks.map((t) => JSON.stringify(t.groupIds)),
            commit.tracks.map((t) => clean(t.deltaLink)),
          ],
        );
    });
  }

  // --- runs -----------------------------------------------------------------------------------

  async startRun(mode: RunMode, dryRun: boolean): Promise<number> {
    const r = await this.fencedStatement<{ id: number }>(
      `INSERT INTO runs (started_at, mode, dry_run, outcome, epoch, instance_id, host, pid)
       SELECT $1, $2, $3, 'running', lease.epoch, lease.holder, $4, $5 FROM lease RETURNING id`,
      [new Date().toISOString(), mode, dryRun, os.hostname(), process.pid],
    );
    return Number(r.rows[0]!.id);
  }

  async finishRun(id: number, result: RunResult): Promise<void> {
    const errors = result.errors.slice(0, 1000);
    const params = [
      new Date().toISOString(),
      result.mode,
      result.created,
      result.updated,
      result.deleted,
      result.unchanged,
      result.quarantined,
      result.adopted,
      result.outcome,
      clean(result.error ?? null),
      result.durationMs,
      id,
    ];
    const update = `UPDATE runs SET finished_at = $1, mode = $2, created = $3, updated = $4, deleted = $5, unchanged = $6,
         quarantined = $7, adopted = $8, outcome = $9, error = $10, duration_ms = $11`;
    // A run without device errors (every quiet cycle) is one statement.
    if (errors.length === 0) {
      await this.fencedStatement(`${update} FROM lease WHERE id = $12`, params);
      return;
    }
    await this.write(async (c) => {
      await c.query(`${update} WHERE id = $12`, params);
      await c.query(
        `INSERT INTO run_errors (run_id, device_id, code, message)
         SELECT $1, u.device_id, u.code, u.message FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(device_id, code, message, n)
          ORDER BY n`,
        [
          id,
          errors.map((e) => clean(e.deviceId)),
          errors.map((e) => clean(e.code)),
          errors.map((e) => clean(e.message)),
        ],
      );
    });
  }

  async recentRuns(limit = 20): Promise<RunRecord[]> {
    return (await this.read('SELECT * FROM runs ORDER BY id DESC LIMIT $1', [limit])).map(toRun);
  }

  async getRun(id: number): Promise<RunRecord | undefined> {
    if (!Number.isSafeInteger(id)) return undefined;
    const [row] = await this.read('SELECT * FROM runs WHERE id = $1', [id]);
    return row ? toRun(row) : undefined;
  }

  async runErrors(runId: number): Promise<DeviceError[]> {
    if (!Number.isSafeInteger(runId)) return [];
    return (await this.read(
      'SELECT device_id AS "deviceId", code, message FROM run_errors WHERE run_id = $1 ORDER BY id',
      [runId],
    )) as unknown as DeviceError[];
  }

  async runErrorCounts(sinceRunId: number): Promise<Map<number, number>> {
    const rows = await this.readArrays<[number, number]>(
      'SELECT run_id, COUNT(*) FROM run_errors WHERE run_id >= $1 GROUP BY run_id',
      [sinceRunId],
    );
    return new Map(rows);
  }

  async recentDeviceErrors(limit: number): Promise<RecentDeviceError[]> {
    return (
      await this.read(
        `SELECT e.run_id AS "runId", r.started_at AS "startedAt", e.device_id AS "deviceId", e.code, e.message
           FROM run_errors e JOIN runs r ON r.id = e.run_id ORDER BY e.run_id DESC, e.id DESC LIMIT $1`,
        [limit],
      )
    ).map((r) => ({ ...r, runId: Number(r.runId) })) as unknown as RecentDeviceError[];
  }

  async deviceErrors(keys: readonly string[], limit: number): Promise<RecentDeviceError[]> {
    if (keys.length === 0) return [];
    const [a, b = a] = keys;
    return (
      await this.read(
        `SELECT e.run_id AS "runId", r.started_at AS "startedAt", e.device_id AS "deviceId", e.code, e.message
           FROM run_errors e JOIN runs r ON r.id = e.run_id
          WHERE e.run_id > (SELECT COALESCE(MAX(id), 0) - 200 FROM runs) AND e.device_id IN ($1, $2)
          ORDER BY e.run_id DESC LIMIT $3`,
        [clean(a!), clean(b!), limit],
      )
    ).map((r) => ({ ...r, runId: Number(r.runId) })) as unknown as RecentDeviceError[];
  }

  // --- reporting and the console's device index -------------------------------------------------

  async counts(): Promise<StoreCounts> {
    const [row] = await this.readArrays<
      [number, number, number, number, number, number, ForestCounts | null]
    >(
      `SELECT (SELECT COUNT(*) FROM devices), (SELECT COUNT(*) FROM objects),
              (SELECT COUNT(*) FROM quarantine), (SELECT COUNT(*) FROM unmanaged),
              (SELECT COUNT(*) FROM devices WHERE reason IS NOT NULL),
              (SELECT COUNT(*) FROM devices WHERE reason LIKE 'unrouted:%'),
              (SELECT json_object_agg(forest, json_build_object('managedObjects', m, 'unmanaged', u))
                 FROM (SELECT forest, SUM(m)::int AS m, SUM(u)::int AS u FROM (
                         SELECT forest, 1 AS m, 0 AS u FROM objects
                         UNION ALL SELECT forest, 0, 1 FROM unmanaged) AS rows GROUP BY forest) AS f)`,
    );
    const [
      cloudDevices = 0,
      managedObjects = 0,
      quarantined = 0,
      unmanaged = 0,
      notWritten = 0,
      unrouted = 0,
      forests = null,
    ] = row ?? [];
    return {
      cloudDevices,
      managedObjects,
      quarantined,
      unmanaged,
      notWritten,
      unrouted,
      forests: forests ?? {},
    };
  }

  async changeStamp(): Promise<string> {
    const [row] = await this.readArrays<[number, boolean]>('SELECT last_value, is_called FROM change_seq');
    return row ? `${row[0]}/${row[1] ? 1 : 0}` : '';
  }

  /** Rows written since a mark, read from a little before it: a commit can land after a later one. */
  private static feedFrom(mark: string): string {
    const t = Date.parse(mark);
    return mark && Number.isFinite(t) ? new Date(t - FEED_OVERLAP_MS).toISOString() : mark;
  }

  async devicesChangedSince(mark: string): Promise<DeviceSummary[]> {
    return this.summaries('WHERE updated_at >= $1 ORDER BY updated_at, graph_id', [
      PostgresStateStore.feedFrom(mark),
    ]);
  }

  /** Device summaries, the listed properties extracted by the server (much cheaper than parsing every device's JSON). */
  private async summaries(where: string, params: unknown[]): Promise<DeviceSummary[]> {
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    let rows: Row[];
    try {
      // The listed properties are extracted by the server: much cheaper than parsing every device's JSON.
      rows = (
        await this.pool.query<Row>(
          `SELECT graph_id, device_id, updated_at, forest, reason, reason_rule,
             json->>'displayName' AS display_name,
             CASE json_typeof(json->'accountEnabled') WHEN 'boolean' THEN json->>'accountEnabled' END AS enabled,
             json->>'operatingSystem' AS os_type,
             json->>'operatingSystemVersion' AS os_version,
             json->>'trustType' AS trust_type,
             COALESCE(relations->'registeredOwners'->0->>'userPrincipalName',
                      relations->'registeredOwners'->0->>'onPremisesSecurityIdentifier',
                      relations->'registeredOwners'->0->>'id') AS owner
           FROM devices ${where}`,
          params,
        )
      ).rows;
    } catch (err) {
      if ((err as { code?: unknown }).code === undefined || isConnectionError(err))
        throw storeError(err, this.location);
      // the server refused the JSON of some row (a \u0000 escape): parse them in JavaScript instead
      const raw = await this.read(
        `SELECT graph_id, device_id, json::text AS json, relations::text AS relations, updated_at, forest, reason, reason_rule
           FROM devices ${where}`,
        params,
      );
      return raw.map((d) => {
        const device = parse<CloudDevice>(d.json as string);
        const owner = parse<DeviceRelations>(d.relations as string | null)?.registeredOwners?.[0];
        return {
          graphId: d.graph_id as string,
          deviceId: text(d.device_id),
          updatedAt: d.updated_at as string,
          displayName: text(device?.displayName),
          enabled: typeof device?.accountEnabled === 'boolean' ? device.accountEnabled : null,
          osType: text(device?.operatingSystem),
          osVersion: text(device?.operatingSystemVersion),
          trustType: text(device?.trustType),
          owner: owner
            ? (owner.userPrincipalName ?? owner.onPremisesSecurityIdentifier ?? owner.id ?? null)
            : null,
          forest: text(d.forest),
          reason: text(d.reason),
          rule: text(d.reason_rule),
        };
      });
    }
    return rows.map((r) => ({
      graphId: r.graph_id as string,
      deviceId: text(r.device_id),
      updatedAt: r.updated_at as string,
      displayName: text(r.display_name),
      enabled: r.enabled === 'true' ? true : r.enabled === 'false' ? false : null,
      osType: text(r.os_type),
      osVersion: text(r.os_version),
      trustType: text(r.trust_type),
      owner: text(r.owner),
      forest: text(r.forest),
      reason: text(r.reason),
      rule: text(r.reason_rule),
    }));
  }

  async deviceGraphIds(): Promise<string[]> {
    return (await this.readArrays<[string]>('SELECT graph_id FROM devices')).map((r) => r[0]);
  }

  async objectsChangedSince(mark: string): Promise<ObjectSummary[]> {
    return (await this.read(
      `SELECT forest, device_id AS "deviceId", graph_id AS "graphId", dn, last_synced_at AS "lastSyncedAt"
         FROM objects WHERE last_synced_at >= $1 ORDER BY last_synced_at, forest, device_id`,
      [PostgresStateStore.feedFrom(mark)],
    )) as unknown as ObjectSummary[];
  }

  async objectDeviceIds(): Promise<string[]> {
    return (await this.readArrays<[string]>("SELECT forest || '/' || device_id FROM objects")).map(
      (r) => r[0],
    );
  }

  async unmanagedStamp(): Promise<string> {
    const [row] = await this.readArrays<[string]>(
      "SELECT COUNT(*) || '/' || COALESCE(MAX(seen_at), '') FROM unmanaged",
    );
    return row?.[0] ?? '';
  }

  // --- the group of instances -------------------------------------------------------------------

  async groupMembers(): Promise<GroupMember[]> {
    const rows = await this.read(
      `SELECT instance_id, host, pid, command, role, epoch, started_at, heartbeat_at FROM group_members
        WHERE heartbeat_at > clock_timestamp() - interval '10 minutes'
        ORDER BY role = 'leader' DESC, host, pid`,
    );
    return rows.map((r) => ({
      instanceId: r.instance_id as string,
      host: r.host as string,
      pid: Number(r.pid),
      command: r.command as string,
      role: r.role === 'leader' ? 'leader' : 'standby',
      epoch: r.epoch === null ? null : Number(r.epoch),
      startedAt: iso(r.started_at),
      heartbeatAt: iso(r.heartbeat_at),
    }));
  }

  async leaderTerms(limit = 20): Promise<LeaderTerm[]> {
    const rows = await this.read('SELECT * FROM leader_terms ORDER BY epoch DESC LIMIT $1', [limit]);
    return rows.map((r) => ({
      epoch: Number(r.epoch),
      instanceId: r.instance_id as string,
      host: r.host as string,
      pid: Number(r.pid),
      command: r.command as string,
      acquiredAt: iso(r.acquired_at),
      endedAt: r.ended_at ? iso(r.ended_at) : null,
      endReason: (r.end_reason as string | null) ?? null,
      firstWriteAt: (r.first_write_at as string | null) ?? null,
      lastWriteAt: (r.last_write_at as string | null) ?? null,
      writes: Number(r.writes),
    }));
  }
}

/** Migrates the store and checks that it can be read consistently (every table of its version). */
async function prepare(pool: pg.Pool, location: string): Promise<void> {
  const client = await pool.connect();
  try {
    const before = await readSchemaState(client);
    const newer = (version: number): DwbError =>
      new DwbError(
        'DWB_STATE_VERSION',
        `the state store ${location} has schema version ${version}, written by a newer device-writeback (this one reads up to version ${POSTGRES_SCHEMA_VERSION}); it was not used.`,
        {
          fix: `Run the newer device-writeback that wrote this store, or drop it (DROP SCHEMA ${POSTGRES_SCHEMA} CASCADE; it can always be rebuilt: AD holds the anchors, Graph the devices) and run \`device-writeback sync --full\`.`,
        },
      );
    if (before.version > POSTGRES_SCHEMA_VERSION) throw newer(before.version);
    if (before.versionRows > 1) throw damaged(location, `schema_version holds ${before.versionRows} rows`);
    if (before.version === 0 && before.tables.size > 0)
      throw damaged(
        location,
        `the schema ${POSTGRES_SCHEMA} holds tables (${[...before.tables].sort().join(', ')}) but no schema version`,
      );
    if (before.version < POSTGRES_SCHEMA_VERSION) {
      const found = await migrate(client);
      if (found > POSTGRES_SCHEMA_VERSION) throw newer(found);
    }
    const after = await readSchemaState(client);
    const missing = POSTGRES_TABLES.filter((t) => !after.tables.has(t));
    if (after.version !== POSTGRES_SCHEMA_VERSION || after.versionRows !== 1 || missing.length > 0) {
      throw damaged(
        location,
        missing.length > 0
          ? `the table${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of schema version ${after.version} ${missing.length === 1 ? 'is' : 'are'} missing`
          : `schema version ${after.version} after migration`,
      );
    }
    const lease = await client.query(`SELECT count(*)::int AS n FROM ${POSTGRES_SCHEMA}.leader_lease`);
    if (lease.rows[0]?.n !== 1) throw damaged(location, 'the leader_lease row is missing');
  } finally {
    client.release();
  }
}
