// The engine's logic without Samba, with one forest and with several, and with scope rules, on a
// PostgreSQL state store of the run's lab server (the suites are engine-suite.ts,
// engine-forests-suite.ts, scope-suite.ts and scope-groups-suite.ts): the store is
// opened as the leader of its group, and the engine writes to every forest through the lease, as
// `sync` and `run` do.
import { describe } from 'vitest';
import { fromLease } from '../../src/state/lease.js';
import { PostgresStateStore } from '../../src/state/postgres/postgres-store.js';
import { FencedForestLink } from '../../src/sync/fenced-directory.js';
import { freshDatabase, postgresUnavailable } from '../support/postgres.js';
import { describeEngineForests } from './engine-forests-suite.js';
import { describeEngine, type EngineStoreFactory } from './engine-suite.js';
import { describeScopeGroupRounds } from './scope-groups-suite.js';
import { describeEngineScope } from './scope-suite.js';

const unavailable = postgresUnavailable();

/** A fresh database per test, its store opened as the leader; the forests reached through its lease. */
const leader: EngineStoreFactory = {
  async open() {
    const db = await freshDatabase('engine');
    const store = await PostgresStateStore.open(db.url, {
      writer: true,
      command: 'test',
      lease: fromLease(10_000, 3_000),
    });
    return {
      store,
      forest: (inner) => new FencedForestLink(inner, store.group!),
      cleanup: async () => undefined,
    };
  },
};

describe.skipIf(unavailable)(`PostgreSQL state${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  describeEngine('PostgreSQL', leader);
  describeEngineForests('PostgreSQL', leader);
  describeEngineScope('PostgreSQL', leader);
  describeScopeGroupRounds('PostgreSQL', leader);
});
