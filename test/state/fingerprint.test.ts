// The state store's fingerprints: equal records give equal fingerprints, any change (of a value,
// a type, an order inside an array, a key) gives another, and a full pass that finds a device
// unchanged skips the store without losing what a changed one brings.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/state/fingerprint.js';
import { StateStore } from '../../src/state/store.js';
import type { CloudDevice } from '../../src/entra/types.js';

const device = (over: Partial<CloudDevice> = {}): CloudDevice => ({
  id: 'g-1',
  deviceId: '9d6f8f6a-5e5d-4c3b-8a29-1f0e2d3c4b5a',
  displayName: 'PC-1',
  accountEnabled: true,
  operatingSystem: 'Windows',
  operatingSystemVersion: '10.0.22631',
  trustType: 'Workplace',
  isManaged: null,
  isCompliant: null,
  deviceVersion: 2,
  approximateLastSignInDateTime: '2026-11-01T10:00:00Z',
  physicalIds: ['[USER-GID]:a:1', '[GID]:g:2'],
  alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'QUJD' }],
  ...over,
});

describe('fingerprint', () => {
  it('is stable for equal values and a non-negative integer below 2^53', () => {
    const fp = fingerprint(device(), null);
    expect(fingerprint(JSON.parse(JSON.stringify(device())), null)).toBe(fp);
    expect(Number.isSafeInteger(fp) && fp >= 0).toBe(true);
  });

  it('changes with any value, type, array order or key', () => {
    const base = fingerprint(device(), null);
    const variants: unknown[][] = [
      [device({ displayName: 'PC-2' }), null],
      [device({ displayName: null }), null],
      [device({ accountEnabled: false }), null],
      [device({ deviceVersion: 3 }), null],
      [device({ physicalIds: ['[GID]:g:2', '[USER-GID]:a:1'] }), null],
      [device({ physicalIds: ['[USER-GID]:a:1[GID]:g:2'] }), null],
      [device({ alternativeSecurityIds: [] }), null],
      [device({ alternativeSecurityIds: [{ type: 2, identityProvider: 'x', key: 'QUJD' }] }), null],
      [device(), { registeredOwners: [], registeredUsers: [] }],
      [{ ...device(), extra: 1 }, null],
      [device({ displayName: '1' }), null],
    ];
    const seen = new Set<number>([base]);
    for (const v of variants) seen.add(fingerprint(...v));
    expect(seen.size).toBe(variants.length + 1);
    // Strings and numbers, arrays and objects are told apart.
    expect(fingerprint('1')).not.toBe(fingerprint(1));
    expect(fingerprint([])).not.toBe(fingerprint({}));
    expect(fingerprint(['ab'])).not.toBe(fingerprint(['a', 'b']));
  });

  it('has no collisions across 200,000 similar records', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200_000; i++) seen.add(fingerprint(device({ displayName: `PC-${i}` }), null));
    expect(seen.size).toBe(200_000);
  });
});

describe('StateStore.putDevice with fingerprints', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('skips what the store holds and writes what changed', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-fp-'));
    const store = StateStore.open(path.join(dir, 'state.db'), { writer: true });
    try {
      expect(store.putDevice(device(), null)).toBe(true);
      expect(store.putDevice(device(), null)).toBe(false); // the store compares without the caller's help
      const known = store.deviceFingerprints();
      expect([...known.keys()]).toEqual(['g-1']);
      expect(store.putDevice(device(), null, known.get('g-1'))).toBe(false);
      const renamed = device({ displayName: 'PC-renamed' });
      expect(store.putDevice(renamed, null, known.get('g-1'))).toBe(true);
      expect(store.getDevice('g-1')?.device.displayName).toBe('PC-renamed');
      const owners = { registeredOwners: [], registeredUsers: [] };
      expect(store.putDevice(renamed, owners, store.deviceFingerprints().get('g-1'))).toBe(true);
      expect(store.getDevice('g-1')?.relations).toEqual(owners);
    } finally {
      store.close();
    }
  });
});

describe('StateStore migration', () => {
  it('adds the fingerprint column to a store written before it, keeping its devices', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-migrate-'));
    try {
      const file = path.join(dir, 'state.db');
      const { default: Database } = await import('better-sqlite3');
      const old = new Database(file);
      old.exec(`CREATE TABLE devices (graph_id TEXT PRIMARY KEY, device_id TEXT, json TEXT NOT NULL,
        relations TEXT, updated_at TEXT NOT NULL)`);
      old
        .prepare('INSERT INTO devices VALUES (?, ?, ?, NULL, ?)')
        .run('g-1', device().deviceId, JSON.stringify(device()), '2026-01-01T00:00:00.000Z');
      old.close();
      const store = StateStore.open(file, { writer: true });
      try {
        expect(store.getDevice('g-1')?.device).toEqual(device());
        expect(store.deviceFingerprints()).toEqual(new Map([['g-1', null]]));
        // The first write after the upgrade records the fingerprint; the next one is skipped.
        expect(store.putDevice(device(), null, null)).toBe(true);
        expect(store.putDevice(device(), null, store.deviceFingerprints().get('g-1'))).toBe(false);
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
