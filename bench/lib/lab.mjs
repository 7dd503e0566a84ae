// What every benchmark shares: flags, the machine description, a Samba AD DC from a template
// (provisioned once by run-all.mjs, or by the benchmark itself when run alone), the Graph emulator
// in-process, a configuration file, timed runs of the CLI and of the raw tools (ldapadd,
// ldapsearch), percentiles, and the one JSON result each benchmark prints and files.
import { performance } from 'node:perf_hooks';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin', 'device-writeback.js');
export const RESULTS = path.join(ROOT, 'bench', 'results');

/** Imports a compiled module of the product (dist/); says what to do when it is not built. */
export async function dist(module) {
  const file = path.join(ROOT, 'dist', module);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: build the product first (npm run build), or use npm run bench`);
  }
  return import(file);
}

/** Flags shared by every benchmark (--devices, --samples) plus the benchmark's own. */
export function flags(defaults, extra = {}) {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string' },
      samples: { type: 'string' },
      help: { type: 'boolean' },
      ...extra,
    },
    allowPositionals: false,
  });
  if (values.help) {
    const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const names = ['devices', 'samples', ...Object.keys(extra)].filter((n) => camel(n) in defaults);
    const lines = names.map((n) => `  --${n.padEnd(15)} default: ${JSON.stringify(defaults[camel(n)])}`);
    process.stderr.write(
      `usage: node bench/${path.basename(process.argv[1] ?? 'benchmark')} [flags]\n${lines.join('\n')}\n` +
        'Prints one JSON object on stdout and files it under bench/results/. Needs root and Samba (npm run bench installs them).\n',
    );
    process.exit(0);
  }
  const out = { ...defaults };
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    out[key] = typeof defaults[key] === 'number' ? Number(value) : value;
    if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) {
      throw new Error(`--${key} must be a number, not ${value}`);
    }
  }
  return out;
}

/**
 * How busy the machine is: load averages and the kernel's CPU pressure (share of time runnable tasks
 * waited for a CPU, /proc/pressure/cpu "some"). Benchmarks on a shared machine report it, because
 * Samba slows down several times over when other work competes for the CPUs.
 */
export function busyness() {
  let cpuPressureAvg60 = null;
  try {
    const m = /some avg10=[\d.]+ avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (m) cpuPressureAvg60 = Number(m[1]);
  } catch {
    /* no PSI on this kernel */
  }
  return {
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    cpuPressureSomeAvg60Percent: cpuPressureAvg60,
  };
}

export function machine() {
  const cpus = os.cpus();
  let samba = 'unknown';
  try {
    samba = execFileSync('samba', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    /* reported as unknown */
  }
  return {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    samba,
    atStart: busyness(),
  };
}

export function createLogger(name) {
  const started = Date.now();
  return (message) =>
    process.stderr.write(`[${name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values) {
  return percentile(values, 50);
}

export const round = (value, digits = 2) =>
  value === null || value === undefined ? null : Math.round(value * 10 ** digits) / 10 ** digits;

/** Prints the one JSON object of a benchmark on stdout and files it under bench/results/. */
export function report(name, result) {
  mkdirSync(RESULTS, { recursive: true });
  result.machine = { ...result.machine, atEnd: busyness() };
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(RESULTS, `${name}-${stamp}.json`);
  const text = JSON.stringify(result, null, 2);
  writeFileSync(file, `${text}\n`);
  process.stdout.write(`${text}\n`);
  return file;
}

/**
 * A working folder and an undo list that runs on exit, on failure and on Ctrl-C, so that a
 * benchmark never leaves a DC, an address or files behind.
 */
export function workspace(name) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `dwb-bench-${name}-`));
  const undo = [];
  let cleaning;
  const cleanup = async () => {
    cleaning ??= (async () => {
      while (undo.length > 0) {
        const action = undo.pop();
        try {
          await action();
        } catch (err) {
          process.stderr.write(`cleanup: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  const onSignal = (signal) => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    void cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    dir,
    defer(action) {
      undo.push(action);
    },
    cleanup,
  };
}

/** The template forest: the one run-all.mjs provisioned (DWB_BENCH_TEMPLATE), or a new one. */
export async function template(ws, log) {
  const samba = await dist('lab/samba.js');
  const missing = samba.missingPrerequisites();
  if (missing.length > 0)
    throw new Error(`missing: ${missing.join(', ')} (npm run bench installs them as root)`);
  if (process.getuid?.() !== 0)
    throw new Error('the benchmarks start Samba AD DCs on loopback addresses: run them as root');
  const shared = process.env.DWB_BENCH_TEMPLATE;
  if (shared && existsSync(path.join(shared, 'template.json'))) return samba.readTemplate(shared);
  log('provisioning a Samba AD DC template (2012 R2 schema) …');
  return samba.provisionTemplate(path.join(ws.dir, 'template'), '2012_R2');
}

/** A DC from the template, on a loopback address of its own; stopped by the workspace. */
export async function startDc(ws, tpl, name = 'bench-dc') {
  const samba = await dist('lab/samba.js');
  const dc = await samba.startDc(tpl, { workDir: path.join(ws.dir, 'dcs'), name, firstAddress: 120 });
  ws.defer(() => dc.stop());
  const passwordFile = path.join(ws.dir, `${name}-${dc.address}.pw`);
  writeFileSync(passwordFile, dc.adminPassword, { mode: 0o600 }); // ldap tools' -y: the whole file, no newline
  return { dc, passwordFile };
}

export async function adminConnection(ws, dc) {
  const { adminSession } = await dist('lab/directory.js');
  const conn = await adminSession(dc);
  ws.defer(() => conn.close());
  return conn;
}

export async function createDeviceContainer(conn, dn) {
  await conn.add(dn, { objectClass: ['top', 'msDS-DeviceContainer'] });
}

/**
 * The lab of the one-forest benchmarks: a DC from the template, an admin session to it and an
 * empty device container (CN=RegisteredDevices under the domain), all removed with the workspace.
 */
export async function startDeviceLab(ws, log) {
  const tpl = await template(ws, log);
  const { dc, passwordFile } = await startDc(ws, tpl);
  const conn = await adminConnection(ws, dc);
  const containerDn = `CN=RegisteredDevices,${dc.forest.domainDn}`;
  await createDeviceContainer(conn, containerDn);
  return { tpl, dc, passwordFile, conn, containerDn };
}

/** The in-process Graph emulator; closed by the workspace. */
export async function startEmulator(ws, options) {
  const { startEmulator: start } = await dist('emulator/index.js');
  const emulator = await start({
    dataDir: path.join(ws.dir, `emulator-${Date.now().toString(36)}`),
    ...options,
  });
  ws.defer(() => emulator.close());
  return emulator;
}

/** The entra: block of a benchmark configuration: the emulator's app, its secret in `client-secret`. */
export function entraConfigLines(emulator) {
  return [
    'entra:',
    `  tenantId: ${emulator.tenantId}`,
    `  clientId: ${emulator.clientId}`,
    '  clientSecret: { file: client-secret }',
    `  graphUrl: ${emulator.url}`,
    `  authorityHost: ${emulator.url}`,
    `  caFile: ${JSON.stringify(emulator.caFile)}`,
  ];
}

/**
 * Writes a device-writeback.yaml for the lab (binding as the DC's Administrator, as the raw tools
 * do, so that both sides pay the same access checks); secrets are files.
 */
export function writeConfig(ws, { name, dc, emulator, writeback = {}, domain, postgresUrl, ad = {} }) {
  const dir = path.join(ws.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'ad-password'), dc.adminPassword, { mode: 0o600 });
  writeFileSync(path.join(dir, 'client-secret'), emulator.clientSecret, { mode: 0o600 });
  if (postgresUrl) writeFileSync(path.join(dir, 'postgres-url'), postgresUrl, { mode: 0o600 });
  const wb = { intervalSeconds: 5, fullEverySeconds: 86400, deleteThreshold: 1_000_000, ...writeback };
  const file = path.join(dir, 'device-writeback.yaml');
  writeFileSync(
    file,
    [
      ...entraConfigLines(emulator),
      'ad:',
      `  url: ${dc.url}`,
      `  bindDn: ${JSON.stringify(dc.adminDn)}`,
      '  password: { file: ad-password }',
      `  caFile: ${JSON.stringify(dc.caFile)}`,
      `  domain: ${domain ?? dc.forest.domain}`,
      ...Object.entries(ad).map(([k, v]) => `  ${k}: ${v}`),
      'writeback:',
      ...Object.entries(wb).map(([k, v]) => `  ${k}: ${Array.isArray(v) ? `[${v.join(', ')}]` : v}`),
      'state:',
      postgresUrl ? '  postgres: { file: postgres-url }' : '  sqlite: state.db',
      'web:',
      '  listen: 127.0.0.1:0',
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * A PostgreSQL server of the benchmark's own (the lab's: initdb into the workspace, a loopback
 * address, a free port), stopped by the workspace; the postgres user must reach its folder.
 */
export async function startPostgresLab(ws, log) {
  const { startPostgres, postgresUnavailable } = await dist('lab/postgres.js');
  const why = postgresUnavailable();
  if (why) throw new Error(`PostgreSQL cannot start here: ${why} (npm run bench installs it as root)`);
  chmodSync(ws.dir, 0o755);
  const started = performance.now();
  const server = await startPostgres({ dir: path.join(ws.dir, 'postgres') });
  ws.defer(() => server.destroy());
  log?.(`PostgreSQL ${server.version} ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return server;
}

/** Which state stores a benchmark compares: --state sqlite (the default), postgres, or both. */
export function statesOf(flag) {
  const states = flag === 'both' ? ['sqlite', 'postgres'] : [flag ?? 'sqlite'];
  for (const s of states)
    if (s !== 'sqlite' && s !== 'postgres') throw new Error(`--state ${flag}: sqlite, postgres or both`);
  return states;
}

const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/**
 * Runs the CLI to completion: wall time, exit code, output, and peak RSS (from /usr/bin/time when
 * installed, else the last VmHWM read from /proc while it ran).
 */
/**
 * Extra Node options for the product's processes, from BENCH_NODE_ARGS (space-separated): e.g.
 * `BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` profiles every sync and run a benchmark starts.
 */
function productNodeArgs() {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

export async function runCli(ws, args, options = {}) {
  const statsFile = path.join(ws.dir, `time-${process.hrtime.bigint()}.txt`);
  const argv = TIME
    ? [
        TIME,
        '-f',
        '%M %e %U %S',
        '-o',
        statsFile,
        process.execPath,
        ...(options.nodeArgs ?? productNodeArgs()),
        BIN,
        ...args,
      ]
    : [process.execPath, ...(options.nodeArgs ?? productNodeArgs()), BIN, ...args];
  const started = performance.now();
  const child = spawn(argv[0], argv.slice(1), {
    env: { ...process.env, FORCE_COLOR: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 4_000_000) stderr = stderr.slice(-1_000_000);
  });
  let hwmKb = 0;
  const poll = TIME
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          if (m) hwmKb = Math.max(hwmKb, Number(m[1]));
        } catch {
          /* exited */
        }
      }, 20);
  const code = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  const wallMs = performance.now() - started;
  if (poll) clearInterval(poll);
  let maxRssKb = hwmKb || null;
  let cpuMs = null;
  if (TIME && existsSync(statsFile)) {
    const last = readFileSync(statsFile, 'utf8').trim().split('\n').pop() ?? '';
    const [kb, , user, system] = last.split(' ').map(Number);
    if (Number.isFinite(kb) && kb > 0) maxRssKb = kb;
    // user + system CPU of the process (what it takes from the cores it shares with the DCs)
    if (Number.isFinite(user) && Number.isFinite(system)) cpuMs = Math.round((user + system) * 1000);
    rmSync(statsFile, { force: true });
  }
  return { code, stdout, stderr, wallMs, maxRssKb, cpuMs };
}

/** `sync --json` (or any command printing one JSON object), failing loudly on an unexpected exit. */
export async function syncJson(ws, config, extraArgs = [], options = {}) {
  const result = await runCli(
    ws,
    ['sync', '--json', '--log-level', 'warn', ...extraArgs, '--config', config],
    options,
  );
  if (result.code !== 0) {
    throw new Error(
      `sync ${extraArgs.join(' ')} exited ${result.code}:\n${result.stderr.slice(-3000)}\n${result.stdout.slice(-2000)}`,
    );
  }
  return { ...result, summary: JSON.parse(result.stdout) };
}

/** Runs ldapadd / ldapsearch as the DC's Administrator over LDAPS; returns wall time and output size. */
export async function ldapTool(tool, dc, passwordFile, args, options = {}) {
  const started = performance.now();
  const child = spawn(tool, ['-H', dc.url, '-x', '-D', dc.adminUpn, '-y', passwordFile, ...args], {
    env: { ...process.env, LDAPTLS_CACERT: dc.caFile },
    stdio: ['ignore', options.discardStdout ? 'ignore' : 'pipe', 'pipe'],
  });
  let bytes = 0;
  let stdout = '';
  child.stdout?.on('data', (d) => {
    bytes += d.length;
    if (options.keepStdout) stdout += d;
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c ?? 1));
  });
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`${tool} exited ${code}: ${stderr.slice(-2000)}`);
  return { wallMs, bytes, stdout };
}

