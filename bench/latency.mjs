#!/usr/bin/env node
// Benchmark 2, latency: `device-writeback run` at writeback.intervalSeconds 1 and 5 while the
// emulator renames one device at a time, at random moments; each sample is the time from the
// change in the emulator until an LDAP read of the object shows it (polled every --poll-ms).
//
// The changes are spread with random gaps (uniform, mean --gap-ms) that are shorter than the
// interval, so that changes land at every phase of the cycle and the run stays short; several can
// be in flight at once, and each is timed on its own. The cost of the LDAP poll itself (the floor
// of what any tool could observe) is reported as ldapPollMs, and `run`'s own cycle durations too.
import { performance } from 'node:perf_hooks';
import {
  createLogger,
  dist,
  flags,
  machine,
  percentile,
  report,
  round,
  sleep,
  startDeviceLab,
  startEmulator,
  startRun,
  syncJson,
  workspace,
  writeConfig,
} from './lib/lab.mjs';

const NAME = 'latency';
const log = createLogger(NAME);
const opts = flags(
  { devices: 500, samples: 100, intervals: '1,5', pollMs: 50, gapMs: '' },
  { intervals: { type: 'string' }, 'poll-ms': { type: 'string' }, 'gap-ms': { type: 'string' } },
);
opts.pollMs = Number(opts['poll-ms'] ?? opts.pollMs);
const intervals = String(opts.intervals)
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const goals = { 1: 2000, 5: 5000 };

async function measure(ws, { dc, conn, emulator, containerDn, interval }) {
  const { childDn } = await dist('ad/dn.js');
  const { str } = await dist('ad/connection.js');
  const { escapeFilterValue } = await dist('ad/filter.js');
  const config = writeConfig(ws, {
    name: `latency-${interval}`,
    dc,
    emulator,
    writeback: { intervalSeconds: interval },
  });
  const run = startRun(ws, config);
  await run.waitForCycles(2); // the first pass (full: nothing to write) and one delta
  const devices = emulator.store.listDevices();
  const meanGap = Number(opts['gap-ms'] || 0) || Math.min(300, interval * 300);
  const pending = new Map(); // cn -> { expected, t0 }
  const latencies = [];
  let polling = true;
  const pollCost = [];
  const poller = (async () => {
    while (polling || pending.size > 0) {
      if (pending.size > 0) {
        const cns = [...pending.keys()];
        const filter = `(|${cns.map((cn) => `(cn=${escapeFilterValue(cn)})`).join('')})`;
        const t = performance.now();
        const entries = await conn.search(containerDn, {
          scope: 'one',
          filter,
          attributes: ['cn', 'displayName'],
          pageSize: false,
        });
        pollCost.push(performance.now() - t);
        const now = performance.now();
        for (const e of entries) {
          const cn = (str(e, 'cn') ?? '').toLowerCase();
          const p = pending.get(cn);
          if (p && str(e, 'displayName') === p.expected) {
            latencies.push(now - p.t0);
            pending.delete(cn);
          }
        }
        for (const [cn, p] of pending) {
          if (now - p.t0 > 60_000)
            throw new Error(`${childDn('CN', cn, containerDn)} did not show its change within 60 s`);
        }
      }
      await sleep(opts.pollMs);
    }
  })();
  const started = performance.now();
  try {
    for (let i = 0; i < opts.samples; i++) {
      await sleep(Math.random() * 2 * meanGap);
      let device;
      do device = devices[Math.floor(Math.random() * devices.length)];
      while (pending.has(device.deviceId.toLowerCase()));
      const expected = `${device.displayName.replace(/-L\d+$/, '')}-L${i}`;
      const t0 = performance.now();
      emulator.store.updateDevice(device.id, { displayName: expected });
      device.displayName = expected;
      pending.set(device.deviceId.toLowerCase(), { expected, t0 });
    }
  } finally {
    polling = false;
    await poller;
  }
  const spanMs = performance.now() - started;
  await run.stop();
  const deltaCycles = run.cycles.slice(2).filter((c) => c.mode === 'delta');
  const result = {
    intervalSeconds: interval,
    samples: latencies.length,
    p50Ms: round(percentile(latencies, 50), 0),
    p95Ms: round(percentile(latencies, 95), 0),
    maxMs: round(Math.max(...latencies), 0),
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / latencies.length, 0),
    goalP95Ms: goals[interval] ?? null,
    met: goals[interval] ? percentile(latencies, 95) <= goals[interval] : null,
    meanGapMs: meanGap,
    spanSeconds: round(spanMs / 1000, 1),
    cycleDurationMs: {
      p50: percentile(
        deltaCycles.map((c) => c.durationMs),
        50,
      ),
      max: Math.max(0, ...deltaCycles.map((c) => c.durationMs)),
      cycles: deltaCycles.length,
    },
    ldapPollMs: { p50: round(percentile(pollCost, 50), 1), p95: round(percentile(pollCost, 95), 1) },
  };
  log(
    `interval ${interval} s: p50 ${result.p50Ms} ms, p95 ${result.p95Ms} ms, max ${result.maxMs} ms over ${result.samples} samples`,
  );
  return result;
}

async function main() {
  const ws = workspace(NAME);
  const startedAt = new Date().toISOString();
  const host = machine();
  try {
    const { dc, conn, containerDn } = await startDeviceLab(ws, log);
    const emulator = await startEmulator(ws, { domainSid: dc.domainSid, devices: opts.devices });
    log(`writing ${opts.devices} devices first …`);
    await syncJson(ws, writeConfig(ws, { name: 'initial', dc, emulator }));
    const results = [];
    for (const interval of intervals)
      results.push(await measure(ws, { dc, conn, emulator, containerDn, interval }));
    report(NAME, {
      benchmark: NAME,
      startedAt,
      machine: host,
      devices: opts.devices,
      method:
        '`run` (spawned CLI) per interval; the emulator (in-process) renames one random device at random moments (gaps uniform in [0, 2 x meanGapMs]); an LDAP search as Administrator every pollMs finds when each new displayName is in AD. Latency = change in the emulator -> first LDAP read that shows it (includes up to pollMs of polling granularity).',
      pollMs: opts.pollMs,
      results,
      finishedAt: new Date().toISOString(),
    });
  } finally {
    await ws.cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
