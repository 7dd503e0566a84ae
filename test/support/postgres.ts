// Test harness for PostgreSQL (SPEC §7): a fresh database with its own login role on the run's
// shared server (started by the global setup), or a server of the test file's own for tests that
// stop, kill or restart it. Files skip with postgresUnavailable() as the reason where it cannot run.
import path from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import {
  createDatabase,
  startPostgres,
  type LabPostgres,
  type PostgresDatabase,
  type PostgresServerInfo,
} from '../../src/lab/postgres.js';

export type { LabPostgres, PostgresDatabase, PostgresServerInfo };

/** Why PostgreSQL tests cannot run here ('' when they can): use with describe.skipIf / it.skipIf. */
export function postgresUnavailable(): string {
  return inject('postgresUnavailable');
}

/** The run's shared server; do not stop or kill it (other test files use it at the same time). */
export function sharedPostgres(): PostgresServerInfo {
  const server = inject('postgres');
  if (!server) throw new Error(`PostgreSQL tests cannot run here: ${postgresUnavailable()}`);
  return server;
}

/** A new database on the shared server, owned by a new role with a password; see its url / tlsUrl. */
export function freshDatabase(prefix = 'test'): Promise<PostgresDatabase> {
  return createDatabase(sharedPostgres(), { prefix });
}

let serial = 0;

/**
 * A PostgreSQL server of the caller's own, for fault tests (stop, kill -9, restart): the caller
 * destroys it; the global teardown sweeps what is left.
 */
export function startTestPostgres(): Promise<LabPostgres> {
  sharedPostgres();
  return startPostgres({ dir: path.join(inject('postgresRoot'), `own-${process.pid}-${++serial}`) });
}

/** Starts a server of the file's own before its tests and destroys it after them (read `lab.server`). */
export function useOwnPostgres(): { server: LabPostgres } {
  const holder = {} as { server: LabPostgres };
  beforeAll(async () => {
    holder.server = await startTestPostgres();
  });
  afterAll(async () => {
    await holder.server?.destroy();
  });
  return holder;
}
