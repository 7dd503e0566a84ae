#!/usr/bin/env node
// Benchmark 3, no-op delta: what one delta cycle of `run` costs when nothing changed, with 1,000,
// 10,000 and 100,000 devices in the emulator and in the state store. The goal is that it does not
// grow with the directory (largest / smallest <= 1.5).
//
// AD holds the same 1,000 objects (--in-ad) at every size: writing 100,000 objects into Samba takes
// far longer than the 10-minute budget, and a no-op delta does not read AD at all. The devices
// beyond the first 1,000 are created in the emulator with trustType null, which puts them out of
// writeback.trustTypes: the engine reads them on the first (full) pass and keeps them in its state
// store like any other device, but never writes them to AD. Each size starts `run` with a fresh
// state store; the first cycle is the full pass, the following ones are the measured no-op deltas
// (--samples of them, after one warm-up). Two costs are reported: the engine's duration of the
// cycle (from `run`'s cycle log line) and the CPU the whole `run` process spends per cycle (from
// /proc, which includes whatever listens to cycles, such as the web console's device index); the
// goal holds only when both stay flat. The raw baseline is one HTTPS GET of an up-to-date delta link
// (nothing new) against the same emulator.
//
// --scope-groups N (with --group-size M, default 10,000) measures scope rules too: at each size, a
// `run` with writeback.scope.groups set to N groups of M devices each (the first group holds the
// devices in AD, so the scope keeps them) against a `run` without scope, each with its own fresh
// state store, in ABBA order (without, with, with, without: the machine's drift costs both the
// same), the two runs of each pooled; its no-op cycles are compared with those without scope (goal:
// at most 1.5 times). Its cycles also read groups/delta, beside the device delta.
//
// --state postgres (or both) runs `run` on a PostgreSQL state store of the benchmark's own server
// (the lab's, on a loopback address), as the leader of its group; with both, each size is measured
// on SQLite then on PostgreSQL, and the JSON compares them (goal: PostgreSQL <= 1.5x SQLite).
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  countChildren,
  createLogger,
  dist,
  flags,
  machine,
  percentile,
  report,
  ROOT,
  round,
  startDeviceLab,
  startEmulator,
  startPostgresLab,
  startRun,
  statesOf,
  workspace,
  writeConfig,
} from './lib/lab.mjs';
import { graphClient } from './lib/graph.mjs';

const NAME = 'noop-delta';
const log = createLogger(NAME);
const opts = flags(
  {
    devices: 100_000,
    samples: 30,
    sizes: '',
    inAd: 1000,
    interval: 0.25,
    scopeGroups: 0,
    groupSize: 10_000,
    state: 'sqlite',
  },
  {
    sizes: { type: 'string' },
    'in-ad': { type: 'string' },
    interval: { type: 'string' },
    'scope-groups': { type: 'string' },
    'group-size': { type: 'string' },
    state: { type: 'string' },
  },
);
const states = statesOf(opts.state);
opts.inAd = Number(opts['in-ad'] ?? opts.inAd);
opts.scopeGroups = Number(opts['scope-groups'] ?? opts.scopeGroups);
opts.groupSize = Number(opts['group-size'] ?? opts.groupSize);
const sizes = (
  opts.sizes
    ? String(opts.sizes).split(',').map(Number)
    : [1000, 10_000, 100_000].filter((n) => n <= opts.devices)
)
  .filter((n) => n > 0)
  .sort((a, b) => a - b);

async function countStateDevices(file, postgresUrl) {
  const require = createRequire(path.join(ROOT, 'package.json'));
  if (postgresUrl) {
    const client = new (require('pg').Client)({ connectionString: postgresUrl });
    await client.connect();
    try {
      return Number((await client.query('SELECT count(*) AS n FROM device_writeback.devices')).rows[0].n);
    } finally {
      await client.end();
    }
  }
  const Database = require('better-sqlite3');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT count(*) AS n FROM devices').get().n;
  } finally {
    db.close();
  }
}

