// The PostgreSQL harness itself: the run's shared server gives each caller a database of its own,
// reachable with and without TLS (verify-full against the lab CA); a server of the file's own
// survives a restart, ends sessions on request, and comes back from kill -9 with what it committed.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../../src/tls/certificates.js';
import {
  freshDatabase,
  postgresUnavailable,
  sharedPostgres,
  useOwnPostgres,
  type PostgresDatabase,
} from '../support/postgres.js';

const unavailable = postgresUnavailable();

/** True while the process exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function connect(url: string, applicationName = 'dwb-test'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  // a server-side end of the session is reported here as well as to the pending query
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The error with which the server ends the client's session. */
function sessionEnd(client: pg.Client): Promise<Error & { code?: string }> {
  return new Promise((resolve) => client.once('error', resolve));
}

async function scalar<T>(client: pg.Client, sql: string, params: unknown[] = []): Promise<T> {
  const result = await client.query(sql, params);
  return Object.values(result.rows[0] as Record<string, T>)[0] as T;
}

async function sessionTls(url: string): Promise<{ ssl: boolean; user: string; database: string }> {
  const client = await connect(url);
  try {
    const result = await client.query<{ ssl: boolean; user: string; database: string }>(
      'SELECT s.ssl, current_user AS user, current_database() AS database FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()',
    );
    return result.rows[0]!;
  } finally {
    await client.end();
  }
}

describe.skipIf(unavailable)(
  `PostgreSQL harness: the run's shared server${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    it('gives each caller its own database and role, with and without TLS', async () => {
      const [a, b] = await Promise.all([freshDatabase('harness'), freshDatabase('harness')]);
      expect(a.database).not.toBe(b.database);
      expect(a.user).not.toBe(b.user);
      expect(a.url).toMatch(
        new RegExp(
          `^postgres://${a.user}:[^@]+@${sharedPostgres().host}:${sharedPostgres().port}/${a.database}\\?sslmode=disable$`,
        ),
      );

      expect(await sessionTls(a.url)).toEqual({ ssl: false, user: a.user, database: a.database });
      expect(await sessionTls(a.tlsUrl)).toEqual({ ssl: true, user: a.user, database: a.database });
      expect(a.tlsUrl).toContain('sslmode=verify-full');

      const client = await connect(a.url);
      await client.query('CREATE TABLE marker (v text)');
      await client.query("INSERT INTO marker VALUES ('a')");
      await client.end();
      const other = await connect(b.url);
      expect(await scalar(other, "SELECT to_regclass('marker') IS NULL AS absent")).toBe(true);
      await other.end();

      // one test's role cannot enter another test's database
      const intruder = new pg.Client({
        connectionString: a.url.replace(`/${a.database}?`, `/${b.database}?`),
      });
      await expect(intruder.connect()).rejects.toThrow(/permission denied for database/);
    });

    it('refuses a server certificate that the given CA did not issue (verify-full)', async () => {
      const db: PostgresDatabase = await freshDatabase('harness');
      const otherCa = createCertificateAuthority({ commonName: 'not the lab CA' });
      const client = new pg.Client({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: db.database,
        ssl: { ca: otherCa.certPem, rejectUnauthorized: true },
      });
      await expect(client.connect()).rejects.toThrow(/certificate/i);
      // the lab CA, the same way, is accepted
      const trusted = new pg.Client({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: db.database,
        ssl: { ca: readFileSync(db.caFile, 'utf8'), rejectUnauthorized: true },
      });
      await trusted.connect();
      expect(await scalar(trusted, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toBe(true);
      await trusted.end();
    });
  },
);

describe.skipIf(unavailable)(
  `PostgreSQL harness: a server of the file's own${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    const lab = useOwnPostgres();

    it('keeps committed data across a restart, on the same port', async () => {
      const { server } = lab;
      const db = await server.createDatabase({ prefix: 'restart' });
      const before = server.pid;
      const client = await connect(db.tlsUrl);
      await client.query('CREATE TABLE kept (v int)');
      await client.query('INSERT INTO kept VALUES (1), (2)');
      await server.restart();
      expect(server.pid).not.toBe(before);
      expect(running(before)).toBe(false);
      // the old session ended with the server
      await expect(client.query('SELECT 1')).rejects.toThrow();
      await client.end().catch(() => undefined);
      const again = await connect(db.tlsUrl);
      expect(Number(await scalar(again, 'SELECT count(*) FROM kept'))).toBe(2);
      await again.end();
    });

    it('ends client sessions by application name and by PID, and leaves the others', async () => {
      const { server } = lab;
      const db = await server.createDatabase({ prefix: 'terminate' });
      const victim = await connect(db.url, 'dwb-victim');
      const bystander = await connect(db.url, 'dwb-bystander');
      const victimEnded = sessionEnd(victim);
      expect(await server.terminateBackends('dwb-victim')).toBe(1);
      // 57P01 admin_shutdown: "terminating connection due to administrator command"
      expect(await victimEnded).toMatchObject({ code: '57P01' });
      expect(await scalar(bystander, 'SELECT 1 AS one')).toBe(1);

      const pid = await scalar<number>(bystander, 'SELECT pg_backend_pid()');
      const bystanderEnded = sessionEnd(bystander);
      expect(await server.terminateBackends(pid)).toBe(1);
      expect(await bystanderEnded).toMatchObject({ code: '57P01' });
      expect(await server.terminateBackends('dwb-nobody')).toBe(0);
      await Promise.all([victim.end(), bystander.end()].map((p) => p.catch(() => undefined)));
    });

    it('survives kill -9 of the postmaster and starts again with every committed row', async () => {
      const { server } = lab;
      const db = await server.createDatabase({ prefix: 'crash' });
      const client = await connect(db.url, 'dwb-crash');
      await client.query('CREATE TABLE durable (v int)');
      await client.query('INSERT INTO durable SELECT generate_series(1, 1000)');
      const backend = await scalar<number>(client, 'SELECT pg_backend_pid()');
      const postmaster = server.pid;

      await server.kill();
      expect(server.pid).toBe(0);
      expect(running(postmaster)).toBe(false);
      // its backends went with it: the session is gone
      expect(running(backend)).toBe(false);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      await client.end().catch(() => undefined);
      await expect(connect(db.url)).rejects.toThrow(/ECONNREFUSED/);

      await server.start();
      expect(server.pid).not.toBe(0);
      expect(server.pid).not.toBe(postmaster);
      const again = await connect(db.url);
      expect(Number(await scalar(again, 'SELECT count(*) FROM durable'))).toBe(1000);
      await again.end();
      expect(readFileSync(server.logFile, 'utf8')).toMatch(
        /not properly shut down; automatic recovery in progress/,
      );
    });
  },
);
