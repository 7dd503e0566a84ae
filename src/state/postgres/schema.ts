// The PostgreSQL store's tables and their migrations, in a schema of their own (device_writeback),
// so that the store can share a database and be backed up alone (pg_dump -n device_writeback).
// The schema version lives in the table schema_version (one row). Migrations run in one
// transaction under a transaction-scoped advisory lock, so that instances starting together do
// not migrate twice, and a failed migration leaves nothing half-made (DDL is transactional here).
// At every open, the tables of the recorded version must all be there: a store that lost one (a
// table dropped by hand, a partial restore) is refused as damaged rather than used half-read.
import type pg from 'pg';

export const POSTGRES_SCHEMA = 'device_writeback';
export const POSTGRES_SCHEMA_VERSION = 3;

/** Chosen once at random: the advisory lock that serialises migrations (pg_advisory_xact_lock). */
const MIGRATION_LOCK = 0x64776231; // 'dwb1'

/** Every table of the current version: checked at open. */
export const POSTGRES_TABLES = [
  'schema_version',
  'meta',
  'devices',
  'objects',
  'runs',
  'run_errors',
  'unmanaged',
  'quarantine',
  'deletion_log',
  'held_deletions',
  'forests',
  'scope_group_members',
  'scope_group_tracks',
  'leader_lease',
  'leader_terms',
  'group_members',
] as const;

/** SQLSTATE raised by fence() when the committing instance no longer leads the group. */
export const FENCED_SQLSTATE = 'DWB01';