async function rawDeltaGets(client, emulator, samples) {
  // $deltatoken=latest: an empty page and a delta link from now on; then GET that link, which has nothing new.
  const first = await client.get(`${emulator.url}/v1.0/devices/delta?$deltatoken=latest`);
  const link = first['@odata.deltaLink'];
  const times = [];
  let current = link;
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    const page = await client.get(current);
    times.push(performance.now() - t);
    current = page['@odata.deltaLink'] ?? current;
  }
  return times;
}

/**
 * Starts `run` with a fresh state store (SQLite, or a new PostgreSQL database) and measures its
 * no-op delta cycles (after the full pass and one warm-up): the engine's durations and the
 * process's CPU per cycle.
 */
async function measure(ws, { name, dc, emulator, size, scope, state, postgres }) {
  const postgresUrl =
    state === 'postgres' ? (await postgres.createDatabase({ prefix: `noop_${size}` })).url : undefined;
  const config = writeConfig(ws, {
    name,
    dc,
    emulator,
    writeback: { intervalSeconds: opts.interval, ...(scope ? { scope } : {}) },
    postgresUrl,
  });
  const run = startRun(ws, config);
  await run.waitForCycles(1);
  const full = run.cycles[0];
  log(
    `  ${name}: first (full) cycle: ${full.durationMs} ms (+${full.created} =${full.unchanged} -${full.deleted})`,
  );
  await run.waitForCycles(2 + opts.samples);
  await run.stop();
  const deltas = run.cycles.slice(2, 2 + opts.samples);
  if (deltas.some((c) => c.mode !== 'delta' || c.created + c.updated + c.deleted > 0)) {
    throw new Error(
      `size ${size}: a measured cycle was not a no-op delta: ${JSON.stringify(deltas.map((c) => c.msg))}`,
    );
  }
  const durations = deltas.map((c) => c.durationMs);
  const first = run.cycles[1];
  const last = run.cycles[1 + opts.samples];
  const cpuPerCycle =
    first.cpuMs !== null && last.cpuMs !== null ? (last.cpuMs - first.cpuMs) / opts.samples : null;
  return {
    devicesInState: await countStateDevices(path.join(path.dirname(config), 'state.db'), postgresUrl),
    firstFullCycleMs: full.durationMs,
    durations,
    cpuPerCycle,
  };
}

/** Pools the no-op cycles of one or more runs of the same kind. */
function pooled(runs) {
  const durations = runs.flatMap((r) => r.durations);
  const cpu = runs.map((r) => r.cpuPerCycle).filter((v) => v !== null);
  return {
    devicesInState: runs[0].devicesInState,
    firstFullCycleMs: runs[0].firstFullCycleMs,
    deltaCycleMs: {
      p50: percentile(durations, 50),
      mean: round(durations.reduce((a, b) => a + b, 0) / durations.length, 2),
      p95: percentile(durations, 95),
      max: Math.max(...durations),
      samples: durations.length,
    },
    cpuMsPerCycle: cpu.length > 0 ? round(cpu.reduce((a, b) => a + b, 0) / cpu.length, 1) : null,
  };
}

