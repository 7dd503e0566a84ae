// Bounded concurrency: at most `limit` pieces of work in flight.

/**
 * Runs `work` over `items` with at most `limit` running at once. The first failure stops the
 * workers from taking new items; the ones in flight finish, then that failure is thrown.
 */
export async function runBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  const workers = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workers }, () => worker()));
  if (failed) throw failure;
}
