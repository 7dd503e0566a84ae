// Bounded concurrency: at most `limit` pieces of work in flight, each told which worker (slot) runs
// it, so that a caller can pin a worker to a connection of its pool.

/**
 * Runs `work` over `items` with at most `limit` running at once. The first failure stops the
 * workers from taking new items; the ones in flight finish, then that failure is thrown.
 */
export async function runBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, slot: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (slot: number): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item, slot);
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  const workers = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workers }, (_, slot) => worker(slot)));
  if (failed) throw failure;
}
