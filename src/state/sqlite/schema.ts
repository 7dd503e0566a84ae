// The SQLite store's tables and their migrations. The schema version lives in PRAGMA user_version:
// 0 is a new file, or a store written before versions were recorded (its tables already exist);
// every migration is idempotent, so both end at the current version.
import type Database from 'better-sqlite3';

export const SQLITE_SCHEMA_VERSION = 4;

const TABLES = `
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

/** Migrations by the version they bring the store to; each is idempotent. */
const MIGRATIONS: { to: number; apply(db: Database.Database): void }[] = [
  {
    // v1: the tables as the first versions wrote them, plus the fingerprint column added later.
    to: 1,
    apply(db) {
      db.exec(TABLES);
      const columns = db.prepare('PRAGMA table_info(devices)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'fp')) db.exec('ALTER TABLE devices ADD COLUMN fp INTEGER');
    },
  },
  {
    // v2: the indexes the console's device index reads changes through; adoptions in run records.
    to: 2,
    apply(db) {
      const columns = db.prepare('PRAGMA table_info(runs)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'adopted'))
        db.exec('ALTER TABLE runs ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0');
      db.exec('CREATE INDEX IF NOT EXISTS console_devices_updated_at ON devices(updated_at)');
      db.exec('CREATE INDEX IF NOT EXISTS console_objects_last_synced_at ON objects(last_synced_at)');
    },
  },
  {
    // v3: the deletion threshold's sliding window, and the deletions it holds.
    to: 3,
    apply(db) {
      db.exec(`
        CREATE TABLE IF NOT EXISTS deletion_log (at TEXT NOT NULL, count INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS deletion_log_at ON deletion_log(at);
        CREATE TABLE IF NOT EXISTS held_deletions (
          device_id TEXT PRIMARY KEY,
          graph_id TEXT,
          dn TEXT NOT NULL,
          reason TEXT NOT NULL,
          held_at TEXT NOT NULL,
          approved_at TEXT
        );
      `);
    },
  },
  {
    // v4: several forests and scope rules. The object map, unmanaged objects and held deletions are
    // per forest (rows written before belong to the one forest of an ad: block, named "default");
    // devices keep where the sync rule sent them, or why they are not written (reason: the words,
    // "out of scope: …" or "unrouted: …"; reason_rule: the key of the rule); each forest's state
    // (missed changes) is kept; the scope groups' membership edges and delta reads are kept.
    to: 4,
    apply(db) {
      const has = (table: string, column: string): boolean =>
        (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some(
          (c) => c.name === column,
        );
      if (!has('objects', 'forest')) {
        db.exec(`
          CREATE TABLE objects_v4 (
            forest TEXT NOT NULL,
            device_id TEXT NOT NULL,
            graph_id TEXT NOT NULL,
            dn TEXT NOT NULL,
            object_guid TEXT,
            hash TEXT NOT NULL,
            last_synced_at TEXT NOT NULL,
            PRIMARY KEY (forest, device_id)
          );
          INSERT INTO objects_v4 SELECT 'default', device_id, graph_id, dn, object_guid, hash, last_synced_at FROM objects;
          DROP TABLE objects;
          ALTER TABLE objects_v4 RENAME TO objects;
          CREATE INDEX IF NOT EXISTS objects_graph_id ON objects(graph_id);
          CREATE INDEX IF NOT EXISTS console_objects_last_synced_at ON objects(last_synced_at);
        `);
      }
      if (!has('unmanaged', 'forest')) {
        db.exec(`
          CREATE TABLE unmanaged_v4 (
            forest TEXT NOT NULL,
            dn TEXT NOT NULL,
            device_id TEXT,
            display_name TEXT,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (forest, dn)
          );
          INSERT INTO unmanaged_v4 SELECT 'default', dn, device_id, display_name, seen_at FROM unmanaged;
          DROP TABLE unmanaged;
          ALTER TABLE unmanaged_v4 RENAME TO unmanaged;
        `);
      }
      if (!has('held_deletions', 'forest')) {
        db.exec(`
          CREATE TABLE held_deletions_v4 (
            forest TEXT NOT NULL,
            device_id TEXT NOT NULL,
            graph_id TEXT,
            dn TEXT NOT NULL,
            reason TEXT NOT NULL,
            held_at TEXT NOT NULL,
            approved_at TEXT,
            PRIMARY KEY (forest, device_id)
          );
          INSERT INTO held_deletions_v4 SELECT 'default', device_id, graph_id, dn, reason, held_at, approved_at FROM held_deletions;
          DROP TABLE held_deletions;
          ALTER TABLE held_deletions_v4 RENAME TO held_deletions;
        `);
      }
      if (!has('deletion_log', 'forest'))
        db.exec(`ALTER TABLE deletion_log ADD COLUMN forest TEXT NOT NULL DEFAULT 'default'`);
      if (!has('quarantine', 'forest')) db.exec('ALTER TABLE quarantine ADD COLUMN forest TEXT');
      if (!has('devices', 'forest')) db.exec('ALTER TABLE devices ADD COLUMN forest TEXT');
      if (!has('devices', 'reason')) db.exec('ALTER TABLE devices ADD COLUMN reason TEXT');
      if (!has('devices', 'reason_rule')) db.exec('ALTER TABLE devices ADD COLUMN reason_rule TEXT');
      db.exec(`
        CREATE TABLE IF NOT EXISTS scope_group_members (
          group_id TEXT NOT NULL,
          member_id TEXT NOT NULL,
          member_type TEXT NOT NULL,
          PRIMARY KEY (group_id, member_id)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS scope_group_tracks (
          position INTEGER PRIMARY KEY,
          group_ids TEXT NOT NULL,
          delta_link TEXT NOT NULL
        );
      `);
      db.exec(`
        CREATE TABLE IF NOT EXISTS forests (
          name TEXT PRIMARY KEY,
          needs_full INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          last_full_at TEXT,
          domains TEXT,
          updated_at TEXT NOT NULL
        );
      `);
      // A store that already synced one forest (the ad: block, "default") knows it: the first pass
      // after the upgrade stays a delta.
      db.exec(`
        INSERT OR IGNORE INTO forests (name, last_full_at, updated_at)
        SELECT 'default', (SELECT value FROM meta WHERE key = 'lastFullAt'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        FROM meta WHERE key = 'deltaLink'
      `);
    },
  },
];

/**
 * Brings the store to the current version (or to `to`: the tests build stores of earlier versions
 * this way); returns the version it had.
 */
export function migrate(db: Database.Database, to = SQLITE_SCHEMA_VERSION): number {
  const found = Number(db.pragma('user_version', { simple: true }));
  if (found >= to) return found;
  db.transaction(() => {
    for (const m of MIGRATIONS) if (m.to > found && m.to <= to) m.apply(db);
    db.pragma(`user_version = ${to}`);
  })();
  return found;
}
