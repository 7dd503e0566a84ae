// The embedded state store (SQLite, WAL): the delta watermark, the last known cloud state of every
// device (to merge partial delta updates), the object map deviceId -> DN / objectGUID, run history
// and quarantine. One writer per store, enforced with a lock file next to the database.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import { DwbError, causeText } from '../errors.js';
import { fingerprint } from './fingerprint.js';

export type RunMode = 'full' | 'delta';
export type RunOutcome = 'ok' | 'quarantined' | 'threshold' | 'failed' | 'running';

export interface RunRecord {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  mode: RunMode;
  dryRun: boolean;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  quarantined: number;
  outcome: RunOutcome;
  error: string | null;
  durationMs: number | null;
}

export interface QuarantineEntry {
  /** Graph object id when known, otherwise the deviceId. */
  key: string;
  graphId: string | null;
  deviceId: string | null;
  displayName: string | null;
  code: string;
  message: string;
  firstSeen: string;
  lastSeen: string;
  attempts: number;
}

export interface ObjectRecord {
  deviceId: string;
  graphId: string;
  dn: string;
  objectGuid: string | null;
  hash: string;
  lastSyncedAt: string;
}

export interface StoredDevice {
  device: CloudDevice;
  relations: DeviceRelations | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
  graph_id TEXT PRIMARY KEY,
  device_id TEXT,
  json TEXT NOT NULL,
  relations TEXT,
  updated_at TEXT NOT NULL,
  fp INTEGER
);
CREATE INDEX IF NOT EXISTS devices_device_id ON devices(device_id);
CREATE TABLE IF NOT EXISTS objects (
  device_id TEXT PRIMARY KEY,
  graph_id TEXT NOT NULL,
  dn TEXT NOT NULL,
  object_guid TEXT,
  hash TEXT NOT NULL,
  last_synced_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_graph_id ON objects(graph_id);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  mode TEXT NOT NULL,
  dry_run INTEGER NOT NULL,
  created INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0,
  unchanged INTEGER NOT NULL DEFAULT 0,
  quarantined INTEGER NOT NULL DEFAULT 0,
  outcome TEXT NOT NULL,
  error TEXT,
  duration_ms INTEGER
);
CREATE TABLE IF NOT EXISTS run_errors (
  run_id INTEGER NOT NULL,
  device_id TEXT,
  code TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_errors_run ON run_errors(run_id);
CREATE TABLE IF NOT EXISTS unmanaged (
  dn TEXT PRIMARY KEY,
  device_id TEXT,
  display_name TEXT,
  seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
  key TEXT PRIMARY KEY,
  graph_id TEXT,
  device_id TEXT,
  display_name TEXT,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  first_seen TEXT NOT NULL,
  last_seen TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 1
);
`;

interface LockHandle {
  release(): void;
}

/** Brings a store written by an earlier version up to the current schema. */
function migrate(db: Database.Database): void {
  const columns = db.prepare('PRAGMA table_info(devices)').all() as { name: string }[];
  // fp: fingerprint of the stored record and relations; older rows get one when next written.
  if (!columns.some((c) => c.name === 'fp')) db.exec('ALTER TABLE devices ADD COLUMN fp INTEGER');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the writer lock: a lock file holding the owner's pid; a stale lock of a dead process is taken over. */
function takeWriterLock(dbFile: string): LockHandle {
  const lockFile = `${dbFile}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(
        fd,
        JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }),
      );
      closeSync(fd);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          rmSync(lockFile, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DwbError(
          'DWB_STATE_UNAVAILABLE',
          `cannot create the lock file ${lockFile}: ${causeText(err)}`,
        );
      }
      let holder: { pid?: number; host?: string; since?: string } = {};
      try {
        holder = JSON.parse(readFileSync(lockFile, 'utf8')) as typeof holder;
      } catch {
        /* half-written lock: treat as stale below */
      }
      const sameHost = !holder.host || holder.host === os.hostname();
      if (holder.pid && sameHost && pidAlive(holder.pid) && holder.pid !== process.pid) {
        throw new DwbError(
          'DWB_STATE_LOCKED',
          `the state store ${dbFile} is in use by process ${holder.pid} (since ${holder.since ?? 'unknown'}); a second sync or run on the same store was refused.`,
        );
      }
      if (holder.pid && !sameHost) {
        throw new DwbError(
          'DWB_STATE_LOCKED',
          `the state store ${dbFile} is locked by process ${holder.pid} on host ${holder.host}. If that process is gone, delete ${lockFile}.`,
        );
      }
      rmSync(lockFile, { force: true }); // stale: its owner is dead
    }
  }
  throw new DwbError('DWB_STATE_LOCKED', `could not take the lock ${lockFile}`);
}