// Text columns are COLLATE "C": they compare and sort byte-wise, as in SQLite, whatever the
// database's collation (ISO timestamps are compared as text by the console's change feed).
const V1 = `
CREATE TABLE meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
CREATE TABLE devices (
  graph_id text COLLATE "C" PRIMARY KEY,
  device_id text COLLATE "C",
  json json NOT NULL,
  relations json,
  updated_at text COLLATE "C" NOT NULL,
  fp bigint
);
CREATE INDEX devices_device_id ON devices (device_id);
CREATE INDEX console_devices_updated_at ON devices (updated_at);
CREATE TABLE objects (
  device_id text COLLATE "C" PRIMARY KEY,
  graph_id text COLLATE "C" NOT NULL,
  dn text COLLATE "C" NOT NULL,
  object_guid text COLLATE "C",
  hash text COLLATE "C" NOT NULL,
  last_synced_at text COLLATE "C" NOT NULL
);
CREATE INDEX objects_graph_id ON objects (graph_id);
CREATE INDEX console_objects_last_synced_at ON objects (last_synced_at);
CREATE TABLE runs (
  id bigserial PRIMARY KEY,
  started_at text COLLATE "C" NOT NULL,
  finished_at text COLLATE "C",
  mode text COLLATE "C" NOT NULL,
  dry_run boolean NOT NULL,
  created integer NOT NULL DEFAULT 0,
  updated integer NOT NULL DEFAULT 0,
  deleted integer NOT NULL DEFAULT 0,
  unchanged integer NOT NULL DEFAULT 0,
  quarantined integer NOT NULL DEFAULT 0,
  adopted integer NOT NULL DEFAULT 0,
  outcome text COLLATE "C" NOT NULL,
  error text COLLATE "C",
  duration_ms bigint,
  epoch bigint,
  instance_id text COLLATE "C",
  host text COLLATE "C",
  pid integer
);
CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
CREATE TABLE run_errors (
  id bigserial PRIMARY KEY,
  run_id bigint NOT NULL,
  device_id text COLLATE "C",
  code text COLLATE "C" NOT NULL,
  message text COLLATE "C" NOT NULL
);
CREATE INDEX run_errors_run ON run_errors (run_id);
CREATE INDEX run_errors_device ON run_errors (device_id, run_id);
CREATE TABLE unmanaged (
  dn text COLLATE "C" PRIMARY KEY,
  device_id text COLLATE "C",
  display_name text COLLATE "C",
  seen_at text COLLATE "C" NOT NULL
);
CREATE TABLE quarantine (
  key text COLLATE "C" PRIMARY KEY,
  graph_id text COLLATE "C",
  device_id text COLLATE "C",
  display_name text COLLATE "C",
  code text COLLATE "C" NOT NULL,
  message text COLLATE "C" NOT NULL,
  first_seen text COLLATE "C" NOT NULL,
  last_seen text COLLATE "C" NOT NULL,
  attempts integer NOT NULL DEFAULT 1
);
CREATE TABLE deletion_log (at text COLLATE "C" NOT NULL, count integer NOT NULL);
CREATE INDEX deletion_log_at ON deletion_log (at);
CREATE TABLE held_deletions (
  device_id text COLLATE "C" PRIMARY KEY,
  graph_id text COLLATE "C",
  dn text COLLATE "C" NOT NULL,
  reason text COLLATE "C" NOT NULL,
  held_at text COLLATE "C" NOT NULL,
  approved_at text COLLATE "C"
);

-- Leadership of the group of instances that share this store (SPEC §7): one lease row, with the
-- fencing token (epoch) that every state commit of the engine checks, and when the lease ends
-- (by the database's clock: the only clock that decides who may take it).
CREATE TABLE leader_lease (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL,
  holder text COLLATE "C",
  host text COLLATE "C",
  pid integer,
  command text COLLATE "C",
  acquired_at timestamptz,
  renewed_at timestamptz,
  expires_at timestamptz NOT NULL,
  cycle_requested_at timestamptz
);
INSERT INTO leader_lease (epoch, expires_at) VALUES (0, '-infinity');
-- One row per epoch: who led, when (database time), and when its AD writes began and ended (by
-- the leader's own clock), for status and to prove that terms never wrote at the same time.
CREATE TABLE leader_terms (
  epoch bigint PRIMARY KEY,
  instance_id text COLLATE "C" NOT NULL,
  host text COLLATE "C" NOT NULL,
  pid integer NOT NULL,
  command text COLLATE "C" NOT NULL,
  acquired_at timestamptz NOT NULL,
  ended_at timestamptz,
  end_reason text COLLATE "C",
  first_write_at text COLLATE "C",
  last_write_at text COLLATE "C",
  writes bigint NOT NULL DEFAULT 0
);
CREATE TABLE group_members (
  instance_id text COLLATE "C" PRIMARY KEY,
  host text COLLATE "C" NOT NULL,
  pid integer NOT NULL,
  command text COLLATE "C" NOT NULL,
  role text COLLATE "C" NOT NULL,
  epoch bigint,
  started_at timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL
);
-- Bumped after every committed write (never inside a transaction), so that a reader that sees a
-- new value also sees the data: the console's change stamp.
CREATE SEQUENCE change_seq;

-- Called first in every write transaction of the engine: the committing instance must hold the
-- lease's current epoch. FOR SHARE orders commits with a takeover: a standby's UPDATE of the lease
-- waits until the commits in flight are done, and every commit after it sees the new epoch.
CREATE FUNCTION fence(p_epoch bigint, p_holder text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM leader_lease WHERE singleton AND epoch = p_epoch AND holder = p_holder FOR SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'epoch % no longer leads this group', p_epoch USING ERRCODE = '${FENCED_SQLSTATE}';
  END IF;
END $$;
`;

// v2: several forests (SPEC §8), as the SQLite store's v4. The object map, unmanaged objects, held
// deletions and the deletion window are per forest (rows written before belong to the one forest of
// an ad: block, named "default"); devices keep where the sync rule sent them (a forest, or why they
// are not written); each forest's state (missed changes, its domains) is kept. A store that already
// synced one forest knows it, so that the first pass after the upgrade stays a delta.
const V2 = `
ALTER TABLE objects ADD COLUMN forest text COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE objects ALTER COLUMN forest DROP DEFAULT;
ALTER TABLE objects DROP CONSTRAINT objects_pkey;
ALTER TABLE objects ADD PRIMARY KEY (forest, device_id);
CREATE INDEX objects_device_id ON objects (device_id);
ALTER TABLE unmanaged ADD COLUMN forest text COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE unmanaged ALTER COLUMN forest DROP DEFAULT;
ALTER TABLE unmanaged DROP CONSTRAINT unmanaged_pkey;
ALTER TABLE unmanaged ADD PRIMARY KEY (forest, dn);
ALTER TABLE held_deletions ADD COLUMN forest text COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE held_deletions ALTER COLUMN forest DROP DEFAULT;
ALTER TABLE held_deletions DROP CONSTRAINT held_deletions_pkey;
ALTER TABLE held_deletions ADD PRIMARY KEY (forest, device_id);
ALTER TABLE deletion_log ADD COLUMN forest text COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE deletion_log ALTER COLUMN forest DROP DEFAULT;
DROP INDEX deletion_log_at;
CREATE INDEX deletion_log_forest_at ON deletion_log (forest, at);
ALTER TABLE quarantine ADD COLUMN forest text COLLATE "C";
ALTER TABLE devices ADD COLUMN forest text COLLATE "C";
ALTER TABLE devices ADD COLUMN reason text COLLATE "C";
CREATE INDEX devices_not_written ON devices (graph_id) WHERE reason IS NOT NULL;
CREATE TABLE forests (
  name text COLLATE "C" PRIMARY KEY,
  needs_full boolean NOT NULL DEFAULT false,
  last_error text COLLATE "C",
  last_full_at text COLLATE "C",
  domains json,
  updated_at text COLLATE "C" NOT NULL
);
INSERT INTO forests (name, last_full_at, updated_at)
SELECT 'default', (SELECT value FROM meta WHERE key = 'lastFullAt'),
       to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  FROM meta WHERE key = 'deltaLink';
`;