async function main() {
  const ws = workspace(NAME);
  const startedAt = new Date().toISOString();
  const host = machine();
  try {
    const { seededDevices } = await dist('emulator/seed.js');
    const { dc, conn, containerDn } = await startDeviceLab(ws, log);
    const emulator = await startEmulator(ws, { domainSid: dc.domainSid });
    const seedOptions = { domainSid: dc.domainSid };
    emulator.store.seed(Math.min(opts.inAd, sizes[0] ?? opts.inAd), seedOptions);
    let inEmulator = emulator.store.counts().active;
    const client = graphClient(emulator);
    ws.defer(() => client.close());
    const postgres = states.includes('postgres') ? await startPostgresLab(ws, log) : undefined;
    const results = [];
    for (const size of sizes) {
      // Grow the emulator: the first --in-ad devices in scope (written to AD), the rest out of scope.
      const grow = performance.now();
      if (size > inEmulator && inEmulator < opts.inAd) {
        emulator.store.seed(Math.min(size, opts.inAd), seedOptions);
        inEmulator = emulator.store.counts().active;
      }
      // One batch: the devices' certificates are issued in parallel (see CloudDrs.deviceKeys).
      for (const { device } of seededDevices(inEmulator, size, seedOptions))
        emulator.store.createDevice({ ...device, trustType: null });
      inEmulator = emulator.store.counts().active;
      log(
        `${size} devices in the emulator (grown in ${((performance.now() - grow) / 1000).toFixed(1)} s); starting run …`,
      );
      // N groups of M devices, made now (the emulator grew): the first one holds the devices in AD.
      const groups = [];
      for (let g = 0; g < opts.scopeGroups; g++) {
        const from = (g * opts.groupSize) % inEmulator;
        const ids = emulator.store.deviceIdsAt(from, Math.min(inEmulator, from + opts.groupSize));
        groups.push(emulator.store.createGroup({ displayName: `Scope ${size} #${g + 1}` }, ids));
      }
      for (const state of states) {
        const on = { dc, emulator, size, state, postgres };
        const tag = states.length > 1 ? `-${state}` : '';
        const plainRuns = [await measure(ws, { name: `size-${size}${tag}`, ...on })];
        let plain = pooled(plainRuns);
        const raw = await rawDeltaGets(client, emulator, opts.samples);
        const row = {
          state,
          devicesInEmulator: inEmulator,
          devicesInState: plain.devicesInState,
          objectsInAd: await countChildren(conn, containerDn),
          firstFullCycleMs: plain.firstFullCycleMs,
          deltaCycleMs: plain.deltaCycleMs,
          cpuMsPerCycle: plain.cpuMsPerCycle,
          rawDeltaGetMs: { p50: round(percentile(raw, 50), 1), p95: round(percentile(raw, 95), 1) },
        };
        if (groups.length > 0) {
          const members = groups.map((g) => emulator.store.memberIds(g.id).length);
          const scope = `{ groups: [${groups.map((g) => g.id).join(', ')}] }`;
          const scopedRuns = [];
          for (const k of [1, 2])
            scopedRuns.push(await measure(ws, { name: `size-${size}${tag}-scope-${k}`, scope, ...on }));
          plainRuns.push(await measure(ws, { name: `size-${size}${tag}-again`, ...on }));
          plain = pooled(plainRuns);
          Object.assign(row, {
            firstFullCycleMs: plain.firstFullCycleMs,
            deltaCycleMs: plain.deltaCycleMs,
            cpuMsPerCycle: plain.cpuMsPerCycle,
          });
          const scoped = pooled(scopedRuns);
          row.scope = {
            groups: groups.length,
            membersPerGroup: members,
            firstFullCycleMs: scoped.firstFullCycleMs,
            deltaCycleMs: scoped.deltaCycleMs,
            cpuMsPerCycle: scoped.cpuMsPerCycle,
            cycleRatioToNoScope: round(scoped.deltaCycleMs.p50 / Math.max(1, plain.deltaCycleMs.p50), 2),
            cycleMeanRatioToNoScope: round(
              scoped.deltaCycleMs.mean / Math.max(0.1, plain.deltaCycleMs.mean),
              2,
            ),
            cpuRatioToNoScope:
              scoped.cpuMsPerCycle && plain.cpuMsPerCycle
                ? round(scoped.cpuMsPerCycle / plain.cpuMsPerCycle, 2)
                : null,
          };
          log(
            `  ${state}, with ${groups.length} scope groups of ${Math.max(...members)}: no-op delta p50 ${scoped.deltaCycleMs.p50} ms, mean ${scoped.deltaCycleMs.mean} ms (without scope ${plain.deltaCycleMs.p50} / ${plain.deltaCycleMs.mean} ms), CPU per cycle ${scoped.cpuMsPerCycle} ms (without ${plain.cpuMsPerCycle} ms)`,
          );
        }
        results.push(row);
        log(
          `  ${state}: no-op delta p50 ${row.deltaCycleMs.p50} ms, p95 ${row.deltaCycleMs.p95} ms, ${row.cpuMsPerCycle} ms CPU per cycle; raw delta GET p50 ${row.rawDeltaGetMs.p50} ms`,
        );
      }
    }
    const main = states[0];
    const mainRows = results.filter((r) => r.state === main);
    const smallest = mainRows[0];
    const largest = mainRows[mainRows.length - 1];
    // PostgreSQL against SQLite, size by size (both measured in this run, on this machine)
    const postgresVsSqlite =
      states.length === 2
        ? mainRows.map((sq) => {
            const p = results.find(
              (r) => r.state === 'postgres' && r.devicesInEmulator === sq.devicesInEmulator,
            );
            return {
              devices: sq.devicesInEmulator,
              cycleP50Ms: { sqlite: sq.deltaCycleMs.p50, postgres: p.deltaCycleMs.p50 },
              cycleRatio: round(p.deltaCycleMs.p50 / Math.max(1, sq.deltaCycleMs.p50), 2),
              cpuMsPerCycle: { sqlite: sq.cpuMsPerCycle, postgres: p.cpuMsPerCycle },
              cpuRatio:
                sq.cpuMsPerCycle && p.cpuMsPerCycle ? round(p.cpuMsPerCycle / sq.cpuMsPerCycle, 2) : null,
            };
          })
        : undefined;
    const ratio =
      smallest && largest ? largest.deltaCycleMs.p50 / Math.max(1, smallest.deltaCycleMs.p50) : null;
    // The engine's own duration of a cycle is one cost; what the `run` process spends per cycle in
    // all (the engine plus what listens to cycles, such as the console's device index) is the other.
    const cpuRatio =
      smallest?.cpuMsPerCycle && largest?.cpuMsPerCycle
        ? largest.cpuMsPerCycle / smallest.cpuMsPerCycle
        : null;
    report(NAME, {
      benchmark: NAME,
      startedAt,
      machine: host,
      method:
        '`run` (spawned CLI, writeback.intervalSeconds ' +
        opts.interval +
        ") with a fresh state store per size; the first cycle is the full pass, then one warm-up delta, then the measured no-op delta cycles (durationMs from run's own cycle log lines; CPU from /proc/<pid>/stat). Raw baseline: HTTPS GET of an up-to-date delta link.",
      adNote: `AD holds ${opts.inAd} objects at every size: the devices beyond them are out of writeback.trustTypes (trustType null in the emulator), read and kept in the state store but not written, because writing 100,000 objects into Samba does not fit the time budget and a no-op delta does not read AD.`,
      states,
      sizes: results,
      ...(postgresVsSqlite
        ? {
            postgresVsSqlite,
            postgresGoal: {
              ratioAtMost: 1.5,
              met: postgresVsSqlite.every((r) => r.cycleRatio <= 1.5),
              note: 'the engine cycle p50 with PostgreSQL state over the same with SQLite state, at each size',
            },
          }
        : {}),
      ratioLargestToSmallest: round(ratio, 2),
      cpuPerCycleRatioLargestToSmallest: round(cpuRatio, 2),
      ...(opts.scopeGroups > 0
        ? {
            scopeGoal: {
              what: `no-op delta with ${opts.scopeGroups} scope groups of ${opts.groupSize} members at most 1.5 times the no-op delta without scope, at each size`,
              met: results.every((r) => r.scope && r.scope.cycleRatioToNoScope <= 1.5),
              metByProcessCpuPerCycle: results.every(
                (r) => r.scope && r.scope.cpuRatioToNoScope !== null && r.scope.cpuRatioToNoScope <= 1.5,
              ),
            },
          }
        : {}),
      goal: {
        ratioAtMost: 1.5,
        metByCycleDuration: ratio !== null && ratio <= 1.5,
        metByProcessCpuPerCycle: cpuRatio !== null && cpuRatio <= 1.5,
        met: ratio !== null && ratio <= 1.5 && cpuRatio !== null && cpuRatio <= 1.5,
      },
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
