// Keeps a long pass's heap near what it actually holds. A full pass at 100,000 devices keeps ~40 MB
// alive but allocates over a gigabyte, page after page; on a machine with plenty of RAM, V8 lets
// the garbage that survived young-generation collections pile up in the old generation until a
// high initial limit (measured: RSS from ~225 to ~265 MB, run to run). A full collection when the
// heap has grown by `budgetMb` since the last one costs ~10-30 ms and keeps the peak predictable.
//
// The collector is reached as test runners do (--expose-gc set at run time, then `gc` from a new
// context); where V8 refuses, the guard does nothing and V8 keeps its own pace.
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (typeof existing === 'function') return (collect = existing);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    collect = typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    collect = null;
  }
  return collect;
}

/**
 * Returns a check to call between pages: the first call collects (what is left is what the pass
 * holds), later ones collect again whenever the heap has grown by budgetMb since.
 */
export function heapGuard(budgetMb = 48): () => void {
  const budget = budgetMb * 1024 * 1024;
  let base: number | undefined;
  return () => {
    const used = v8.getHeapStatistics().used_heap_size;
    if (base !== undefined && used - base < budget) return;
    const gc = collector();
    if (!gc) return;
    gc();
    base = v8.getHeapStatistics().used_heap_size;
  };
}

/**
 * Collects now: at the end of a full pass, so that `run` goes back to its small idle footprint at
 * once, rather than paying for the pass's garbage during its next cycles.
 */
export function collectGarbage(): void {
  collector()?.();
}
