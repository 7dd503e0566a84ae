// Waiting in integration tests: poll until a probe gives a value (or a condition holds), and fail
// naming what was awaited once the time is up. How long it took is never asserted.

/** Polls `probe` until it returns a value other than undefined, and returns that value. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `condition` until it holds; a condition that throws (a DC restarting) is asked again. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await condition()) || undefined;
      } catch {
        return undefined;
      }
    },
    what,
    ms,
  );
}
