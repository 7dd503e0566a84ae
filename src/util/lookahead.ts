// One item of look-ahead over an async source: the next item is being produced while the current
// one is consumed (a Graph page is read while the previous one is written to AD).

/** Iterates `source` one item ahead. */
export async function* lookahead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = it.next();
      next.catch(() => undefined); // surfaces when awaited on the next turn
      yield current.value;
    }
  } finally {
    await it.return?.();
  }
}
