// The embedded state store: SQLite in WAL mode, one file next to the configuration, one writer at a
// time (a lock file), any number of readers. Implements StateStore; all of its SQL is here.
//
// A store is never used half-read: at open its version is checked (a newer product's store is
// refused, DWB_STATE_VERSION) and its pages (PRAGMA quick_check; a damaged file is refused,
// DWB_STATE_CORRUPT); a corruption met later, mid-run, is reported with the same code. Its files
// hold every device, owner SID and the delta link: they are readable by their owner only.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { CloudDevice, DeviceRelations } from '../../entra/types.js';
import { DwbError, causeText } from '../../errors.js';
import { fingerprint } from '../fingerprint.js';
import os from 'node:os';
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
import { migrate, SQLITE_SCHEMA_VERSION } from './schema.js';
import { lockHolder, pidAlive, takeWriterLock, type WriterLock } from './writer-lock.js';

/** SQLite's answers for a file that is damaged or is not a database at all. */
function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

function corrupt(file: string, detail: string, cause?: unknown): DwbError {
  return new DwbError(
    'DWB_STATE_CORRUPT',
    `the state store ${file} is damaged (${detail}); it was not used, so nothing was read from it half-way.`,
    {
      cause,
      fix: `Move it aside (mv ${file} ${file}.damaged, and its -wal and -shm files), keep it for analysis, and run \`device-writeback sync --full\`: it rebuilds the state from AD (which holds the anchors) and Entra ID, with no duplicate and no loss.`,
    },
  );
}

/**
 * Refuses a store written by a newer version (DWB_STATE_VERSION) or whose pages are damaged
 * (DWB_STATE_CORRUPT): at open, and in the state.writable check.
 */
export function assertStoreUsable(db: Database.Database, file: string): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new DwbError(
      'DWB_STATE_VERSION',
      `the state store ${file} has schema version ${version}, written by a newer device-writeback (this one reads up to version ${SQLITE_SCHEMA_VERSION}); it was not used.`,
    );
  }
  const check = db.pragma('quick_check', { simple: true });
  if (check !== 'ok') throw corrupt(file, `SQLite's integrity check says: ${String(check).split('\n')[0]}`);
}

/** A failure to open the store as the user's error: damaged, too new, or unavailable. */
export function storeOpenError(file: string, err: unknown): DwbError {
  if (err instanceof DwbError) return err;
  if (isCorruption(err)) return corrupt(file, causeText(err), err);
  return new DwbError('DWB_STATE_UNAVAILABLE', `cannot open the state store ${file}: ${causeText(err)}`);
}

/** Creates the file readable by its owner only, or narrows an existing one (SQLite gives its -wal and -shm the same mode). */
function ownerOnly(file: string): void {
  if (!existsSync(file)) {
    closeSync(openSync(file, 'a', 0o600));
    return;
  }
  if ((statSync(file).mode & 0o077) !== 0) {
    try {
      chmodSync(file, 0o600);
    } catch {
      /* not ours to change (another user's store opened read-only): SQLite says so if it matters */
    }
  }
}

type Row = Record<string, unknown>;

function toRun(r: Row): RunRecord {
  return {
    id: r.id as number,
    startedAt: r.started_at as string,
    finishedAt: (r.finished_at as string | null) ?? null,
    mode: r.mode as RunMode,
    dryRun: r.dry_run === 1,
    created: r.created as number,
    updated: r.updated as number,
    deleted: r.deleted as number,
    unchanged: r.unchanged as number,
    quarantined: r.quarantined as number,
    adopted: (r.adopted as number | null) ?? 0,
    outcome: r.outcome as RunOutcome,
    error: (r.error as string | null) ?? null,
    durationMs: (r.duration_ms as number | null) ?? null,
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
    attempts: r.attempts as number,
  };
}

function toStored(row: Row): StoredDevice {
  return {
    device: JSON.parse(row.json as string) as CloudDevice,
    relations: row.relations ? (JSON.parse(row.relations as string) as DeviceRelations) : null,
    forest: (row.forest as string | null) ?? null,
    reason: (row.reason as string | null) ?? null,
    rule: (row.reason_rule as string | null) ?? null,
  };
}

function parse<T>(json: string | null): T | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}