/** The Graph `device` properties the engine reads, from an emulated device. */
export function cloudDevice(device) {
  return {
    id: device.id,
    deviceId: device.deviceId,
    displayName: device.displayName,
    accountEnabled: device.accountEnabled,
    operatingSystem: device.operatingSystem,
    operatingSystemVersion: device.operatingSystemVersion,
    trustType: device.trustType,
    isManaged: device.isManaged,
    isCompliant: device.isCompliant,
    deviceVersion: device.deviceVersion,
    approximateLastSignInDateTime: device.approximateLastSignInDateTime,
    physicalIds: device.physicalIds ?? [],
    alternativeSecurityIds: device.alternativeSecurityIds ?? [],
  };
}

/** Registered owners and users of a device, as the connector hands them to the engine. */
export function relationsOf(store, deviceId) {
  const principal = (u) => ({
    id: u.id,
    userPrincipalName: u.userPrincipalName,
    onPremisesSecurityIdentifier: u.onPremisesSecurityIdentifier ?? null,
  });
  return {
    registeredOwners: store.relation(deviceId, 'registeredOwners').map(principal),
    registeredUsers: store.relation(deviceId, 'registeredUsers').map(principal),
  };
}

/**
 * LDIF that adds the same msDS-Device objects the engine would write for `devices` (its own
 * attribute flow computes the values), under `containerDn`. Every value is base64, so bytes are exact.
 */
