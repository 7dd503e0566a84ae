// The state store's fingerprints: equal records give equal fingerprints, any change (of a value,
// a type, an order inside an array, a key) gives another. (The store's use of them is tested with
// the store, in store-contract.ts.)
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/state/fingerprint.js';
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