export class SqliteStateStore implements StateStore {
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly location: string,
    private readonly db: Database.Database,
    private readonly lock: WriterLock | undefined,
  ) {}

  /**
   * Opens (and creates) the store. `writer: true` takes the one-writer lock (sync, run); readers
   * (status, devices, the console) do not.
   */
  static open(file: string, options: OpenOptions): SqliteStateStore {
    const dir = path.dirname(file);
    if (!existsSync(dir)) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new DwbError('DWB_STATE_UNAVAILABLE', `cannot create ${dir}: ${causeText(err)}`);
      }
    }
    const lock = options.writer ? takeWriterLock(file, options.command) : undefined;
    let db: Database.Database | undefined;
    try {
      ownerOnly(file);
      db = new Database(file);
      db.pragma('busy_timeout = 5000');
      assertStoreUsable(db, file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
      if (options.writer) closeInterruptedRuns(db);
    } catch (err) {
      db?.close();
      lock?.release();
      throw storeOpenError(file, err);
    }
    return guarded(new SqliteStateStore(file, db, lock));
  }

  /** Prepared statements are cached: preparing one costs more than running it. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private transaction<T>(body: () => T): T {
    return this.db.transaction(body)();
  }

  async close(): Promise<void> {
    try {
      this.db.close();
    } finally {
      this.lock?.release();
    }
  }

  // --- watermark ------------------------------------------------------------------------------

  private getMeta(key: string): string | undefined {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  private setMeta(key: string, value: string): void {
    this.stmt(
      'INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ).run(key, value);
  }

  async watermark(): Promise<Watermark> {
    return {
      deltaLink: this.getMeta('deltaLink'),
      committedAt: this.getMeta('watermarkAt'),
      lastFullAt: this.getMeta('lastFullAt'),
    };
  }

  async cycleState(): Promise<CycleState> {
    return {
      watermark: await this.watermark(),
      forests: await this.forestStates(),
      scopeFingerprint: await this.scopeFingerprint(),
    };
  }

  async commitWatermark(deltaLink: string, mode: RunMode, at = new Date()): Promise<void> {
    this.transaction(() => {
      this.setMeta('deltaLink', deltaLink);
      this.setMeta('watermarkAt', at.toISOString());
      if (mode === 'full') this.setMeta('lastFullAt', at.toISOString());
    });
  }

  // --- last known cloud state -------------------------------------------------------------------

  private readDevice(graphId: string): StoredDevice | undefined {
    const row = this.stmt(
      'SELECT json, relations, forest, reason, reason_rule FROM devices WHERE graph_id = ?',
    ).get(graphId) as Row | undefined;
    return row ? toStored(row) : undefined;
  }

  async getDevices(graphIds: readonly string[]): Promise<Map<string, StoredDevice>> {
    const out = new Map<string, StoredDevice>();
    for (const id of graphIds) {
      const stored = this.readDevice(id);
      if (stored) out.set(id, stored);
    }
    return out;
  }

  async findDeviceByDeviceId(deviceId: string): Promise<StoredDevice | undefined> {
    const row = this.stmt('SELECT graph_id FROM devices WHERE device_id = ? LIMIT 1').get(
      deviceId.toLowerCase(),
    ) as { graph_id: string } | undefined;
    return row ? this.readDevice(row.graph_id) : undefined;
  }

  async deviceFingerprints(): Promise<Map<string, number | null>> {
    const map = new Map<string, number | null>();
    for (const [graphId, fp] of this.stmt('SELECT graph_id, fp FROM devices').raw(true).iterate() as Iterable<
      [string, number | null]
    >)
      map.set(graphId, fp);
    return map;
  }

  async putDevices(writes: readonly DeviceWrite[], now = new Date().toISOString()): Promise<number> {
    if (writes.length === 0) return 0;
    const upsert = this.stmt(
      `INSERT INTO devices(graph_id, device_id, json, relations, updated_at, fp, forest, reason, reason_rule)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(graph_id) DO UPDATE SET device_id = excluded.device_id, json = excluded.json,
           relations = excluded.relations, updated_at = excluded.updated_at, fp = excluded.fp,
           forest = excluded.forest, reason = excluded.reason, reason_rule = excluded.reason_rule
         WHERE devices.fp IS NOT excluded.fp`,
    );
    return this.transaction(() => {
      let written = 0;
      for (const {
        device,
        relations,
        storedFingerprint,
        forest = null,
        reason = null,
        rule = null,
      } of writes) {
        // The fingerprint covers where the device goes and why it is not: a new disposition is written.
        const fp = fingerprint(device, relations, forest, reason, rule);
        if (storedFingerprint === fp) continue;
        written += upsert.run(
          device.id,
          device.deviceId?.toLowerCase() ?? null,
          JSON.stringify(device),
          relations ? JSON.stringify(relations) : null,
          now,
          fp,
          forest,
          reason,
          rule,
        ).changes;
      }
      return written;
    });
  }

  async storedDevicesAfter(after: string, limit: number): Promise<(StoredDevice & { graphId: string })[]> {
    const rows = this.stmt(
      'SELECT graph_id, json, relations, forest, reason, reason_rule FROM devices WHERE graph_id > ? ORDER BY graph_id LIMIT ?',
    ).all(after, limit) as Row[];
    return rows.map((r) => ({ graphId: r.graph_id as string, ...toStored(r) }));
  }

  async notWrittenDevices(): Promise<(DeviceSummary & { reason: string })[]> {
    const rows = await this.summaries('WHERE reason IS NOT NULL', []);
    return rows
      .filter((r): r is DeviceSummary & { reason: string } => typeof r.reason === 'string')
      .sort((a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? ''));
  }

  async deleteDevices(graphIds: readonly string[]): Promise<void> {
    if (graphIds.length === 0) return;
    const del = this.stmt('DELETE FROM devices WHERE graph_id = ?');
    this.transaction(() => {
      for (const id of graphIds) del.run(id);
    });
  }

  async notWrittenCounts(): Promise<NotWrittenCount[]> {
    return this.stmt(
      `SELECT reason_rule AS rule, reason, COUNT(*) AS count FROM devices
       WHERE reason IS NOT NULL GROUP BY reason_rule, reason
       ORDER BY count DESC, rule, reason`,
    ).all() as NotWrittenCount[];
  }

  // --- object map -----------------------------------------------------------------------------

  async getObjects(forest: string, deviceIds: readonly string[]): Promise<Map<string, ObjectRecord>> {
    const out = new Map<string, ObjectRecord>();
    const get = this.stmt(
      'SELECT forest, device_id, graph_id, dn, object_guid, hash, last_synced_at FROM objects WHERE forest = ? AND device_id = ?',
    );
    for (const id of deviceIds) {
      const row = get.get(forest, id.toLowerCase()) as Row | undefined;
      if (row) out.set(id.toLowerCase(), toObject(row));
    }
    return out;
  }

  async objectsOfDevices(graphIds: readonly string[]): Promise<ObjectRecord[]> {
    const out: ObjectRecord[] = [];
    const get = this.stmt(
      'SELECT forest, device_id, graph_id, dn, object_guid, hash, last_synced_at FROM objects WHERE graph_id = ?',
    );
    for (const id of graphIds) for (const row of get.all(id) as Row[]) out.push(toObject(row));
    return out;
  }

  async putObjects(records: readonly ObjectWrite[]): Promise<void> {
    if (records.length === 0) return;
    const upsert = this.stmt(
      `INSERT INTO objects(forest, device_id, graph_id, dn, object_guid, hash, last_synced_at) VALUES(?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(forest, device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn,
           object_guid = COALESCE(excluded.object_guid, objects.object_guid), hash = excluded.hash,
           last_synced_at = excluded.last_synced_at`,
    );
    const now = new Date().toISOString();
    this.transaction(() => {
      for (const r of records)
        upsert.run(
          r.forest,
          r.deviceId.toLowerCase(),
          r.graphId,
          r.dn,
          r.objectGuid,
          r.hash,
          r.lastSyncedAt ?? now,
        );
    });
  }

  async deleteObjects(forest: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    const del = this.stmt('DELETE FROM objects WHERE forest = ? AND device_id = ?');
    this.transaction(() => {
      for (const id of deviceIds) del.run(forest, id.toLowerCase());
    });
  }

  async lastSyncTimes(forest: string, deviceIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const get = this.stmt('SELECT last_synced_at FROM objects WHERE forest = ? AND device_id = ?');
    for (const id of deviceIds) {
      const row = get.get(forest, id.toLowerCase()) as { last_synced_at: string } | undefined;
      if (row) out.set(id.toLowerCase(), row.last_synced_at);
    }
    return out;
  }

  async forgetDevices(devices: readonly { graphId: string; deviceId?: string }[]): Promise<void> {
    if (devices.length === 0) return;
    const device = this.stmt('DELETE FROM devices WHERE graph_id = ?');
    const quarantine = this.stmt('DELETE FROM quarantine WHERE key = ?');
    const objects = this.stmt('DELETE FROM objects WHERE graph_id = ?');
    const object = this.stmt('DELETE FROM objects WHERE device_id = ?');
    this.transaction(() => {
      for (const d of devices) {
        device.run(d.graphId);
        quarantine.run(d.graphId);
        objects.run(d.graphId);
        if (d.deviceId) object.run(d.deviceId.toLowerCase());
      }
    });
  }

  async forgetForestsExcept(names: readonly string[]): Promise<void> {
    const keep = new Set(names);
    this.transaction(() => {
      const known = new Set<string>();
      for (const table of ['objects', 'unmanaged', 'held_deletions', 'deletion_log', 'forests']) {
        const column = table === 'forests' ? 'name' : 'forest';
        for (const f of this.stmt(`SELECT DISTINCT ${column} FROM ${table}`).pluck().all() as string[])
          known.add(f);
      }
      for (const forest of known) {
        if (keep.has(forest)) continue;
        for (const table of ['objects', 'unmanaged', 'held_deletions', 'deletion_log'])
          this.stmt(`DELETE FROM ${table} WHERE forest = ?`).run(forest);
        this.stmt('DELETE FROM forests WHERE name = ?').run(forest);
      }
    });
  }

  async replaceUnmanaged(forest: string, objects: readonly UnmanagedObject[]): Promise<void> {
    const now = new Date().toISOString();
    this.transaction(() => {
      this.stmt('DELETE FROM unmanaged WHERE forest = ?').run(forest);
      const insert = this.stmt(
        'INSERT OR REPLACE INTO unmanaged(forest, dn, device_id, display_name, seen_at) VALUES(?, ?, ?, ?, ?)',
      );
      for (const o of objects) insert.run(forest, o.dn, o.deviceId, o.displayName, now);
    });
  }

  async unmanagedObjects(): Promise<(UnmanagedObject & { forest: string; seenAt: string })[]> {
    return this.stmt(
      'SELECT forest, dn, device_id AS deviceId, display_name AS displayName, seen_at AS seenAt FROM unmanaged ORDER BY forest, dn',
    ).all() as (UnmanagedObject & { forest: string; seenAt: string })[];
  }

  // --- forests --------------------------------------------------------------------------------

  async forestStates(): Promise<Map<string, ForestState>> {
    const rows = this.stmt('SELECT * FROM forests').all() as Row[];
    return new Map(
      rows.map((r) => [
        r.name as string,
        {
          needsFull: r.needs_full === 1,
          lastError: (r.last_error as string | null) ?? null,
          lastFullAt: (r.last_full_at as string | null) ?? null,
          domains: parse<ForestState['domains']>((r.domains as string | null) ?? null),
          updatedAt: r.updated_at as string,
        },
      ]),
    );
  }

  async setForestState(forest: string, state: Partial<Omit<ForestState, 'updatedAt'>>): Promise<void> {
    const now = new Date().toISOString();
    this.transaction(() => {
      this.stmt('INSERT INTO forests(name, updated_at) VALUES(?, ?) ON CONFLICT(name) DO NOTHING').run(
        forest,
        now,
      );
      if (state.needsFull !== undefined)
        this.stmt('UPDATE forests SET needs_full = ? WHERE name = ?').run(state.needsFull ? 1 : 0, forest);
      if (state.lastError !== undefined)
        this.stmt('UPDATE forests SET last_error = ? WHERE name = ?').run(state.lastError, forest);
      if (state.lastFullAt !== undefined)
        this.stmt('UPDATE forests SET last_full_at = ? WHERE name = ?').run(state.lastFullAt, forest);
      if (state.domains !== undefined)
        this.stmt('UPDATE forests SET domains = ? WHERE name = ?').run(
          state.domains === null ? null : JSON.stringify(state.domains),
          forest,
        );
      this.stmt('UPDATE forests SET updated_at = ? WHERE name = ?').run(now, forest);
    });
  }

  // --- quarantine -----------------------------------------------------------------------------

  async quarantine(issues: readonly QuarantineIssue[]): Promise<void> {
    if (issues.length === 0) return;
    const upsert = this.stmt(
      `INSERT INTO quarantine(key, forest, graph_id, device_id, display_name, code, message, first_seen, last_seen, attempts)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
         ON CONFLICT(key) DO UPDATE SET forest = excluded.forest, code = excluded.code, message = excluded.message, display_name = excluded.display_name,
           device_id = COALESCE(excluded.device_id, quarantine.device_id), last_seen = excluded.last_seen,
           attempts = quarantine.attempts + 1`,
    );
    const now = new Date().toISOString();
    this.transaction(() => {
      for (const e of issues)
        upsert.run(
          e.key,
          e.forest ?? null,
          e.graphId,
          e.deviceId,
          e.displayName,
          e.code,
          e.message,
          now,
          now,
        );
    });
  }

  async quarantineKeys(): Promise<Set<string>> {
    return new Set((this.stmt('SELECT key FROM quarantine').all() as { key: string }[]).map((r) => r.key));
  }

  async release(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    const del = this.stmt('DELETE FROM quarantine WHERE key = ?');
    this.transaction(() => {
      for (const key of keys) del.run(key);
    });
  }

  async quarantined(): Promise<QuarantineEntry[]> {
    return (this.stmt('SELECT * FROM quarantine ORDER BY last_seen DESC').all() as Row[]).map(
      toQuarantineEntry,
    );
  }

  async requestRetry(key: string): Promise<boolean> {
    const row = this.stmt('SELECT key FROM quarantine WHERE key = ?').get(key);
    if (!row) return false;
    this.setMeta(`retry:${key}`, new Date().toISOString());
    return true;
  }

  async retryRequests(): Promise<Map<string, string>> {
    const rows = this.stmt("SELECT key, value FROM meta WHERE key LIKE 'retry:%'").all() as {
      key: string;
      value: string;
    }[];
    return new Map(rows.map((r) => [r.key.slice('retry:'.length), r.value]));
  }

  // --- the deletion threshold ---------------------------------------------------------------

  async deletionsSince(forest: string, since: string): Promise<number> {
    return (
      this.stmt('SELECT COALESCE(SUM(count), 0) AS n FROM deletion_log WHERE forest = ? AND at > ?').get(
        forest,
        since,
      ) as {
        n: number;
      }
    ).n;
  }

  async recordDeletions(forest: string, count: number, at = new Date()): Promise<void> {
    if (count <= 0) return;
    this.stmt('INSERT INTO deletion_log(forest, at, count) VALUES(?, ?, ?)').run(
      forest,
      at.toISOString(),
      count,
    );
  }

  async holdDeletions(
    forest: string,
    held: readonly Omit<HeldDeletion, 'forest' | 'heldAt' | 'approvedAt'>[],
  ): Promise<void> {
    const now = new Date().toISOString();
    this.transaction(() => {
      const keep = new Set(held.map((h) => h.deviceId.toLowerCase()));
      const ids = this.stmt('SELECT device_id FROM held_deletions WHERE forest = ?')
        .pluck()
        .all(forest) as string[];
      for (const id of ids)
        if (!keep.has(id))
          this.stmt('DELETE FROM held_deletions WHERE forest = ? AND device_id = ?').run(forest, id);
      const upsert = this.stmt(
        `INSERT INTO held_deletions(forest, device_id, graph_id, dn, reason, held_at) VALUES(?, ?, ?, ?, ?, ?)
           ON CONFLICT(forest, device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn, reason = excluded.reason`,
      );
      for (const h of held) upsert.run(forest, h.deviceId.toLowerCase(), h.graphId, h.dn, h.reason, now);
    });
  }

  async heldDeletions(): Promise<HeldDeletion[]> {
    return this.stmt(
      `SELECT forest, device_id AS deviceId, graph_id AS graphId, dn, reason, held_at AS heldAt, approved_at AS approvedAt
       FROM held_deletions ORDER BY held_at, forest, device_id`,
    ).all() as HeldDeletion[];
  }

  async approveDeletions(max?: number): Promise<HeldDeletion[]> {
    const now = new Date().toISOString();
    return this.transaction(() => {
      const pending = this.stmt(
        `SELECT forest, device_id AS deviceId FROM held_deletions WHERE approved_at IS NULL ORDER BY held_at, forest, device_id LIMIT ?`,
      ).all(max ?? -1) as { forest: string; deviceId: string }[];
      const approve = this.stmt(
        'UPDATE held_deletions SET approved_at = ? WHERE forest = ? AND device_id = ?',
      );
      for (const p of pending) approve.run(now, p.forest, p.deviceId);
      for (const forest of new Set(pending.map((p) => p.forest)))
        this.stmt('DELETE FROM deletion_log WHERE forest = ?').run(forest);
      return this.stmt(
        `SELECT forest, device_id AS deviceId, graph_id AS graphId, dn, reason, held_at AS heldAt, approved_at AS approvedAt
         FROM held_deletions WHERE approved_at = ? ORDER BY held_at, forest, device_id`,
      ).all(now) as HeldDeletion[];
    });
  }

  async deletionsDone(
    forest: string,
    deviceIds: readonly string[],
    options: { clearWindow?: boolean } = {},
  ): Promise<void> {
    this.transaction(() => {
      const del = this.stmt('DELETE FROM held_deletions WHERE forest = ? AND device_id = ?');
      for (const id of deviceIds) del.run(forest, id.toLowerCase());
      if (options.clearWindow) this.stmt('DELETE FROM deletion_log WHERE forest = ?').run(forest);
    });
  }

  // --- the scope ------------------------------------------------------------------------------

  async scopeFingerprint(): Promise<string | undefined> {
    return this.getMeta('scopeFingerprint');
  }

  async setScopeFingerprint(fingerprint: string): Promise<void> {
    this.setMeta('scopeFingerprint', fingerprint);
  }

  async scopeGroups(): Promise<ScopeGroupState> {
    const tracks = (
      this.stmt('SELECT group_ids, delta_link FROM scope_group_tracks ORDER BY position').all() as {
        group_ids: string;
        delta_link: string;
      }[]
    ).map((t) => ({ groupIds: JSON.parse(t.group_ids) as string[], deltaLink: t.delta_link }));
    const edges: ScopeGroupEdge[] = [];
    for (const [groupId, memberId, memberType] of this.stmt(
      'SELECT group_id, member_id, member_type FROM scope_group_members',
    )
      .raw(true)
      .iterate() as Iterable<[string, string, string]>) {
      if (memberType === 'device' || memberType === 'group') edges.push({ groupId, memberId, memberType });
    }
    return { tracks, edges };
  }

  async commitScopeGroups(commit: ScopeGroupCommit): Promise<void> {
    const dropGroup = this.stmt('DELETE FROM scope_group_members WHERE group_id = ?');
    const remove = this.stmt('DELETE FROM scope_group_members WHERE group_id = ? AND member_id = ?');
    const add = this.stmt(
      `INSERT INTO scope_group_members(group_id, member_id, member_type) VALUES(?, ?, ?)
         ON CONFLICT(group_id, member_id) DO UPDATE SET member_type = excluded.member_type`,
    );
    const track = this.stmt(
      'INSERT INTO scope_group_tracks(position, group_ids, delta_link) VALUES(?, ?, ?)',
    );
    this.transaction(() => {
      for (const id of commit.droppedGroups) dropGroup.run(id);
      for (const e of commit.removed) remove.run(e.groupId, e.memberId);
      for (const e of commit.added) add.run(e.groupId, e.memberId, e.memberType);
      this.stmt('DELETE FROM scope_group_tracks').run();
      commit.tracks.forEach((t, i) => track.run(i, JSON.stringify(t.groupIds), t.deltaLink));
    });
  }

  // --- runs -----------------------------------------------------------------------------------

  async startRun(mode: RunMode, dryRun: boolean): Promise<number> {
    const info = this.stmt('INSERT INTO runs(started_at, mode, dry_run, outcome) VALUES(?, ?, ?, ?)').run(
      new Date().toISOString(),
      mode,
      dryRun ? 1 : 0,
      'running',
    );
    return Number(info.lastInsertRowid);
  }

  async finishRun(id: number, result: RunResult): Promise<void> {
    this.transaction(() => {
      this.stmt(
        `UPDATE runs SET finished_at = ?, mode = ?, created = ?, updated = ?, deleted = ?, unchanged = ?, quarantined = ?,
             adopted = ?, outcome = ?, error = ?, duration_ms = ? WHERE id = ?`,
      ).run(
        new Date().toISOString(),
        result.mode,
        result.created,
        result.updated,
        result.deleted,
        result.unchanged,
        result.quarantined,
        result.adopted,
        result.outcome,
        result.error ?? null,
        result.durationMs,
        id,
      );
      const insert = this.stmt('INSERT INTO run_errors(run_id, device_id, code, message) VALUES(?, ?, ?, ?)');
      for (const e of result.errors.slice(0, 1000)) insert.run(id, e.deviceId, e.code, e.message);
    });
  }

  async recentRuns(limit = 20): Promise<RunRecord[]> {
    return (this.stmt('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toRun);
  }

  async getRun(id: number): Promise<RunRecord | undefined> {
    const row = this.stmt('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return row ? toRun(row) : undefined;
  }

  async runErrors(runId: number): Promise<DeviceError[]> {
    return this.stmt('SELECT device_id AS deviceId, code, message FROM run_errors WHERE run_id = ?').all(
      runId,
    ) as DeviceError[];
  }

  async runErrorCounts(sinceRunId: number): Promise<Map<number, number>> {
    const rows = this.stmt(
      'SELECT run_id AS id, COUNT(*) AS n FROM run_errors WHERE run_id >= ? GROUP BY run_id',
    ).all(sinceRunId) as { id: number; n: number }[];
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  async recentDeviceErrors(limit: number): Promise<RecentDeviceError[]> {
    return this.stmt(
      `SELECT e.run_id AS runId, r.started_at AS startedAt, e.device_id AS deviceId, e.code, e.message
       FROM run_errors e JOIN runs r ON r.id = e.run_id ORDER BY e.run_id DESC, e.rowid DESC LIMIT ?`,
    ).all(limit) as RecentDeviceError[];
  }

  async deviceErrors(keys: readonly string[], limit: number): Promise<RecentDeviceError[]> {
    if (keys.length === 0) return [];
    const [a, b = a] = keys;
    return this.stmt(
      `SELECT e.run_id AS runId, r.started_at AS startedAt, e.device_id AS deviceId, e.code, e.message
       FROM run_errors e JOIN runs r ON r.id = e.run_id
       WHERE e.run_id > (SELECT COALESCE(MAX(id), 0) - 200 FROM runs) AND e.device_id IN (?, ?)
       ORDER BY e.run_id DESC LIMIT ?`,
    ).all(a, b, limit) as RecentDeviceError[];
  }

  // --- reporting and the console's device index -------------------------------------------------

  async counts(): Promise<StoreCounts> {
    const count = (table: string): number =>
      (this.stmt(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const forests: StoreCounts['forests'] = {};
    for (const r of this.stmt('SELECT forest, COUNT(*) AS n FROM objects GROUP BY forest').all() as Row[])
      forests[r.forest as string] = { managedObjects: r.n as number, unmanaged: 0 };
    for (const r of this.stmt('SELECT forest, COUNT(*) AS n FROM unmanaged GROUP BY forest').all() as Row[])
      (forests[r.forest as string] ??= { managedObjects: 0, unmanaged: 0 }).unmanaged = r.n as number;
    const reasons = this.stmt(
      "SELECT COUNT(*) AS n, COALESCE(SUM(reason LIKE 'unrouted:%'), 0) AS u FROM devices WHERE reason IS NOT NULL",
    ).get() as { n: number; u: number };
    return {
      cloudDevices: count('devices'),
      managedObjects: count('objects'),
      quarantined: count('quarantine'),
      unmanaged: count('unmanaged'),
      notWritten: reasons.n,
      unrouted: reasons.u,
      forests,
    };
  }

  async changeStamp(): Promise<string> {
    // total_changes() counts this connection's writes, data_version everybody else's.
    const mine = String(this.stmt('SELECT total_changes()').pluck().get());
    return `${mine}/${String(this.db.pragma('data_version', { simple: true }))}`;
  }

  async devicesChangedSince(mark: string): Promise<DeviceSummary[]> {
    return this.summaries('WHERE updated_at >= ? ORDER BY updated_at', [mark]);
  }

  /** Device summaries, the listed properties extracted by SQLite (much cheaper than parsing every device's JSON). */
  private async summaries(where: string, params: unknown[]): Promise<DeviceSummary[]> {
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    try {
      const rows = this.stmt(
        `SELECT graph_id, device_id, updated_at, forest, reason, reason_rule,
           json_extract(json, '$.displayName') AS display_name,
           json_type(json, '$.accountEnabled') AS enabled,
           json_extract(json, '$.operatingSystem') AS os_type,
           json_extract(json, '$.operatingSystemVersion') AS os_version,
           json_extract(json, '$.trustType') AS trust_type,
           COALESCE(json_extract(relations, '$.registeredOwners[0].userPrincipalName'),
                    json_extract(relations, '$.registeredOwners[0].onPremisesSecurityIdentifier'),
                    json_extract(relations, '$.registeredOwners[0].id')) AS owner
         FROM devices ${where}`,
      ).all(...params) as Row[];
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
    } catch {
      // SQLite refused the JSON of some row: parse them in JavaScript instead.
      const rows = this.stmt(
        `SELECT graph_id, device_id, json, relations, updated_at, forest, reason, reason_rule FROM devices ${where}`,
      ).all(...params) as Row[];
      return rows.map((d) => {
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
  }

  async deviceGraphIds(): Promise<string[]> {
    return this.stmt('SELECT graph_id FROM devices').pluck().all() as string[];
  }

  async objectsChangedSince(mark: string): Promise<ObjectSummary[]> {
    return this.stmt(
      `SELECT forest, device_id AS deviceId, graph_id AS graphId, dn, last_synced_at AS lastSyncedAt
       FROM objects WHERE last_synced_at >= ? ORDER BY last_synced_at`,
    ).all(mark) as ObjectSummary[];
  }

  async objectDeviceIds(): Promise<string[]> {
    return this.stmt("SELECT forest || '/' || device_id FROM objects").pluck().all() as string[];
  }

  async unmanagedStamp(): Promise<string> {
    return this.stmt("SELECT COUNT(*) || '/' || COALESCE(MAX(seen_at), '') AS s FROM unmanaged")
      .pluck()
      .get() as string;
  }

  // --- the group: one writer, the holder of the lock file -----------------------------------------

  async groupMembers(): Promise<GroupMember[]> {
    const holder = lockHolder(this.location);
    if (!holder?.pid) return [];
    const here = !holder.host || holder.host === os.hostname();
    if (here && !pidAlive(holder.pid)) return [];
    const since = holder.since ?? new Date().toISOString();
    return [
      {
        instanceId: `${holder.pid}@${holder.host ?? os.hostname()}`,
        host: holder.host ?? os.hostname(),
        pid: holder.pid,
        command: holder.command ?? 'sync',
        role: 'leader',
        epoch: null,
        startedAt: since,
        // the lock file has no heartbeat: a live process on this host is heard from now
        heartbeatAt: here ? new Date().toISOString() : since,
      },
    ];
  }

  async leaderTerms(): Promise<LeaderTerm[]> {
    return [];
  }
}

/**
 * The writer holds the lock: a run still "running" belongs to a process that ended before it
 * (killed with -9, or the machine stopped), and is closed as interrupted.
 */
function closeInterruptedRuns(db: Database.Database): void {
  db.prepare(
    `UPDATE runs SET outcome = 'interrupted', finished_at = ?,
       error = 'the process ended before the run finished (killed, or the machine stopped); the next run went on from the last committed watermark'
     WHERE outcome = 'running'`,
  ).run(new Date().toISOString());
}

/** The store, with a corruption met by any method reported as DWB_STATE_CORRUPT (never a crash half-way). */
function guarded(store: SqliteStateStore): SqliteStateStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || property === 'constructor') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((err: unknown) => {
          throw isCorruption(err) ? corrupt(target.location, causeText(err), err) : err;
        });
      };
    },
  });
}
