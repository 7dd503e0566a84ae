// The one neutraliser of values from the cloud or the directory (SPEC §3): what it escapes, what it
// keeps, and that JSON stays the same value once parsed.
import { describe, expect, it } from 'vitest';
import { escapeUnsafe, escapeUnsafeJson } from '../../src/util/safe-text.js';

describe('escapeUnsafe', () => {
  it('shows escape sequences, C1 controls and bidirectional overrides escaped', () => {
    expect(escapeUnsafe('a\u001b[2Jb')).toBe('a\\u001b[2Jb');
    expect(escapeUnsafe('\u001b]0;pwned\u0007')).toBe('\\u001b]0;pwned\\u0007');
    expect(escapeUnsafe('RTL\u202egnp.exe')).toBe('RTL\\u202egnp.exe');
    expect(escapeUnsafe('\u009b2J\u007f')).toBe('\\u009b2J\\u007f');
    for (const c of [
      '\u061c',
      '\u200e',
      '\u200f',
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
      '\u2028',
      '\u2029',
      '\ufeff',
    ])
      expect(escapeUnsafe(`x${c}y`)).toBe(`x\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}y`);
    expect(escapeUnsafe('cr\rtab\t')).toBe('cr\\u000dtab\\u0009');
  });

  it('keeps line feeds (unless singleLine), ordinary Unicode and joiners, and is idempotent', () => {
    const text = 'Überprüfung ✔ 東京 مرحبا 👩‍💻 a\u200cb\nsecond line';
    expect(escapeUnsafe(text)).toBe(text);
    expect(escapeUnsafe('a\nb', { singleLine: true })).toBe('a\\u000ab');
    const once = escapeUnsafe('x\u001b\u202ey');
    expect(escapeUnsafe(once)).toBe(once);
  });
});

describe('escapeUnsafeJson', () => {
  it('escapes what JSON leaves raw, and parses back to the same value', () => {
    const value = { name: 'RTL\u202egnp.exe\u0085\u007f', c0: '\u001b[2J' };
    const json = escapeUnsafeJson(JSON.stringify(value));
    expect(json).not.toMatch(/[\u007f-\u009f\u202e\u001b]/);
    expect(json).toContain('\\u202e');
    expect(JSON.parse(json)).toEqual(value);
  });
});
