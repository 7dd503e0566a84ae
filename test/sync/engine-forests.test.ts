// The engine with several forests without Samba, on a SQLite state store (the suite is
// engine-forests-suite.ts; the same suite runs on PostgreSQL in engine-forests-postgres.int.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { describeEngineForests } from './engine-forests-suite.js';

describeEngineForests('SQLite', {
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-forests-unit-'));
    return {
      store: SqliteStateStore.open(path.join(dir, 'state.db'), { writer: true }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
