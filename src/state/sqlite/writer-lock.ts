// One writer per SQLite store (sync, run): a lock file next to the database holding the owner's
// pid, host and command. The lock is taken on the real path of the database, so the same store
// reached through a symlink is the same lock. A stale lock of a dead process on this host is taken
// over. The lock file, like the store, is readable by its owner only.
import { closeSync, openSync, readFileSync, realpathSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DwbError, causeText } from '../../errors.js';

export interface WriterLock {
  release(): void;
}

interface Holder {
  pid?: number;
  host?: string;
  since?: string;
  /** The command that holds it (sync, run…). */
  command?: string;
}

/** The real path of a database file, also before it exists (its folder's real path). */
export function realStorePath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    try {
      return path.join(realpathSync(path.dirname(file)), path.basename(file));
    } catch {
      return path.resolve(file);
    }
  }
}

export function pidAlive(pid: number): boolean {
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
    return JSON.parse(readFileSync(`${realStorePath(dbFile)}.lock`, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

export function takeWriterLock(file: string, command = 'sync'): WriterLock {
  const dbFile = realStorePath(file);
  const lockFile = `${dbFile}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx', 0o600);
      writeSync(
        fd,
        JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), command }),
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
        const who = holder.command
          ? `\`device-writeback ${holder.command}\` (process ${holder.pid})`
          : `process ${holder.pid}`;
        throw new DwbError(
          'DWB_STATE_LOCKED',
          `the state store ${file} is in use by ${who} since ${holder.since ?? 'an unknown time'}; a second sync or run on the same store was refused.${
            holder.command === 'run'
              ? ' While `run` holds the store, release deletions held by the deletion threshold with `device-writeback approve-deletes` (or the console), not `sync --allow-deletes`.'
              : ''
          }`,
        );
      }
      if (holder.pid && !sameHost) {
        throw new DwbError(
          'DWB_STATE_LOCKED',
          `the state store ${file} is locked by ${holder.command ? `\`device-writeback ${holder.command}\`, ` : ''}process ${holder.pid} on host ${holder.host}. If that process is gone, delete ${lockFile}.`,
        );
      }
      rmSync(lockFile, { force: true }); // stale: its owner is dead
    }
  }
  throw new DwbError('DWB_STATE_LOCKED', `could not take the lock ${lockFile}`);
}
