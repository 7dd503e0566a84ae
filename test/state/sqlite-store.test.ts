// The SQLite state store: the StateStore contract, its schema versions (PRAGMA user_version) and
// the migration of stores written by earlier versions.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { migrate, SQLITE_SCHEMA_VERSION } from '../../src/state/sqlite/schema.js';
import { describeStateStore, sampleCloudDevice } from './store-contract.js';

describeStateStore('SQLite', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-store-'));
  const file = path.join(dir, 'state.db');
  return {
    open: async () => SqliteStateStore.open(file, { writer: true }),
    reader: async () => SqliteStateStore.open(file, { writer: false }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SQLite store versions', () => {
  it('brings a store written before fingerprints to the current version, keeping its devices', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-migrate-'));
    try {
      const file = path.join(dir, 'state.db');
      const device = sampleCloudDevice();
      const old = new Database(file);
      old.exec(`CREATE TABLE devices (graph_id TEXT PRIMARY KEY, device_id TEXT, json TEXT NOT NULL,
        relations TEXT, updated_at TEXT NOT NULL)`);
      old
        .prepare('INSERT INTO devices VALUES (?, ?, ?, NULL, ?)')
        .run('g-1', device.deviceId, JSON.stringify(device), '2026-01-01T00:00:00.000Z');
      old.close();
      const store = SqliteStateStore.open(file, { writer: true });
      try {
        expect((await store.getDevices(['g-1'])).get('g-1')?.device).toEqual(device);
        expect(await store.deviceFingerprints()).toEqual(new Map([['g-1', null]]));
        // The first write after the upgrade records the fingerprint; the next one is skipped.
        expect(await store.putDevices([{ device, relations: null, storedFingerprint: null }])).toBe(1);
        const fp = (await store.deviceFingerprints()).get('g-1');
        expect(await store.putDevices([{ device, relations: null, storedFingerprint: fp }])).toBe(0);
      } finally {
        await store.close();
      }
      const db = new Database(file, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite store versions: one forest to several', () => {
  it('keeps the objects of a store written for one forest under "default", and its next pass a delta', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-migrate-'));
    try {
      const file = path.join(dir, 'state.db');
      const old = new Database(file);
      old.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE objects (device_id TEXT PRIMARY KEY, graph_id TEXT NOT NULL, dn TEXT NOT NULL,
          object_guid TEXT, hash TEXT NOT NULL, last_synced_at TEXT NOT NULL);`);
      old.prepare('INSERT INTO meta VALUES (?, ?)').run('deltaLink', 'https://graph.test/delta?t=1');
      old.prepare('INSERT INTO meta VALUES (?, ?)').run('lastFullAt', '2026-11-01T00:00:00.000Z');
      old
        .prepare('INSERT INTO objects VALUES (?, ?, ?, NULL, ?, ?)')
        .run('d-1', 'g-1', 'CN=d-1,CN=RegisteredDevices,DC=t', 'h', '2026-11-01T00:00:00.000Z');
      old.close();
      const store = SqliteStateStore.open(file, { writer: true });
      try {
        expect((await store.getObjects('default', ['d-1'])).get('d-1')).toMatchObject({
          graphId: 'g-1',
          dn: 'CN=d-1,CN=RegisteredDevices,DC=t',
        });
        expect((await store.forestStates()).get('default')).toMatchObject({
          needsFull: false,
          lastFullAt: '2026-11-01T00:00:00.000Z',
        });
        expect((await store.watermark()).deltaLink).toBe('https://graph.test/delta?t=1');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite store versions: 3 to 4 (several forests and scope rules, one migration)', () => {
  it('moves a v3 store to per-forest state under "default" and adds the scope columns and tables', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-migrate-'));
    try {
      const file = path.join(dir, 'state.db');
      const device = sampleCloudDevice();
      const v3 = new Database(file);
      migrate(v3, 3);
      v3.prepare('INSERT INTO meta VALUES (?, ?)').run('deltaLink', 'https://graph.test/delta?t=3');
      v3.prepare('INSERT INTO meta VALUES (?, ?)').run('lastFullAt', '2026-11-02T00:00:00.000Z');
      v3.prepare(
        'INSERT INTO devices(graph_id, device_id, json, relations, updated_at) VALUES (?, ?, ?, NULL, ?)',
      ).run(device.id, device.deviceId, JSON.stringify(device), '2026-11-02T00:00:00.000Z');
      v3.prepare('INSERT INTO objects VALUES (?, ?, ?, NULL, ?, ?)').run(
        device.deviceId,
        device.id,
        `CN=${device.deviceId},CN=RegisteredDevices,DC=t`,
        'h',
        '2026-11-02T00:00:00.000Z',
      );
      v3.prepare('INSERT INTO held_deletions VALUES (?, ?, ?, ?, ?, NULL)').run(
        'd-9',
        'g-9',
        'CN=d-9,CN=RegisteredDevices,DC=t',
        'the device was deleted in Entra ID',
        '2026-11-02T00:00:00.000Z',
      );
      v3.prepare('INSERT INTO deletion_log VALUES (?, ?)').run(new Date().toISOString(), 7);
      expect(v3.pragma('user_version', { simple: true })).toBe(3);
      v3.close();

      const store = SqliteStateStore.open(file, { writer: true });
      try {
        // The forests half: the one forest of a v3 store is "default", and it stays a delta.
        expect((await store.getObjects('default', [device.deviceId])).get(device.deviceId)).toMatchObject({
          forest: 'default',
          graphId: device.id,
        });
        expect(await store.heldDeletions()).toMatchObject([{ forest: 'default', deviceId: 'd-9' }]);
        expect(await store.deletionsSince('default', '2026-01-01T00:00:00.000Z')).toBe(7);
        expect((await store.forestStates()).get('default')).toMatchObject({
          needsFull: false,
          lastFullAt: '2026-11-02T00:00:00.000Z',
        });
        expect((await store.watermark()).deltaLink).toBe('https://graph.test/delta?t=3');
        // The scope half: no disposition yet, no scope applied, no scope group tracked.
        expect((await store.getDevices([device.id])).get(device.id)).toMatchObject({
          device,
          forest: null,
          reason: null,
          rule: null,
        });
        expect(await store.scopeFingerprint()).toBeUndefined();
        expect(await store.scopeGroups()).toEqual({ tracks: [], edges: [] });
        expect(await store.notWrittenCounts()).toEqual([]);
        // Both are writable at once: a device out of scope records its reason and rule.
        await store.putDevices([
          {
            device,
            relations: null,
            forest: null,
            reason: 'out of scope: not compliant',
            rule: 'compliantOnly',
          },
        ]);
        expect(await store.notWrittenCounts()).toEqual([
          { rule: 'compliantOnly', reason: 'out of scope: not compliant', count: 1 },
        ]);
      } finally {
        await store.close();
      }
      const db = new Database(file, { readonly: true });
      expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite store integrity', () => {
  it('a corruption met mid-run is DWB_STATE_CORRUPT, not a crash half-way', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-corrupt-'));
    try {
      const file = path.join(dir, 'state.db');
      const store = SqliteStateStore.open(file, { writer: true });
      await store.putDevices(
        Array.from({ length: 400 }, (_, i) => ({
          device: sampleCloudDevice({ id: `g-${i}`, displayName: `PC-${i}`.padEnd(300, 'x') }),
          relations: null,
        })),
      );
      await store.close();
      const reader = SqliteStateStore.open(file, { writer: false });
      try {
        // Damage pages behind the open store's back, then make it drop its page cache (another
        // connection's write changes the WAL, which every reader notices at its next read).
        const pageSize = readFileSync(file).readUInt16BE(16);
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(pageSize * 8, 0x5a), 0, pageSize * 8, pageSize * 4);
        closeSync(fd);
        const other = new Database(file);
        other.exec(
          "INSERT INTO meta(key, value) VALUES('poke', '1') ON CONFLICT(key) DO UPDATE SET value = '2'",
        );
        other.close();
        await expect(reader.getDevices(['g-5', 'g-100', 'g-300'])).rejects.toMatchObject({
          code: 'DWB_STATE_CORRUPT',
          message: expect.stringContaining('is damaged'),
        });
      } finally {
        await reader.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
