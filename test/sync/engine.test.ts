// The engine's logic without Samba, on a SQLite state store (the suite is engine-suite.ts; the
// same suite runs on PostgreSQL in engine-postgres.int.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { describeEngine } from './engine-suite.js';

describeEngine('SQLite', {
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-engine-unit-'));
    return {
      store: SqliteStateStore.open(path.join(dir, 'state.db'), { writer: true }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
