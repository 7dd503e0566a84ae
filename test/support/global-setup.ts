// Once per test run, in parallel: provisions the template forests (2012 R2 and 2008 R2 schemas;
// the second forest, fabrikam, is provisioned later and only when a test asks for it) and starts
// one PostgreSQL server. At the end it stops every DC and PostgreSQL server by PID and removes
// every loopback address the run added, even after failures.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  postgresUnavailable,
  startPostgres,
  sweepPostgres,
  type LabPostgres,
  type PostgresServerInfo,
} from '../../src/lab/postgres.js';
import { missingPrerequisites, provisionTemplate, sweep } from '../../src/lab/samba.js';

declare module 'vitest' {
  export interface ProvidedContext {
    sambaRoot: string;
    sambaUnavailable: string;
    /** The run's shared PostgreSQL server (null when unavailable). */
    postgres: PostgresServerInfo | null;
    postgresUnavailable: string;
    /** Where test files start PostgreSQL servers of their own (swept at the end). */
    postgresRoot: string;
  }
}

const seconds = (since: number): string => ((Date.now() - since) / 1000).toFixed(1);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const root = path.join(os.tmpdir(), `dwb-test-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  // The PostgreSQL server runs as the postgres user, which must reach its folder inside.
  chmodSync(root, 0o755);
  const postgresRoot = path.join(root, 'postgres');

  const missing = missingPrerequisites();
  let unavailable = '';
  if (missing.length > 0) unavailable = `missing: ${missing.join(', ')}`;
  else if (process.getuid?.() !== 0) unavailable = 'Samba AD DC tests need root (loopback addresses, samba)';
  const pgUnavailable = postgresUnavailable();

  let postgres: LabPostgres | undefined;
  const teardown = async (): Promise<void> => {
    await postgres?.destroy().catch(() => undefined);
    await sweepPostgres(postgresRoot);
    await sweep(path.join(root, 'dcs'));
    rmSync(root, { recursive: true, force: true });
  };

  const templates = async (): Promise<void> => {
    if (unavailable) return;
    const since = Date.now();
    await Promise.all([
      provisionTemplate(path.join(root, 'template-2012_R2'), '2012_R2'),
      provisionTemplate(path.join(root, 'template-2008_R2'), '2008_R2'),
    ]);
    console.log(`[samba] templates provisioned in ${seconds(since)} s under ${root}`);
  };
  const database = async (): Promise<void> => {
    if (pgUnavailable) {
      console.log(`[postgres] PostgreSQL tests will be skipped: ${pgUnavailable}`);
      return;
    }
    const since = Date.now();
    postgres = await startPostgres({ dir: path.join(postgresRoot, 'shared') });
    console.log(
      `[postgres] PostgreSQL ${postgres.version} ready in ${seconds(since)} s on ${postgres.host}:${postgres.port}`,
    );
  };
  const results = await Promise.allSettled([templates(), database()]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Vitest does not run a teardown that setup never returned.
    await teardown();
    throw failed.reason;
  }
  console.log(`[lab] global setup took ${seconds(started)} s`);

  project.provide('sambaRoot', root);
  project.provide('sambaUnavailable', unavailable);
  project.provide('postgres', postgres ? postgres.info() : null);
  project.provide('postgresUnavailable', pgUnavailable);
  project.provide('postgresRoot', postgresRoot);
  return teardown;
}