export async function deviceLdif(store, devices, schema, containerDn) {
  const { desiredObject } = await dist('sync/attribute-flow.js');
  const { childDn } = await dist('ad/dn.js');
  const parts = [];
  let count = 0;
  for (const device of devices) {
    const flow = desiredObject(cloudDevice(device), relationsOf(store, device.id), schema);
    if (!flow.ok) continue;
    const lines = [
      `dn: ${childDn('CN', flow.object.deviceId, containerDn)}`,
      'changetype: add',
      'objectClass: msDS-Device',
    ];
    for (const [attribute, values] of flow.object.values)
      for (const v of values) lines.push(`${attribute}:: ${v.toString('base64')}`);
    parts.push(lines.join('\n'));
    count++;
  }
  return { text: `${parts.join('\n\n')}\n`, count };
}

export async function schemaOf(conn) {
  const { readRootDse, discoverSchema } = await dist('ad/discovery.js');
  const rootDse = await readRootDse(conn);
  return discoverSchema(conn, rootDse.schemaNamingContext);
}

export async function countChildren(conn, dn) {
  let n = 0;
  for await (const page of conn.searchPages(dn, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['1.1'],
    pageSize: 1000,
  }))
    n += page.length;
  return n;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** /proc/<pid>/stat utime + stime, in milliseconds. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/**
 * CPU milliseconds of a process and every descendant (live ones, plus what the exited ones left
 * in their parents' cutime/cstime): what a DC (samba and its workers) spent.
 */
