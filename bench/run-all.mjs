#!/usr/bin/env node
// `npm run bench`: builds the product when the sources are newer than dist/, provisions one Samba
// AD DC template for all of them, then runs the benchmarks (the four of issue 7 and the console's) one after the other (each in its
// own process, exactly as when run alone), passing them the same flags. Each prints its one JSON
// object on stdout; a summary goes to stderr at the end.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dist, ROOT } from './lib/lab.mjs';

const BENCHMARKS = [
  'initial-writeback',
  'latency',
  'noop-delta',
  'full-reconcile',
  'console-devices',
  'forests',
];
// `npm run bench -- --ha`: PostgreSQL state against SQLite state, and failover (bench/README.md)
const HA_BENCHMARKS = [
  ['noop-delta', ['--state', 'both']],
  ['full-reconcile', ['--state', 'both']],
  ['failover', []],
];

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfStale() {
  const marker = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(marker) && statSync(marker).mtimeMs >= newestMtime(path.join(ROOT, 'src'))) return;
  process.stderr.write('[bench] building the product (npm run build) …\n');
  const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) throw new Error('npm run build failed');
}

let current;
let stopping = false;

function runOne(name, args, env) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = (current = spawn(process.execPath, [path.join(ROOT, 'bench', `${name}.mjs`), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    }));
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      process.stdout.write(d);
    });
    child.once('close', (code) => {
      current = undefined;
      let result;
      try {
        result = JSON.parse(stdout);
      } catch {
        result = undefined;
      }
      resolve({ name, code: code ?? 1, seconds: (Date.now() - started) / 1000, result });
    });
  });
}

function headline(run) {
  const r = run.result;
  if (!r) return `failed (exit ${run.code})`;
  switch (run.name) {
    case 'initial-writeback':
      return `sync ${r.product.objectsPerSecond} obj/s vs ldapadd ${r.ldapadd.objectsPerSecond} obj/s, ratio ${r.ratio} (goal >= 0.9)${r.concurrencySweep ? `; best writeback.concurrency ${r.concurrencySweep.best}` : ''}`;
    case 'latency':
      return r.results
        .map(
          (x) =>
            `${x.intervalSeconds} s: p50 ${x.p50Ms} ms, p95 ${x.p95Ms} ms, max ${x.maxMs} ms (goal p95 <= ${x.goalP95Ms} ms)`,
        )
        .join('; ');
    case 'noop-delta':
      if (r.postgresVsSqlite)
        return `PostgreSQL / SQLite no-op cycle p50: ${r.postgresVsSqlite.map((x) => `${x.devices}: ${x.cycleP50Ms.postgres} / ${x.cycleP50Ms.sqlite} ms = ${x.cycleRatio}`).join(', ')} (goal <= 1.5)`;
      return `${r.sizes.map((s) => `${s.devicesInEmulator}: ${s.deltaCycleMs.p50} ms (${s.cpuMsPerCycle} ms CPU)`).join(', ')}; ratio ${r.ratioLargestToSmallest}, CPU ratio ${r.cpuPerCycleRatioLargestToSmallest} (goal <= 1.5)`;
    case 'full-reconcile':
      if (r.postgresGoal)
        return `${r.sizes.map((s) => `${s.label}/${s.state}: ratio ${s.ratio}`).join('; ')}; PostgreSQL at ${r.postgresGoal.atDevices}: ${r.postgresGoal.ratio} (goal <= 2.5)`;
      return `${r.sizes.map((s) => `${s.label} (${s.devicesInEmulator} devices): ratio ${s.ratio}, peak RSS ${s.product.peakRssMB} MB`).join('; ')} (goals <= 2x, < 256 MB)`;
    case 'failover':
      return `kill -> first write of the new leader over ${r.kills} kills: p50 ${r.killToFirstWriteMs.p50} ms, p95 ${r.killToFirstWriteMs.p95} ms, max ${r.killToFirstWriteMs.max} ms (goal <= ${r.goal.withinMs} ms); overlapping terms ${r.overlappingTerms}`;
    case 'console-devices':
      return `GET /devices with ${r.devices} devices: median ${r.overall.medianMs} ms, p95 ${r.overall.p95Ms} ms (goal: median well under 200 ms)`;
    case 'forests':
      return `two forests: sync ${r.initialWriteback.product.objectsPerSecond} obj/s vs ldapadd ${r.initialWriteback.ldapadd.objectsPerSecond} obj/s, ratio ${r.initialWriteback.ratio} (goal >= 0.9); latency at 1 s: p95 ${r.latency.p95Ms} ms (goal <= 2000 ms)`;
    default:
      return '';
  }
}

async function main() {
  const ha = process.argv.includes('--ha');
  const args = process.argv.slice(2).filter((a) => a !== '--ha');
  if (args.includes('--help') || args.includes('-h')) {
    process.stderr.write(
      [
        'usage: npm run bench [-- --devices N --samples N] [-- --ha]',
        `Runs ${BENCHMARKS.join(', ')} one after the other (defaults: about 10 minutes on 2 cores),`,
        'or with --ha: noop-delta and full-reconcile with PostgreSQL state against SQLite state, and failover,',
        'passing each the same flags; each prints one JSON object and files it under bench/results/.',
        'Run one alone for its own flags: node bench/<name>.mjs --help',
        '',
      ].join('\n'),
    );
    return;
  }
  buildIfStale();
  const samba = await dist('lab/samba.js');
  const missing = samba.missingPrerequisites();
  if (missing.length > 0 || process.getuid?.() !== 0) {
    throw new Error(
      `the benchmarks need root and Samba (missing: ${missing.join(', ') || 'root'}); npm run bench installs them as root`,
    );
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-bench-template-'));
  const started = Date.now();
  const runs = [];
  try {
    process.stderr.write(
      '[bench] provisioning one Samba AD DC template (2012 R2 schema) for all benchmarks …\n',
    );
    await samba.provisionTemplate(dir, '2012_R2');
    const env = { ...process.env, DWB_BENCH_TEMPLATE: dir };
    // Ctrl-C or SIGTERM: the running benchmark cleans up after itself (its DC, address, files), then
    // no other starts, and the template goes.
    for (const signal of ['SIGINT', 'SIGTERM']) {
      process.on(signal, () => {
        stopping = true;
        current?.kill('SIGINT');
      });
    }
    const plan = ha ? HA_BENCHMARKS : BENCHMARKS.map((name) => [name, []]);
    for (const [name, own] of plan) {
      if (stopping) break;
      process.stderr.write(`\n[bench] ${name} ${own.join(' ')}…\n`);
      runs.push(await runOne(name, [...own, ...args], env));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(
    `\n[bench] done in ${((Date.now() - started) / 1000).toFixed(0)} s; results in bench/results/\n`,
  );
  for (const run of runs)
    process.stderr.write(
      `  ${run.name.padEnd(18)} ${run.seconds.toFixed(0).padStart(4)} s  ${headline(run)}\n`,
    );
  if (stopping) process.exitCode = 130;
  else if (runs.some((r) => r.code !== 0)) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`[bench] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
