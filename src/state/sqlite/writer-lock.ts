// One writer per SQLite store (sync, run): a lock file next to the database holding the owner's pid
// and host. A stale lock of a dead process on this host is taken over.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { DwbError, causeText } from '../../errors.js';

export interface WriterLock {
  release(): void;
}

interface Holder {
  pid?: number;
  host?: string;
  since?: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads who holds the lock of `dbFile`, if anyone does. */
export function lockHolder(dbFile: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(`${dbFile}.lock`, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

export function takeWriterLock(dbFile: string): WriterLock {
  const lockFile = `${dbFile}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(
        fd,
        JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }),
      );
      closeSync(fd);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          rmSync(lockFile, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DwbError(
          'DWB_STATE_UNAVAILABLE',
          `cannot create the lock file ${lockFile}: ${causeText(err)}`,
        );
      }
      const holder = lockHolder(dbFile) ?? {}; // a half-written lock is treated as stale below
      const sameHost = !holder.host || holder.host === os.hostname();
      if (holder.pid && sameHost && pidAlive(holder.pid) && holder.pid !== process.pid) {
        throw new DwbError(
          'DWB_STATE_LOCKED',
          `the state store ${dbFile} is in use by process ${holder.pid} (since ${holder.since ?? 'unknown'}); a second sync or run on the same store was refused.`,
        );
      }
      if (holder.pid && !sameHost) {
        throw new DwbError(
          'DWB_STATE_LOCKED',
          `the state store ${dbFile} is locked by process ${holder.pid} on host ${holder.host}. If that process is gone, delete ${lockFile}.`,
        );
      }
      rmSync(lockFile, { force: true }); // stale: its owner is dead
    }
  }
  throw new DwbError('DWB_STATE_LOCKED', `could not take the lock ${lockFile}`);
}
