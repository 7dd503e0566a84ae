// Unit tests of the connector's pure parts: device validation, Retry-After, backoff, Graph error
// bodies and the login-host rule for instance discovery.
import { describe, expect, it } from 'vitest';
import { graphScope, isMicrosoftLoginHost } from '../../src/entra/auth.js';
import { isResyncError, parseGraphError } from '../../src/entra/graph-error.js';
import { backoffDelay, defaultRetryPolicy, mayRetry, parseRetryAfter } from '../../src/entra/retry.js';
import { toDeviceChange } from '../../src/entra/schema.js';

describe('toDeviceChange', () => {
  it('keeps exactly the properties that were sent', () => {
    expect(toDeviceChange({ id: 'a', isManaged: null })).toEqual({
      kind: 'upsert',
      device: { id: 'a', isManaged: null },
    });
    expect(toDeviceChange({ id: 'a' })).toEqual({ kind: 'upsert', device: { id: 'a' } });
  });

  it('reads null collections as empty and fills a missing identityProvider with null', () => {
    expect(
      toDeviceChange({ id: 'a', physicalIds: null, alternativeSecurityIds: [{ type: 1, key: 'AAAA' }] }),
    ).toEqual({
      kind: 'upsert',
      device: {
        id: 'a',
        physicalIds: [],
        alternativeSecurityIds: [{ type: 1, identityProvider: null, key: 'AAAA' }],
      },
    });
  });

  it('maps @removed, with an unknown or missing reason read as a hard deletion', () => {
    expect(toDeviceChange({ id: 'a', '@removed': { reason: 'changed' } })).toEqual({
      kind: 'removed',
      id: 'a',
      reason: 'changed',
    });
    expect(toDeviceChange({ id: 'a', '@removed': {} })).toEqual({
      kind: 'removed',
      id: 'a',
      reason: 'deleted',
    });
    expect(toDeviceChange({ '@removed': { reason: 'deleted' } })).toMatchObject({
      kind: 'invalid',
      reason: /^id:/,
    });
  });

  it.each([
    [null, /\(device\)/],
    ['text', /\(device\)/],
    [{ id: 7 }, /^id:/],
    [{ id: 'a', deviceVersion: 1.5 }, /^deviceVersion:/],
    [{ id: 'a', approximateLastSignInDateTime: 'yesterday' }, /ISO 8601/],
    [{ id: 'a', physicalIds: 'x' }, /^physicalIds:/],
    [{ id: 'a', alternativeSecurityIds: {} }, /^alternativeSecurityIds:/],
    [
      { id: 'a', alternativeSecurityIds: [{ type: '2', key: 'AAAA' }] },
      /^alternativeSecurityIds\[0\]\.type:/,
    ],
    [{ id: 'a', alternativeSecurityIds: [{ type: 2 }] }, /^alternativeSecurityIds\[0\]\.key:/],
  ])('refuses %j', (item, reason) => {
    expect(toDeviceChange(item)).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(reason) });
  });

  it('never puts the offending values in the reason', () => {
    const change = toDeviceChange({ id: 'a', displayName: { secret: 'do-not-echo' } });
    expect(change.kind).toBe('invalid');
    expect(JSON.stringify(change)).not.toContain('do-not-echo');
  });
});

describe('Retry-After', () => {
  it('reads seconds, fractional seconds and HTTP dates', () => {
    expect(parseRetryAfter('10')).toBe(10_000);
    expect(parseRetryAfter('2.128')).toBe(2128);
    expect(parseRetryAfter('0')).toBe(0);
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-5')).toBeUndefined();
  });

  it('backs off exponentially within [step/2, step], capped', () => {
    const policy = { ...defaultRetryPolicy, baseDelayMs: 1000, maxDelayMs: 8000 };
    expect(backoffDelay(1, policy, () => 0)).toBe(500);
    expect(backoffDelay(1, policy, () => 1)).toBe(1000);
    expect(backoffDelay(3, policy, () => 1)).toBe(4000);
    expect(backoffDelay(10, policy, () => 1)).toBe(8000);
    expect(backoffDelay(10, policy, () => 0)).toBe(4000);
  });

  it('retries while attempts are left and the wait stays within the total', () => {
    const policy = { ...defaultRetryPolicy, maxAttempts: 3, maxTotalWaitMs: 8000 };
    expect(mayRetry(policy, 1, 0, 8000)).toBe(true);
    expect(mayRetry(policy, 2, 7000, 1000)).toBe(true);
    expect(mayRetry(policy, 2, 7000, 1001)).toBe(false);
    expect(mayRetry(policy, 3, 0, 0)).toBe(false);
  });
});

describe('Graph error bodies', () => {
  it('collects nested codes and the request id', () => {
    const info = parseGraphError(
      JSON.stringify({
        error: {
          code: 'TooManyRequests',
          message: 'Please retry again later.',
          innerError: { code: '429', 'request-id': 'r1' },
        },
      }),
    );
    expect(info).toEqual({
      codes: ['TooManyRequests', '429'],
      message: 'Please retry again later.',
      requestId: 'r1',
    });
  });

  it('survives bodies that are not Graph errors', () => {
    expect(parseGraphError(Buffer.from('<html>bad gateway</html>'))).toEqual({
      codes: [],
      message: '<html>bad gateway</html>',
    });
    expect(parseGraphError(Buffer.alloc(0))).toEqual({ codes: [], message: '' });
  });

  it('recognises the resync answers', () => {
    expect(isResyncError(410, { codes: [], message: '' })).toBe(true);
    expect(isResyncError(400, { codes: ['resyncRequired'], message: '' })).toBe(true);
    expect(isResyncError(404, { codes: ['generalException', 'syncStateNotFound'], message: '' })).toBe(true);
    expect(isResyncError(400, { codes: ['invalidRequest'], message: '' })).toBe(false);
  });
});

describe('identity platform hosts', () => {
  it('keeps instance discovery for Microsoft login hosts only', () => {
    expect(isMicrosoftLoginHost('https://login.microsoftonline.com')).toBe(true);
    expect(isMicrosoftLoginHost('https://login.microsoftonline.us/')).toBe(true);
    expect(isMicrosoftLoginHost('https://127.0.0.1:8443')).toBe(false);
    expect(isMicrosoftLoginHost('https://login.microsoftonline.com.evil.test')).toBe(false);
  });

  it('asks for the .default scope of entra.graphUrl', () => {
    expect(graphScope('https://graph.microsoft.com/')).toBe('https://graph.microsoft.com/.default');
  });
});
