import { describe, expect, it } from 'vitest';
import { rampSlices } from '../../src/util/ramp.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('rampSlices', () => {
  it('starts with the warm-up sizes, then the steady size', () => {
    expect(rampSlices(range(1300), 500).map((s) => s.length)).toEqual([50, 200, 500, 500, 50]);
  });

  it('keeps every item once, in order', () => {
    const items = range(777);
    expect(rampSlices(items, 100, [3, 10]).flat()).toEqual(items);
  });

  it('stops the warm-up where the items end', () => {
    expect(rampSlices(range(120), 500).map((s) => s.length)).toEqual([50, 70]);
    expect(rampSlices(range(50), 500).map((s) => s.length)).toEqual([50]);
    expect(rampSlices([], 500)).toEqual([]);
  });

  it('refuses a batch size that cannot make progress', () => {
    expect(() => rampSlices(range(3), 0)).toThrow(/positive integer/);
  });
});
