// The device object's anchor: only objects carrying this product's msDS-CloudAnchor are managed.
import { describe, expect, it } from 'vitest';
import { cloudAnchor, isProductAnchor } from '../../src/ad/device-object.js';
import { fromFileTime, toFileTime } from '../../src/ad/filetime.js';

describe('device objects', () => {
  it('recognises only its own anchors', () => {
    expect(isProductAnchor(cloudAnchor('0b7c6a2e-1111-4222-8333-944455556666'))).toBe(true);
    expect(isProductAnchor(Buffer.from('User_123'))).toBe(false);
    expect(isProductAnchor(undefined)).toBe(false);
  });

  it('FILETIME matches the documented epoch', () => {
    expect(toFileTime('1601-01-01T00:00:00Z')).toBe('0');
    expect(toFileTime('1970-01-01T00:00:00Z')).toBe('116444736000000000');
    expect(fromFileTime(toFileTime('2026-11-20T08:15:30.000Z')).toISOString()).toBe(
      '2026-11-20T08:15:30.000Z',
    );
  });
});
