// The heap guard of long passes: its first call collects, so what earlier work left behind is gone
// afterwards; within the budget, later calls leave the heap alone.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { heapGuard } from '../../src/sync/heap.js';

const used = () => v8.getHeapStatistics().used_heap_size;

function makeJunk(): { n: number; s: string }[] {
  const junk: { n: number; s: string }[] = [];
  for (let i = 0; i < 300_000; i++) junk.push({ n: i, s: `device-${i}-${'x'.repeat(40)}` });
  return junk;
}

describe('heapGuard', () => {
  it('collects on its first call and then only once the budget is used up', () => {
    const guard = heapGuard(512);
    let junk: unknown[] | undefined = makeJunk();
    const before = used(); // the junk is still reachable here, so it is counted
    expect(junk.length).toBe(300_000);
    junk = undefined;
    guard();
    expect(before - used()).toBeGreaterThan(10 * 1024 * 1024); // the ~30 MB of junk went
    let more: unknown[] | undefined = makeJunk();
    more = undefined;
    const grown = used();
    guard(); // 512 MB of budget: nothing to do
    expect(more).toBeUndefined();
    expect(used()).toBeGreaterThanOrEqual(grown - 1024 * 1024);
  });
});
