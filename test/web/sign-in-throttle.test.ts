// The /login throttle without a server or a clock: free failures, growing waits, per-client keys
// (IPv6 by /64), and a table that stays bounded however many addresses guess.
import { describe, expect, it } from 'vitest';
import { clientKey, defaultSignInThrottle, SignInThrottle } from '../../src/web/sign-in-throttle.js';

function throttle(options: Partial<typeof defaultSignInThrottle> = {}) {
  let now = 1_000_000;
  const t = new SignInThrottle({ ...defaultSignInThrottle, ...options }, () => now);
  return { t, advance: (ms: number) => (now += ms) };
}

describe('SignInThrottle', () => {
  it('lets a few wrong tokens through, then makes the client wait longer and longer', () => {
    const { t, advance } = throttle();
    expect([t.failed('10.0.0.1'), t.failed('10.0.0.1'), t.failed('10.0.0.1')]).toEqual([0, 0, 0]);
    expect(t.waitMs('10.0.0.1')).toBe(0);
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) {
      waits.push(t.failed('10.0.0.1'));
      expect(t.waitMs('10.0.0.1')).toBe(waits[i]);
      advance(waits[i]!);
      expect(t.waitMs('10.0.0.1')).toBe(0);
    }
    expect(waits.slice(0, 4)).toEqual([1000, 2000, 4000, 8000]);
    expect(Math.max(...waits)).toBe(defaultSignInThrottle.maxDelayMs);
    // another client is not affected; a right token ends the count
    expect(t.waitMs('10.0.0.2')).toBe(0);
    t.succeeded('10.0.0.1');
    expect(t.failed('10.0.0.1')).toBe(0);
  });

  it('forgets a client after a quiet period', () => {
    const { t, advance } = throttle();
    for (let i = 0; i < 5; i++) t.failed('10.0.0.1');
    advance(defaultSignInThrottle.forgetAfterMs);
    expect(t.failed('10.0.0.1')).toBe(0);
  });

  it('counts IPv6 clients by their /64 and IPv4-mapped addresses as IPv4', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'));
    expect(clientKey('2001:db8:1:2::1')).not.toBe(clientKey('2001:db8:1:3::1'));
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    const { t } = throttle({ freeFailures: 0 });
    t.failed('2001:db8:1:2::1');
    expect(t.waitMs('2001:db8:1:2::99')).toBeGreaterThan(0);
  });

  it('stays bounded when many addresses guess', () => {
    const { t } = throttle({ maxClients: 1000 });
    for (let i = 0; i < 50_000; i++) t.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(t.size).toBeLessThanOrEqual(1000);
  });
});
