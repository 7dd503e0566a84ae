// state.writable against the stores that every open refuses (SPEC §2, §4): one written by a newer
// version fails with DWB_STATE_VERSION and is left untouched, a damaged one with DWB_STATE_CORRUPT
// and the fix (move it aside, sync --full), and a good one passes with code null.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { stateWritable } from '../../src/checks/state-writable.js';
import { parseConfig } from '../../src/config/load.js';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storeFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-probe-'));
  dirs.push(dir);
  return path.join(dir, 'state.db');
}

async function check(file: string) {
  const config = parseConfig(
    `ad: { url: ldaps://dc.test, bindDn: CN=x, password: { env: X } }\nstate: { sqlite: ${file} }\n`,
    path.join(path.dirname(file), 'device-writeback.yaml'),
  );
  return stateWritable.run({ config, forest: config.forests[0]!, cache: new Map() });
}

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('state.writable', () => {
  it('passes on a good store, with code null', async () => {
    const file = storeFile();
    await SqliteStateStore.open(file, { writer: true }).close();
    expect(await check(file)).toMatchObject({ status: 'pass', code: null });
  });

  it('fails on a store written by a newer version (DWB_STATE_VERSION), leaving it untouched', async () => {
    const file = storeFile();
    const db = new Database(file);
    db.pragma('user_version = 9999');
    db.close();
    const before = sha(file);
    const result = await check(file);
    expect(result).toMatchObject({ status: 'fail', code: 'DWB_STATE_VERSION' });
    expect(result.detail).toContain('has schema version 9999, written by a newer device-writeback');
    expect(sha(file)).toBe(before);
  });

  it('fails on a damaged store (DWB_STATE_CORRUPT), with the fix that rebuilds it', async () => {
    const file = storeFile();
    await SqliteStateStore.open(file, { writer: true }).close();
    // garbage over everything after page 1 (which holds the header)
    const pageSize = readFileSync(file).readUInt16BE(16);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(pageSize * 4, 0x5a), 0, pageSize * 4, pageSize);
    closeSync(fd);
    const result = await check(file);
    expect(result).toMatchObject({ status: 'fail', code: 'DWB_STATE_CORRUPT' });
    expect(result.detail).toContain(`the state store ${file} is damaged`);
    expect(result.fix).toContain('device-writeback sync --full');
  });

  it('fails on a file that is not a database (DWB_STATE_CORRUPT)', async () => {
    const file = storeFile();
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.alloc(8192, 0x41));
    closeSync(fd);
    expect(await check(file)).toMatchObject({ status: 'fail', code: 'DWB_STATE_CORRUPT' });
  });
});
