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
import type {
  DeviceError,
  DeviceSummary,
  DeviceWrite,
  HeldDeletion,
  NotWrittenCount,
  NotWrittenReason,
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
} from '../store.js';
import { migrate, SQLITE_SCHEMA_VERSION } from './schema.js';
import { takeWriterLock, type WriterLock } from './writer-lock.js';

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

function notWrittenOf(rule: unknown, reason: unknown): NotWrittenReason | null {
  return typeof rule === 'string' && typeof reason === 'string' ? { rule, reason } : null;
}

/** A device's fingerprint covers why it is not written: a device whose reason changed is written again. */
function deviceFingerprint(write: DeviceWrite): number {
  return write.notWritten
    ? fingerprint(write.device, write.relations, write.notWritten)
    : fingerprint(write.device, write.relations);
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
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version > SQLITE_SCHEMA_VERSION) {
        throw new DwbError(
          'DWB_STATE_VERSION',
          `the state store ${file} has schema version ${version}, written by a newer device-writeback (this one reads up to version ${SQLITE_SCHEMA_VERSION}); it was not used.`,
        );
      }
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok')
        throw corrupt(file, `SQLite's integrity check says: ${String(check).split('\n')[0]}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db);
      if (options.writer) closeInterruptedRuns(db);
    } catch (err) {
      db?.close();
      lock?.release();
      if (err instanceof DwbError) throw err;
      if (isCorruption(err)) throw corrupt(file, causeText(err), err);
      throw new DwbError('DWB_STATE_UNAVAILABLE', `cannot open the state store ${file}: ${causeText(err)}`);
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
      'SELECT json, relations, not_written_rule, not_written_reason FROM devices WHERE graph_id = ?',
    ).get(graphId) as
      | { json: string; relations: string | null; not_written_rule: unknown; not_written_reason: unknown }
      | undefined;
    if (!row) return undefined;
    return {
      device: JSON.parse(row.json) as CloudDevice,
      relations: row.relations ? (JSON.parse(row.relations) as DeviceRelations) : null,
      notWritten: notWrittenOf(row.not_written_rule, row.not_written_reason),
    };
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
      `INSERT INTO devices(graph_id, device_id, json, relations, updated_at, fp, not_written_rule, not_written_reason)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(graph_id) DO UPDATE SET device_id = excluded.device_id, json = excluded.json,
           relations = excluded.relations, updated_at = excluded.updated_at, fp = excluded.fp,
           not_written_rule = excluded.not_written_rule, not_written_reason = excluded.not_written_reason
         WHERE devices.fp IS NOT excluded.fp`,
    );
    return this.transaction(() => {
      let written = 0;
      for (const write of writes) {
        const fp = deviceFingerprint(write);
        if (write.storedFingerprint === fp) continue;
        const { device, relations, notWritten } = write;
        written += upsert.run(
          device.id,
          device.deviceId?.toLowerCase() ?? null,
          JSON.stringify(device),
          relations ? JSON.stringify(relations) : null,
          now,
          fp,
          notWritten?.rule ?? null,
          notWritten?.reason ?? null,
        ).changes;
      }
      return written;
    });
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
      `SELECT not_written_rule AS rule, not_written_reason AS reason, COUNT(*) AS count FROM devices
       WHERE not_written_rule IS NOT NULL GROUP BY not_written_rule, not_written_reason
       ORDER BY count DESC, rule, reason`,
    ).all() as NotWrittenCount[];
  }

  // --- object map -----------------------------------------------------------------------------

  async getObjects(deviceIds: readonly string[]): Promise<Map<string, ObjectRecord>> {
    const out = new Map<string, ObjectRecord>();
    const get = this.stmt(
      'SELECT device_id, graph_id, dn, object_guid, hash, last_synced_at FROM objects WHERE device_id = ?',
    );
    for (const id of deviceIds) {
      const row = get.get(id.toLowerCase()) as Row | undefined;
      if (row) out.set(id.toLowerCase(), toObject(row));
    }
    return out;
  }

  async getObjectsByGraphId(graphIds: readonly string[]): Promise<Map<string, ObjectRecord>> {
    const out = new Map<string, ObjectRecord>();
    const get = this.stmt(
      'SELECT device_id, graph_id, dn, object_guid, hash, last_synced_at FROM objects WHERE graph_id = ? LIMIT 1',
    );
    for (const id of graphIds) {
      const row = get.get(id) as Row | undefined;
      if (row) out.set(id, toObject(row));
    }
    return out;
  }

  async putObjects(records: readonly ObjectWrite[]): Promise<void> {
    if (records.length === 0) return;
    const upsert = this.stmt(
      `INSERT INTO objects(device_id, graph_id, dn, object_guid, hash, last_synced_at) VALUES(?, ?, ?, ?, ?, ?)
         ON CONFLICT(device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn,
           object_guid = COALESCE(excluded.object_guid, objects.object_guid), hash = excluded.hash,
           last_synced_at = excluded.last_synced_at`,
    );
    const now = new Date().toISOString();
    this.transaction(() => {
      for (const r of records)
        upsert.run(r.deviceId.toLowerCase(), r.graphId, r.dn, r.objectGuid, r.hash, r.lastSyncedAt ?? now);
    });
  }

  async deleteObjects(deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    const del = this.stmt('DELETE FROM objects WHERE device_id = ?');
    this.transaction(() => {
      for (const id of deviceIds) del.run(id.toLowerCase());
    });
  }

  async lastSyncTimes(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const get = this.stmt('SELECT last_synced_at FROM objects WHERE device_id = ?');
    for (const id of deviceIds) {
      const row = get.get(id.toLowerCase()) as { last_synced_at: string } | undefined;
      if (row) out.set(id.toLowerCase(), row.last_synced_at);
    }
    return out;
  }

  async forgetDevices(devices: readonly { graphId: string; deviceId?: string }[]): Promise<void> {
    if (devices.length === 0) return;
    const device = this.stmt('DELETE FROM devices WHERE graph_id = ?');
    const quarantine = this.stmt('DELETE FROM quarantine WHERE key = ?');
    const object = this.stmt('DELETE FROM objects WHERE device_id = ?');
    this.transaction(() => {
      for (const d of devices) {
        device.run(d.graphId);
        quarantine.run(d.graphId);
        if (d.deviceId) object.run(d.deviceId.toLowerCase());
      }
    });
  }

  async replaceUnmanaged(objects: readonly UnmanagedObject[]): Promise<void> {
    const now = new Date().toISOString();
    this.transaction(() => {
      this.stmt('DELETE FROM unmanaged').run();
      const insert = this.stmt(
        'INSERT OR REPLACE INTO unmanaged(dn, device_id, display_name, seen_at) VALUES(?, ?, ?, ?)',
      );
      for (const o of objects) insert.run(o.dn, o.deviceId, o.displayName, now);
    });
  }

  async unmanagedObjects(): Promise<(UnmanagedObject & { seenAt: string })[]> {
    return this.stmt(
      'SELECT dn, device_id AS deviceId, display_name AS displayName, seen_at AS seenAt FROM unmanaged ORDER BY dn',
    ).all() as (UnmanagedObject & { seenAt: string })[];
  }

  // --- quarantine -----------------------------------------------------------------------------

  async quarantine(issues: readonly QuarantineIssue[]): Promise<void> {
    if (issues.length === 0) return;
    const upsert = this.stmt(
      `INSERT INTO quarantine(key, graph_id, device_id, display_name, code, message, first_seen, last_seen, attempts)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, 1)
         ON CONFLICT(key) DO UPDATE SET code = excluded.code, message = excluded.message, display_name = excluded.display_name,
           device_id = COALESCE(excluded.device_id, quarantine.device_id), last_seen = excluded.last_seen,
           attempts = quarantine.attempts + 1`,
    );
    const now = new Date().toISOString();
    this.transaction(() => {
      for (const e of issues)
        upsert.run(e.key, e.graphId, e.deviceId, e.displayName, e.code, e.message, now, now);
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

  async deletionsSince(since: string): Promise<number> {
    return (
      this.stmt('SELECT COALESCE(SUM(count), 0) AS n FROM deletion_log WHERE at > ?').get(since) as {
        n: number;
      }
    ).n;
  }

  async recordDeletions(count: number, at = new Date()): Promise<void> {
    if (count <= 0) return;
    this.stmt('INSERT INTO deletion_log(at, count) VALUES(?, ?)').run(at.toISOString(), count);
  }

  async holdDeletions(held: readonly Omit<HeldDeletion, 'heldAt' | 'approvedAt'>[]): Promise<void> {
    const now = new Date().toISOString();
    this.transaction(() => {
      const keep = new Set(held.map((h) => h.deviceId.toLowerCase()));
      for (const id of this.stmt('SELECT device_id FROM held_deletions').pluck().all() as string[])
        if (!keep.has(id)) this.stmt('DELETE FROM held_deletions WHERE device_id = ?').run(id);
      const upsert = this.stmt(
        `INSERT INTO held_deletions(device_id, graph_id, dn, reason, held_at) VALUES(?, ?, ?, ?, ?)
           ON CONFLICT(device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn, reason = excluded.reason`,
      );
      for (const h of held) upsert.run(h.deviceId.toLowerCase(), h.graphId, h.dn, h.reason, now);
    });
  }

  async heldDeletions(): Promise<HeldDeletion[]> {
    return this.stmt(
      `SELECT device_id AS deviceId, graph_id AS graphId, dn, reason, held_at AS heldAt, approved_at AS approvedAt
       FROM held_deletions ORDER BY held_at, device_id`,
    ).all() as HeldDeletion[];
  }

  async approveDeletions(max?: number): Promise<HeldDeletion[]> {
    const now = new Date().toISOString();
    return this.transaction(() => {
      const pending = this.stmt(
        `SELECT device_id FROM held_deletions WHERE approved_at IS NULL ORDER BY held_at, device_id LIMIT ?`,
      )
        .pluck()
        .all(max ?? -1) as string[];
      const approve = this.stmt('UPDATE held_deletions SET approved_at = ? WHERE device_id = ?');
      for (const id of pending) approve.run(now, id);
      this.stmt('DELETE FROM deletion_log').run();
      return this.stmt(
        `SELECT device_id AS deviceId, graph_id AS graphId, dn, reason, held_at AS heldAt, approved_at AS approvedAt
         FROM held_deletions WHERE approved_at = ? ORDER BY held_at, device_id`,
      ).all(now) as HeldDeletion[];
    });
  }

  async deletionsDone(deviceIds: readonly string[], options: { clearWindow?: boolean } = {}): Promise<void> {
    this.transaction(() => {
      const del = this.stmt('DELETE FROM held_deletions WHERE device_id = ?');
      for (const id of deviceIds) del.run(id.toLowerCase());
      if (options.clearWindow) this.stmt('DELETE FROM deletion_log').run();
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
    return {
      cloudDevices: count('devices'),
      managedObjects: count('objects'),
      quarantined: count('quarantine'),
      unmanaged: count('unmanaged'),
    };
  }

  async changeStamp(): Promise<string> {
    // total_changes() counts this connection's writes, data_version everybody else's.
    const mine = String(this.stmt('SELECT total_changes()').pluck().get());
    return `${mine}/${String(this.db.pragma('data_version', { simple: true }))}`;
  }

  async devicesChangedSince(mark: string): Promise<DeviceSummary[]> {
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    try {
      // The listed properties are extracted by SQLite: much cheaper than parsing every device's JSON.
      const rows = this.stmt(
        `SELECT graph_id, device_id, updated_at,
           json_extract(json, '$.displayName') AS display_name,
           json_type(json, '$.accountEnabled') AS enabled,
           json_extract(json, '$.operatingSystem') AS os_type,
           json_extract(json, '$.operatingSystemVersion') AS os_version,
           json_extract(json, '$.trustType') AS trust_type,
           COALESCE(json_extract(relations, '$.registeredOwners[0].userPrincipalName'),
                    json_extract(relations, '$.registeredOwners[0].onPremisesSecurityIdentifier'),
                    json_extract(relations, '$.registeredOwners[0].id')) AS owner,
           not_written_rule, not_written_reason
         FROM devices WHERE updated_at >= ? ORDER BY updated_at`,
      ).all(mark) as Row[];
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
        notWritten: notWrittenOf(r.not_written_rule, r.not_written_reason),
      }));
    } catch {
      // SQLite refused the JSON of some row: parse them in JavaScript instead.
      const rows = this.stmt(
        `SELECT graph_id, device_id, json, relations, updated_at, not_written_rule, not_written_reason
         FROM devices WHERE updated_at >= ? ORDER BY updated_at`,
      ).all(mark) as {
        graph_id: string;
        device_id: string | null;
        json: string;
        relations: string | null;
        updated_at: string;
        not_written_rule: unknown;
        not_written_reason: unknown;
      }[];
      return rows.map((d) => {
        const device = parse<CloudDevice>(d.json);
        const owner = parse<DeviceRelations>(d.relations)?.registeredOwners?.[0];
        return {
          graphId: d.graph_id,
          deviceId: d.device_id,
          updatedAt: d.updated_at,
          displayName: text(device?.displayName),
          enabled: typeof device?.accountEnabled === 'boolean' ? device.accountEnabled : null,
          osType: text(device?.operatingSystem),
          osVersion: text(device?.operatingSystemVersion),
          trustType: text(device?.trustType),
          owner: owner
            ? (owner.userPrincipalName ?? owner.onPremisesSecurityIdentifier ?? owner.id ?? null)
            : null,
          notWritten: notWrittenOf(d.not_written_rule, d.not_written_reason),
        };
      });
    }
  }

  async deviceGraphIds(): Promise<string[]> {
    return this.stmt('SELECT graph_id FROM devices').pluck().all() as string[];
  }

  async objectsChangedSince(mark: string): Promise<ObjectSummary[]> {
    return this.stmt(
      `SELECT device_id AS deviceId, graph_id AS graphId, dn, last_synced_at AS lastSyncedAt
       FROM objects WHERE last_synced_at >= ? ORDER BY last_synced_at`,
    ).all(mark) as ObjectSummary[];
  }

  async objectDeviceIds(): Promise<string[]> {
    return this.stmt('SELECT device_id FROM objects').pluck().all() as string[];
  }

  async unmanagedStamp(): Promise<string> {
    return this.stmt("SELECT COUNT(*) || '/' || COALESCE(MAX(seen_at), '') AS s FROM unmanaged")
      .pluck()
      .get() as string;
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
