// A 53-bit fingerprint of JSON-like values, computed by walking them rather than serialising them:
// a full pass compares every device Graph returns with what the state store holds, and at 100,000
// devices JSON.stringify alone allocated ~190 MB per pass. Values with equal JSON text have equal
// fingerprints; different ones collide with a probability of about 2^-53.
//
// Two independent 32-bit lanes (FNV-1a and a multiply-xorshift) over every UTF-16 code unit, with
// a type tag before each value so that "1" and 1, [] and {}, or ["ab"] and ["a","b"] differ.

let a = 0;
let b = 0;

function mix(code: number): void {
  a = Math.imul(a ^ code, 0x01000193);
  b = Math.imul(b ^ code, 0x5bd1e995);
  b ^= b >>> 15;
}

function mixString(text: string): void {
  mix(text.length & 0xffff);
  mix(text.length >>> 16);
  for (let i = 0; i < text.length; i++) mix(text.charCodeAt(i));
}

function walk(value: unknown): void {
  if (value === null || value === undefined) {
    mix(0x6e); // n (JSON has no undefined: an absent value and null both serialise as null in arrays)
  } else if (typeof value === 'string') {
    mix(0x73); // s
    mixString(value);
  } else if (typeof value === 'boolean') {
    mix(value ? 0x74 : 0x66); // t / f
  } else if (typeof value === 'number') {
    mix(0x64); // d
    mixString(Number.isFinite(value) ? String(value) : 'null');
  } else if (Array.isArray(value)) {
    mix(0x5b); // [
    for (const item of value) walk(item);
    mix(0x5d); // ]
  } else if (typeof value === 'object') {
    mix(0x7b); // {
    const record = value as Record<string, unknown>;
    for (const key in record) {
      const v = record[key];
      if (v === undefined || typeof v === 'function') continue; // as JSON.stringify leaves them out
      mixString(key);
      walk(v);
    }
    mix(0x7d); // }
  } else {
    mix(0x3f); // ? (bigint, symbol: never in Graph data)
  }
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The fingerprint of one or more JSON-like values, as a non-negative integer below 2^53. */
export function fingerprint(...values: unknown[]): number {
  a = 0x811c9dc5;
  b = 0x2545f491;
  for (const value of values) walk(value);
  return fmix(a) * 2 ** 21 + (fmix(b) >>> 11);
}
