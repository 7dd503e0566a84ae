// The state.writable check's look at a SQLite store: it opens (created if missing, WAL), passes the
// version and integrity checks of every open (DWB_STATE_VERSION, DWB_STATE_CORRUPT), and takes a
// write, in a transaction that is rolled back, so nothing is left behind in the store.
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { causeText } from '../../errors.js';
import type { StoreProbe } from '../store.js';
import { assertStoreUsable, storeOpenError } from './sqlite-store.js';

export function probeSqliteStore(file: string): StoreProbe {
  const dir = path.dirname(file);
  if (!existsSync(dir)) {
    return {
      status: 'fail',
      detail: `the folder ${dir} of state.sqlite does not exist`,
      fix: `Create it (mkdir -p ${dir}) or point state.sqlite elsewhere.`,
    };
  }
  const existed = existsSync(file);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 2000 });
    // A store too new or damaged is refused before anything is written to it.
    if (existed) assertStoreUsable(db, file);
    const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec('CREATE TABLE IF NOT EXISTS dwb_check (probe INTEGER)');
      db.prepare('INSERT INTO dwb_check (probe) VALUES (1)').run();
    } finally {
      db.exec('ROLLBACK');
    }
    const lock = existsSync(`${file}.lock`) ? '; a sync or run holds the writer lock now' : '';
    const detail = `${existed ? 'opened' : 'created'} ${file} (journal ${mode}); a test write was rolled back${lock}`;
    if (mode.toLowerCase() !== 'wal') {
      return {
        status: 'warn',
        detail,
        fix: 'The file system does not support SQLite WAL mode (e.g. a network share); use a local disk for state.sqlite.',
      };
    }
    return { status: 'pass', detail, fix: '' };
  } catch (err) {
    const refused = storeOpenError(file, err);
    if (refused.code === 'DWB_STATE_VERSION' || refused.code === 'DWB_STATE_CORRUPT') {
      return { status: 'fail', detail: refused.message, fix: refused.fix, code: refused.code };
    }
    const busy = /busy|locked/i.test(causeText(err));
    return busy
      ? {
          status: 'warn',
          detail: `${file} is busy: another process kept a write transaction open for 2 s (${causeText(err)})`,
          fix: 'Run check again; if it persists, look for a stuck device-writeback process.',
          code: 'DWB_STATE_LOCKED',
        }
      : {
          status: 'fail',
          detail: `${file}: ${causeText(err)}`,
          fix: `Make ${file} and its folder writable by this user, or point state.sqlite elsewhere.`,
        };
  } finally {
    db?.close();
  }
}
