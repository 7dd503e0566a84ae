// Long synchronous work (planning a batch of hundreds of devices) gives the event loop a turn every
// few milliseconds, so that answers already received are read and the next requests go out: while
// the loop is blocked, a domain controller that has answered the adds in flight waits for more.

import { performance } from 'node:perf_hooks';

/** Yields to the event loop when `everyMs` have passed since the last turn it gave. */
export class Breather {
  private last = performance.now();

  constructor(private readonly everyMs = 4) {}

  /** Resolves at once, or after one turn of the event loop (I/O included) once `everyMs` have passed. */
  async breathe(): Promise<void> {
    if (performance.now() - this.last < this.everyMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
  }
}
