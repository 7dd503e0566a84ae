// `--data <file>`: the emulated directory written through to SQLite, so that devices, users, the
// change log and therefore delta tokens survive a restart. The store stays in memory for speed;
// this file only records each write (in the store's transaction) and reloads everything at start.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { EmulatedDevice, EmulatedUser } from './model.js';
import type {
  ChangeEntry,
  ChangeKind,
  DeviceRecord,
  DeviceState,
  StorePersistence,
  StoreSnapshot,
} from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  ordinal INTEGER NOT NULL,
  state TEXT NOT NULL,
  body TEXT NOT NULL,
  registered_owners TEXT NOT NULL,
  registered_users TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, ordinal INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY, object_id TEXT NOT NULL, kind TEXT NOT NULL, properties TEXT NOT NULL);
`;

/** Drops null values and all-null extension attributes; completeDevice() restores them on load. */
function compact(value: object): string {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null) continue;
    if (
      key === 'extensionAttributes' &&
      v &&
      typeof v === 'object' &&
      Object.values(v).every((x) => x === null)
    )
      continue;
    out[key] = v;
  }
  return JSON.stringify(out);
}

export class SqlitePersistence implements StorePersistence {
  private readonly db: Database.Database;
  private readonly statements;

  constructor(readonly file: string) {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.statements = {
      meta: this.db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      ),
      device: this.db.prepare(
        `INSERT INTO devices (id, ordinal, state, body, registered_owners, registered_users) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body,
           registered_owners = excluded.registered_owners, registered_users = excluded.registered_users`,
      ),
      user: this.db.prepare(
        'INSERT INTO users (id, ordinal, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body',
      ),
      change: this.db.prepare('INSERT INTO changes (seq, object_id, kind, properties) VALUES (?, ?, ?, ?)'),
    };
  }

  load(): StoreSnapshot | undefined {
    const metaRows = this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
    if (metaRows.length === 0) return undefined;
    const meta = Object.fromEntries(metaRows.map((r) => [r.key, r.value]));
    const devices = (
      this.db
        .prepare(
          'SELECT ordinal, state, body, registered_owners, registered_users FROM devices ORDER BY ordinal',
        )
        .all() as {
        ordinal: number;
        state: DeviceState;
        body: string;
        registered_owners: string;
        registered_users: string;
      }[]
    ).map((row) => ({
      ordinal: row.ordinal,
      state: row.state,
      device: JSON.parse(row.body) as EmulatedDevice,
      registeredOwners: JSON.parse(row.registered_owners) as string[],
      registeredUsers: JSON.parse(row.registered_users) as string[],
    }));
    const users = (
      this.db.prepare('SELECT body FROM users ORDER BY ordinal').all() as { body: string }[]
    ).map((row) => JSON.parse(row.body) as EmulatedUser);
    const changes = (
      this.db.prepare('SELECT seq, object_id, kind, properties FROM changes ORDER BY seq').all() as {
        seq: number;
        object_id: string;
        kind: ChangeKind;
        properties: string;
      }[]
    ).map((row) => ({
      seq: row.seq,
      objectId: row.object_id,
      kind: row.kind,
      properties: JSON.parse(row.properties) as string[],
    }));
    return { meta, devices, users, changes };
  }

  saveDevice(record: DeviceRecord): void {
    this.statements.device.run(
      record.device.id,
      record.ordinal,
      record.state,
      compact(record.device),
      JSON.stringify(record.registeredOwners),
      JSON.stringify(record.registeredUsers),
    );
  }

  saveUser(user: EmulatedUser, ordinal: number): void {
    this.statements.user.run(user.id, ordinal, compact(user));
  }

  saveChange(change: ChangeEntry): void {
    this.statements.change.run(change.seq, change.objectId, change.kind, JSON.stringify(change.properties));
  }

  saveMeta(key: string, value: string): void {
    this.statements.meta.run(key, value);
  }

  transaction(body: () => void): void {
    this.db.transaction(body)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
