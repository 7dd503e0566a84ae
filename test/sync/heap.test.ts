// The heap guard of long passes: its first call collects, so garbage left behind by earlier work
// is gone afterwards; within the budget, later calls leave the heap alone.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { heapGuard } from '../../src/sync/heap.js';

const used = () => v8.getHeapStatistics().used_heap_size;

function makeGarbage(): number {
  let junk: { n: number; s: string }[] | undefined = [];
  for (let i = 0; i < 300_000; i++) junk.push({ n: i, s: `device-${i}-${'x'.repeat(40)}` });
  const length = junk.length;
  junk = undefined;
  return length;
}

describe('heapGuard', () => {
  it('collects on its first call and then only once the budget is used up', () => {
    const guard = heapGuard(512);
    expect(makeGarbage()).toBe(300_000);
    const before = used();
    guard();
    const after = used();
    expect(before - after).toBeGreaterThan(10 * 1024 * 1024); // the ~30 MB of garbage went
    makeGarbage();
    const grown = used();
    guard(); // 512 MB budget: nothing to do
    expect(used()).toBeGreaterThanOrEqual(grown - 1024 * 1024);
  });
});
