// The engine's logic without Samba, on a PostgreSQL state store of the run's lab server (the suite
// is engine-suite.ts): the store is opened as the leader of its group, and the engine writes
// through the fenced directory, as `sync` and `run` do.
import { describe } from 'vitest';
import { fromLease } from '../../src/state/lease.js';
import { PostgresStateStore } from '../../src/state/postgres/postgres-store.js';
import { FencedDirectory } from '../../src/sync/fenced-directory.js';
import { freshDatabase, postgresUnavailable } from '../support/postgres.js';
import { describeEngine } from './engine-suite.js';

const unavailable = postgresUnavailable();

describe.skipIf(unavailable)(`PostgreSQL state${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  describeEngine('PostgreSQL', {
    async open() {
      const db = await freshDatabase('engine');
      const store = await PostgresStateStore.open(db.url, {
        writer: true,
        command: 'test',
        lease: fromLease(10_000, 3_000),
      });
      return {
        store,
        directory: (inner) => new FencedDirectory(inner, store.group!),
        cleanup: async () => undefined,
      };
    },
  });
});