// v3: scope rules (SPEC §9), as the SQLite store's v4 has them: why a device is not written keeps
// the key of its rule beside the words (reason_rule); the scope groups' membership edges and their
// delta reads (tracks) are kept between passes. The scope fingerprint lives in meta.
const V3 = `
ALTER TABLE devices ADD COLUMN reason_rule text COLLATE "C";
CREATE TABLE scope_group_members (
  group_id text COLLATE "C" NOT NULL,
  member_id text COLLATE "C" NOT NULL,
  member_type text COLLATE "C" NOT NULL,
  PRIMARY KEY (group_id, member_id)
);
CREATE TABLE scope_group_tracks (
  position integer PRIMARY KEY,
  group_ids json NOT NULL,
  delta_link text COLLATE "C" NOT NULL
);
`;

/** Migrations by the version they bring the store to (v3 here is the SQLite store's v4). */
const MIGRATIONS: { to: number; sql: string }[] = [
  { to: 1, sql: V1 },
  { to: 2, sql: V2 },
  { to: 3, sql: V3 },
];

export interface SchemaState {
  /** The recorded version; 0 when the schema or its version table does not exist yet. */
  version: number;
  /** Tables of ours that exist (in our schema). */
  tables: Set<string>;
}

/** What the database holds of our schema, read without changing anything. */
export async function readSchemaState(client: pg.ClientBase): Promise<SchemaState & { versionRows: number }> {
  const tables = new Set(
    (
      await client.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
        [POSTGRES_SCHEMA],
      )
    ).rows.map((r) => r.relname),
  );
  if (!tables.has('schema_version')) return { version: 0, tables, versionRows: 0 };
  const rows = (
    await client.query<{ version: number }>(`SELECT version FROM ${POSTGRES_SCHEMA}.schema_version`)
  ).rows;
  return { version: rows.length === 1 ? rows[0]!.version : 0, tables, versionRows: rows.length };
}

/**
 * Brings the store to the current version under the migration lock; returns the version found.
 * Creates the schema when it does not exist (which needs CREATE on the database). `upTo` stops at
 * an older version (the tests build a store as an older release left it).
 */
export async function migrate(client: pg.ClientBase, upTo = POSTGRES_SCHEMA_VERSION): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const state = await readSchemaState(client);
    if (state.version >= upTo || (state.version === 0 && state.tables.size > 0)) {
      // Current or newer (the caller refuses newer), or not ours to touch: the caller decides.
      await client.query('ROLLBACK');
      return state.version;
    }
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [POSTGRES_SCHEMA]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${POSTGRES_SCHEMA}`);
    await client.query(`SET LOCAL search_path = ${POSTGRES_SCHEMA}`);
    if (state.version === 0) {
      await client.query(
        'CREATE TABLE schema_version (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL)',
      );
      await client.query('INSERT INTO schema_version (version) VALUES (0)');
    }
    for (const m of MIGRATIONS) if (m.to > state.version && m.to <= upTo) await client.query(m.sql);
    await client.query('UPDATE schema_version SET version = $1', [upTo]);
    await client.query('COMMIT');
    return state.version;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