export class StateStore {
  private readonly db: Database.Database;
  private readonly lock: LockHandle | undefined;

  private constructor(
    readonly file: string,
    db: Database.Database,
    lock: LockHandle | undefined,
  ) {
    this.db = db;
    this.lock = lock;
  }

  /**
   * Opens (and creates) the store. `writer: true` takes the one-writer lock (sync, run);
   * readers (status, devices, the console) do not.
   */
  static open(file: string, options: { writer: boolean }): StateStore {
    const dir = path.dirname(file);
    if (!existsSync(dir)) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        throw new DwbError('DWB_STATE_UNAVAILABLE', `cannot create ${dir}: ${causeText(err)}`);
      }
    }
    const lock = options.writer ? takeWriterLock(file) : undefined;
    let db: Database.Database;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
      migrate(db);
    } catch (err) {
      lock?.release();
      throw new DwbError('DWB_STATE_UNAVAILABLE', `cannot open the state store ${file}: ${causeText(err)}`);
    }
    return new StateStore(file, db, lock);
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared statements are cached: preparing one costs more than running it. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    try {
      this.db.close();
    } finally {
      this.lock?.release();
    }
  }

  transaction<T>(body: () => T): T {
    return this.db.transaction(body)();
  }

  // --- watermark and metadata -------------------------------------------------------------

  getMeta(key: string): string | undefined {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.stmt('DELETE FROM meta WHERE key = ?').run(key);
    else
      this.stmt(
        'INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ).run(key, value);
  }

  get deltaLink(): string | undefined {
    return this.getMeta('deltaLink');
  }

  /** When the watermark was last committed (ISO). */
  get watermarkAt(): string | undefined {
    return this.getMeta('watermarkAt');
  }

  get lastFullAt(): string | undefined {
    return this.getMeta('lastFullAt');
  }

  /** Commits the watermark; call only once every change it covers is in AD. */
  commitWatermark(deltaLink: string, mode: RunMode, at = new Date()): void {
    this.transaction(() => {
      this.setMeta('deltaLink', deltaLink);
      this.setMeta('watermarkAt', at.toISOString());
      if (mode === 'full') this.setMeta('lastFullAt', at.toISOString());
    });
  }

  clearWatermark(): void {
    this.setMeta('deltaLink', undefined);
  }

  // --- last known cloud state ------------------------------------------------------------

  getDevice(graphId: string): StoredDevice | undefined {
    const row = this.stmt('SELECT json, relations FROM devices WHERE graph_id = ?').get(graphId) as
      { json: string; relations: string | null } | undefined;
    if (!row) return undefined;
    return {
      device: JSON.parse(row.json) as CloudDevice,
      relations: row.relations ? (JSON.parse(row.relations) as DeviceRelations) : null,
    };
  }

  getDeviceByDeviceId(deviceId: string): StoredDevice | undefined {
    const row = this.stmt('SELECT graph_id FROM devices WHERE device_id = ? LIMIT 1').get(
      deviceId.toLowerCase(),
    ) as { graph_id: string } | undefined;
    return row ? this.getDevice(row.graph_id) : undefined;
  }

  /**
   * Records the last known state of a device; false when the store already held exactly this.
   * `stored` is the fingerprint the store holds for it, when the caller has it at hand (a full pass
   * reads them all at once, see deviceFingerprints): an unchanged device then costs no SQL at all.
   */
  putDevice(
    device: CloudDevice,
    relations: DeviceRelations | null,
    stored?: number | null,
    now = new Date().toISOString(),
  ): boolean {
    const fp = fingerprint(device, relations);
    if (stored === fp) return false;
    return (
      this.stmt(
        `INSERT INTO devices(graph_id, device_id, json, relations, updated_at, fp) VALUES(?, ?, ?, ?, ?, ?)
           ON CONFLICT(graph_id) DO UPDATE SET device_id = excluded.device_id, json = excluded.json,
             relations = excluded.relations, updated_at = excluded.updated_at, fp = excluded.fp
           WHERE devices.fp IS NOT excluded.fp`,
      ).run(
        device.id,
        device.deviceId?.toLowerCase() ?? null,
        JSON.stringify(device),
        relations ? JSON.stringify(relations) : null,
        now,
        fp,
      ).changes > 0
    );
  }

  /** Graph id → fingerprint of every stored device (null for rows written before fingerprints). */
  deviceFingerprints(): Map<string, number | null> {
    const map = new Map<string, number | null>();
    for (const [graphId, fp] of this.stmt('SELECT graph_id, fp FROM devices').raw(true).iterate() as Iterable<
      [string, number | null]
    >)
      map.set(graphId, fp);
    return map;
  }

  deleteDevice(graphId: string): void {
    this.stmt('DELETE FROM devices WHERE graph_id = ?').run(graphId);
  }

  countDevices(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM devices').get() as { n: number }).n;
  }

  // --- object map ------------------------------------------------------------------------

  getObject(deviceId: string): ObjectRecord | undefined {
    const row = this.stmt(
      'SELECT device_id, graph_id, dn, object_guid, hash, last_synced_at FROM objects WHERE device_id = ?',
    ).get(deviceId.toLowerCase()) as
      | {
          device_id: string;
          graph_id: string;
          dn: string;
          object_guid: string | null;
          hash: string;
          last_synced_at: string;
        }
      | undefined;
    return row
      ? {
          deviceId: row.device_id,
          graphId: row.graph_id,
          dn: row.dn,
          objectGuid: row.object_guid,
          hash: row.hash,
          lastSyncedAt: row.last_synced_at,
        }
      : undefined;
  }

  putObject(record: Omit<ObjectRecord, 'lastSyncedAt'> & { lastSyncedAt?: string }): void {
    this.stmt(
      `INSERT INTO objects(device_id, graph_id, dn, object_guid, hash, last_synced_at) VALUES(?, ?, ?, ?, ?, ?)
         ON CONFLICT(device_id) DO UPDATE SET graph_id = excluded.graph_id, dn = excluded.dn,
           object_guid = COALESCE(excluded.object_guid, objects.object_guid), hash = excluded.hash,
           last_synced_at = excluded.last_synced_at`,
    ).run(
      record.deviceId.toLowerCase(),
      record.graphId,
      record.dn,
      record.objectGuid,
      record.hash,
      record.lastSyncedAt ?? new Date().toISOString(),
    );
  }

  getObjectByGraphId(graphId: string): ObjectRecord | undefined {
    const row = this.stmt('SELECT device_id FROM objects WHERE graph_id = ? LIMIT 1').get(graphId) as
      { device_id: string } | undefined;
    return row ? this.getObject(row.device_id) : undefined;
  }

  deleteObject(deviceId: string): void {
    this.stmt('DELETE FROM objects WHERE device_id = ?').run(deviceId.toLowerCase());
  }

  lastSyncTimes(deviceIds: string[]): Map<string, string> {
    const out = new Map<string, string>();
    const stmt = this.stmt('SELECT last_synced_at FROM objects WHERE device_id = ?');
    for (const id of deviceIds) {
      const row = stmt.get(id.toLowerCase()) as { last_synced_at: string } | undefined;
      if (row) out.set(id.toLowerCase(), row.last_synced_at);
    }
    return out;
  }

  countObjects(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM objects').get() as { n: number }).n;
  }

  // --- unmanaged objects (seen by the last full reconcile) ------------------------------------

  replaceUnmanaged(objects: { dn: string; deviceId: string | null; displayName: string | null }[]): void {
    const now = new Date().toISOString();
    this.transaction(() => {
      this.stmt('DELETE FROM unmanaged').run();
      const insert = this.stmt(
        'INSERT OR REPLACE INTO unmanaged(dn, device_id, display_name, seen_at) VALUES(?, ?, ?, ?)',
      );
      for (const o of objects) insert.run(o.dn, o.deviceId, o.displayName, now);
    });
  }

  unmanagedObjects(): { dn: string; deviceId: string | null; displayName: string | null; seenAt: string }[] {
    return this.stmt(
      'SELECT dn, device_id AS deviceId, display_name AS displayName, seen_at AS seenAt FROM unmanaged ORDER BY dn',
    ).all() as {
      dn: string;
      deviceId: string | null;
      displayName: string | null;
      seenAt: string;
    }[];
  }

  countUnmanaged(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM unmanaged').get() as { n: number }).n;
  }

  /** Read-only access for reporting queries (the console's device list); never for writes. */
  get database(): Database.Database {
    return this.db;
  }

  // --- runs ------------------------------------------------------------------------------

  startRun(mode: RunMode, dryRun: boolean): number {
    const info = this.stmt('INSERT INTO runs(started_at, mode, dry_run, outcome) VALUES(?, ?, ?, ?)').run(
      new Date().toISOString(),
      mode,
      dryRun ? 1 : 0,
      'running',
    );
    return Number(info.lastInsertRowid);
  }

  finishRun(
    id: number,
    result: {
      mode: RunMode;
      created: number;
      updated: number;
      deleted: number;
      unchanged: number;
      quarantined: number;
      outcome: Exclude<RunOutcome, 'running'>;
      error?: string;
      durationMs: number;
      errors: { deviceId: string | null; code: string; message: string }[];
    },
  ): void {
    this.transaction(() => {
      this.stmt(
        `UPDATE runs SET finished_at = ?, mode = ?, created = ?, updated = ?, deleted = ?, unchanged = ?, quarantined = ?,
             outcome = ?, error = ?, duration_ms = ? WHERE id = ?`,
      ).run(
        new Date().toISOString(),
        result.mode,
        result.created,
        result.updated,
        result.deleted,
        result.unchanged,
        result.quarantined,
        result.outcome,
        result.error ?? null,
        result.durationMs,
        id,
      );
      const insert = this.stmt('INSERT INTO run_errors(run_id, device_id, code, message) VALUES(?, ?, ?, ?)');
      for (const e of result.errors.slice(0, 1000)) insert.run(id, e.deviceId, e.code, e.message);
    });
  }

  recentRuns(limit = 20): RunRecord[] {
    const rows = this.stmt('SELECT * FROM runs ORDER BY id DESC LIMIT ?').all(limit) as Record<
      string,
      unknown
    >[];
    return rows.map((r) => ({
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
      outcome: r.outcome as RunOutcome,
      error: (r.error as string | null) ?? null,
      durationMs: (r.duration_ms as number | null) ?? null,
    }));
  }

  runErrors(runId: number): { deviceId: string | null; code: string; message: string }[] {
    return this.stmt('SELECT device_id AS deviceId, code, message FROM run_errors WHERE run_id = ?').all(
      runId,
    ) as {
      deviceId: string | null;
      code: string;
      message: string;
    }[];
  }

  // --- quarantine ------------------------------------------------------------------------

  quarantine(entry: {
    key: string;
    graphId: string | null;
    deviceId: string | null;
    displayName: string | null;
    code: string;
    message: string;
  }): void {
    const now = new Date().toISOString();
    this.stmt(
      `INSERT INTO quarantine(key, graph_id, device_id, display_name, code, message, first_seen, last_seen, attempts)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, 1)
         ON CONFLICT(key) DO UPDATE SET code = excluded.code, message = excluded.message, display_name = excluded.display_name,
           device_id = COALESCE(excluded.device_id, quarantine.device_id), last_seen = excluded.last_seen,
           attempts = quarantine.attempts + 1`,
    ).run(entry.key, entry.graphId, entry.deviceId, entry.displayName, entry.code, entry.message, now, now);
  }

  /** Keys of every quarantined device (usually few; lets a pass skip releasing the rest). */
  quarantineKeys(): Set<string> {
    return new Set((this.stmt('SELECT key FROM quarantine').all() as { key: string }[]).map((r) => r.key));
  }

  release(key: string): boolean {
    return this.stmt('DELETE FROM quarantine WHERE key = ?').run(key).changes > 0;
  }

  quarantined(): QuarantineEntry[] {
    const rows = this.stmt('SELECT * FROM quarantine ORDER BY last_seen DESC').all() as Record<
      string,
      unknown
    >[];
    return rows.map((r) => ({
      key: r.key as string,
      graphId: (r.graph_id as string | null) ?? null,
      deviceId: (r.device_id as string | null) ?? null,
      displayName: (r.display_name as string | null) ?? null,
      code: r.code as string,
      message: r.message as string,
      firstSeen: r.first_seen as string,
      lastSeen: r.last_seen as string,
      attempts: r.attempts as number,
    }));
  }

  countQuarantined(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM quarantine').get() as { n: number }).n;
  }

  /** Marks a quarantined device for retry on the next cycle (the console's retry button). */
  requestRetry(key: string): boolean {
    const row = this.stmt('SELECT key FROM quarantine WHERE key = ?').get(key);
    if (!row) return false;
    this.setMeta(`retry:${key}`, new Date().toISOString());
    return true;
  }
}
