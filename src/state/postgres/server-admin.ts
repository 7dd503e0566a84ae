// Administration of a PostgreSQL server for the lab (tests, demo, benchmarks): a database and its
// owning role per test file or `run` group, and ending client sessions as a DBA or a failing
// network would. Here rather than in src/lab/ because all of the product's SQL lives in src/state/.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface PostgresServerInfo {
  host: string;
  port: number;
  /** The lab CA that issued the server certificate (PEM file). */
  caFile: string;
  superuser: string;
  superuserPassword: string;
  /** The server's folder (cluster, certificates, log). */
  dir: string;
  version: string;
}

export interface PostgresDatabase {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  caFile: string;
  /** `postgres://user:password@host:port/database?sslmode=disable` */
  url: string;
  /** The same with `sslmode=verify-full&sslrootcert=<caFile>`. */
  tlsUrl: string;
}

function adminClient(server: PostgresServerInfo, database = 'postgres'): pg.Client {
  return new pg.Client({
    host: server.host,
    port: server.port,
    user: server.superuser,
    password: server.superuserPassword,
    database,
    ssl: false,
    application_name: 'dwb-lab-admin',
    connectionTimeoutMillis: 10_000,
  });
}

async function asSuperuser<T>(
  server: PostgresServerInfo,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = adminClient(server);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function databaseUrl(
  server: Pick<PostgresServerInfo, 'host' | 'port' | 'caFile'>,
  database: string,
  user: string,
  password: string,
  tls: boolean,
): string {
  const base = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${server.host}:${server.port}/${encodeURIComponent(database)}`;
  return tls
    ? `${base}?sslmode=verify-full&sslrootcert=${encodeURIComponent(server.caFile)}`
    : `${base}?sslmode=disable`;
}

/**
 * A new database owned by a new login role with a random password, closed to every other role:
 * what each test file (or each `run` group) gets to itself.
 */
export async function createDatabase(
  server: PostgresServerInfo,
  options: { prefix?: string } = {},
): Promise<PostgresDatabase> {
  const prefix = (options.prefix ?? 'dwb')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  await asSuperuser(server, async (client) => {
    const id = client.escapeIdentifier(name);
    await client.query(`CREATE ROLE ${id} LOGIN PASSWORD ${client.escapeLiteral(password)}`);
    await client.query(`CREATE DATABASE ${id} OWNER ${id}`);
    await client.query(`REVOKE ALL ON DATABASE ${id} FROM PUBLIC`);
  });
  return {
    host: server.host,
    port: server.port,
    database: name,
    user: name,
    password,
    caFile: server.caFile,
    url: databaseUrl(server, name, name, password, false),
    tlsUrl: databaseUrl(server, name, name, password, true),
  };
}

/** Drops a database from createDatabase and its role, ending its sessions. */
export async function dropDatabase(server: PostgresServerInfo, db: PostgresDatabase): Promise<void> {
  await asSuperuser(server, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(db.database)} WITH (FORCE)`);
    await client.query(`DROP ROLE IF EXISTS ${client.escapeIdentifier(db.user)}`);
  });
}

/** Client sessions to end: by application_name (a string), by backend PID, or every one of a database. */
export type BackendTarget = string | number | { database: string };

/**
 * Ends client sessions with pg_terminate_backend, as a DBA or a failing network would; returns
 * how many were ended. The harness's own session is never one of them.
 */
export async function terminateBackends(server: PostgresServerInfo, target: BackendTarget): Promise<number> {
  const [column, value] =
    typeof target === 'number'
      ? ['pid', target]
      : typeof target === 'string'
        ? ['application_name', target]
        : ['datname', target.database];
  return asSuperuser(server, async (client) => {
    const result = await client.query<{ ended: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS ended
         FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND ${column} = $1`,
      [value],
    );
    return Number(result.rows[0]?.ended ?? 0);
  });
}
