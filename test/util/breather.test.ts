import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Breather } from '../../src/util/breather.js';

describe('Breather', () => {
  it('gives the event loop a turn during long synchronous work, so that a pending callback runs', async () => {
    const breather = new Breather(2);
    let ran = false;
    setImmediate(() => (ran = true));
    const started = performance.now();
    let seen = false;
    while (performance.now() - started < 200) {
      for (let i = 0; i < 1000; i++) Math.sqrt(i); // a slice of synchronous work
      await breather.breathe();
      if (ran) {
        seen = true;
        break;
      }
    }
    expect(seen).toBe(true);
  });

  it('does not yield before its interval has passed', async () => {
    const breather = new Breather(60_000);
    let ran = false;
    setImmediate(() => (ran = true));
    for (let i = 0; i < 100; i++) await breather.breathe();
    expect(ran).toBe(false);
  });
});
