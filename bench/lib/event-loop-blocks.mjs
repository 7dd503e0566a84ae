// Diagnostic preload for the product processes a benchmark starts:
//   BENCH_NODE_ARGS="--import ./bench/lib/event-loop-blocks.mjs" EVENT_LOOP_LOG=/tmp/blocks.log node bench/forests.mjs
// At exit each process appends one line to EVENT_LOOP_LOG: how often its event loop was blocked
// for more than 10 ms, and for how long in all (while it is blocked, no LDAP answer is read and
// no next request is sent, so a DC's queue can run dry).
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const file = process.env.EVENT_LOOP_LOG;
if (file) {
  const blocks = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > 10) blocks.push(now - last);
    last = now;
  }, 1).unref();
  process.on('exit', () => {
    const buckets = { '10-20': 0, '20-50': 0, '50-100': 0, '100+': 0 };
    for (const b of blocks) buckets[b < 20 ? '10-20' : b < 50 ? '20-50' : b < 100 ? '50-100' : '100+']++;
    const total = Math.round(blocks.reduce((a, b) => a + b, 0));
    appendFileSync(
      file,
      `${JSON.stringify({ pid: process.pid, argv: process.argv.slice(2, 3), blocksOver10ms: blocks.length, blockedMs: total, buckets })}\n`,
    );
  });
}