export function treeCpuMs(rootPid) {
  const parents = new Map();
  const ticks = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
      ticks.set(
        Number(entry),
        Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
      );
    } catch {
      /* gone */
    }
  }
  const inTree = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parents.get(p) ?? 0, hops++)
      if (p === rootPid) return true;
    return false;
  };
  let total = 0;
  for (const [pid, t] of ticks) if (inTree(pid)) total += t;
  return (total * 1000) / 100; // USER_HZ is 100 on Linux
}

/**
 * Starts `device-writeback run` in the background and follows its log (JSON lines on stderr):
 * every `cycle …` line is recorded with its summary fields and the time it arrived.
 */
export function startRun(ws, config) {
  const child = spawn(
    process.execPath,
    [...productNodeArgs(), BIN, 'run', '--log-level', 'info', '--config', config],
    {
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const cycles = [];
  const waiters = [];
  let buffered = '';
  let tail = '';
  let exited = false;
  child.stderr.on('data', (d) => {
    buffered += d;
    tail = (tail + d).slice(-4000);
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line);
        if (typeof entry.msg === 'string' && entry.msg.startsWith('cycle ')) {
          cycles.push({ at: performance.now(), cpuMs: cpuMs(child.pid), ...entry });
          for (const w of waiters.splice(0)) w();
        }
      } catch {
        /* not a log line */
      }
    }
  });
  const exit = new Promise((resolve) => child.once('exit', (code) => ((exited = true), resolve(code))));
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(timer);
  };
  ws.defer(stop);
  return {
    child,
    cycles,
    stop,
    /** Resolves once `count` cycles have been logged in total. */
    async waitForCycles(count, timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      while (cycles.length < count) {
        if (exited) throw new Error(`run exited early:\n${tail}`);
        if (Date.now() > deadline)
          throw new Error(
            `run logged ${cycles.length} of ${count} cycles in ${timeoutMs / 1000} s:\n${tail}`,
          );
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1000);
        });
      }
      return cycles;
    },
  };
}
