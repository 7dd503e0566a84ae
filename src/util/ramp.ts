// Batches that start small: the first writes of a pass wait only for the owners of a few devices,
// and while each batch is written the owners of the next, larger one are read (Graph reads owners
// several times faster than a domain controller takes adds, so the look-ahead keeps up).

/** The sizes of a pass's first batches, before the steady size. */
export const WARM_UP: readonly number[] = [50, 200];

/**
 * Cuts `items` into consecutive slices: first the `warmUp` sizes (as many of them as the items
 * fill), then slices of `size`. Every item is in exactly one slice, in order.
 */
export function rampSlices<T>(items: readonly T[], size: number, warmUp: readonly number[] = WARM_UP): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be a positive integer, not ${size}`);
  const slices: T[][] = [];
  let at = 0;
  for (const first of warmUp) {
    if (at >= items.length) break;
    slices.push(items.slice(at, at + first));
    at += first;
  }
  for (; at < items.length; at += size) slices.push(items.slice(at, at + size));
  return slices;
}
