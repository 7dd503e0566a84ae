// A throwaway PostgreSQL server for tests, the demo and the benchmarks (SPEC §7): a cluster made by
// initdb in a folder of its own, served on a loopback address and a free port, with a certificate
// from a lab CA so that clients can verify it (sslmode=verify-full) or skip TLS (sslmode=disable).
// Each test gets a database and a login role of its own. The postmaster is this process's child,
// started and stopped by its PID only; fault tests kill it (kill -9) and start it again.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from '../tls/certificates.js';

export interface PostgresInstall {
  /** Folder holding initdb and postgres. */
  binDir: string;
  /** Major version, from the folder name or `postgres --version`. */
  version: string;
}

/** Debian's package that brings the server (initdb, postgres) and its `postgres` user. */
export const postgresAptPackages = ['postgresql'];

/**
 * Where the PostgreSQL server binaries are: DWB_POSTGRES_BIN, else the newest of Debian's
 * /usr/lib/postgresql/<major>/bin, else initdb on the PATH.
 */
export function findPostgres(): PostgresInstall | undefined {
  const usable = (dir: string): boolean =>
    existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres'));
  const override = process.env.DWB_POSTGRES_BIN;
  if (override) return usable(override) ? { binDir: override, version: versionOf(override) } : undefined;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian)
      .filter((name) => /^\d+(\.\d+)?$/.test(name) && usable(path.join(debian, name, 'bin')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return { binDir: path.join(debian, majors[0], 'bin'), version: majors[0] };
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && usable(dir)) return { binDir: dir, version: versionOf(dir) };
  }
  return undefined;
}

function versionOf(binDir: string): string {
  try {
    const text = execFileSync(path.join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
    return /(\d+)(\.\d+)?/.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The account the server runs as: initdb and postgres refuse root, so root hands them to `postgres`. */
interface ServerAccount {
  uid: number;
  gid: number;
}

function serverAccount(): ServerAccount | undefined {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid !== 0) return { uid, gid };
  try {
    return {
      uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
    };
  } catch {
    return undefined;
  }
}

/** Why a lab PostgreSQL cannot start here, or '' when it can. */
export function postgresUnavailable(): string {
  if (!findPostgres())
    return 'PostgreSQL server binaries not found (Debian package postgresql, or set DWB_POSTGRES_BIN)';
  if (!serverAccount()) return 'running as root, but there is no "postgres" user to run the server as';
  return '';
}

/** What a client needs to reach the server as its superuser; plain data, so it can cross processes. */
export {
  createDatabase,
  databaseUrl,
  dropDatabase,
  terminateBackends,
  type BackendTarget,
  type PostgresDatabase,
  type PostgresServerInfo,
} from '../state/postgres/server-admin.js';
import {
  createDatabase,
  terminateBackends,
  type BackendTarget,
  type PostgresDatabase,
  type PostgresServerInfo,
} from '../state/postgres/server-admin.js';

export interface LabPostgres extends PostgresServerInfo {
  /** The postmaster's PID, 0 while it is down. */
  readonly pid: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Starts the server again (after stop or kill) on the same address, port and data. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT to the postmaster): sessions end, data stays. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** kill -9 of the postmaster, as a crash would; its backends exit on their own (or are killed). */
  kill(): Promise<void>;
  /** Stops the server (immediate shutdown: its data goes with it) and removes its folder. */
  destroy(): Promise<void>;
  createDatabase(options?: { prefix?: string }): Promise<PostgresDatabase>;
  terminateBackends(target: BackendTarget): Promise<number>;
  info(): PostgresServerInfo;
}

export interface PostgresStartOptions {
  /** The server's own folder; created (and owned by the server's account), emptied first. */
  dir: string;
  /** Loopback address to listen on; 127.0.0.1 by default. */
  host?: string;
  /** Port; a free one by default. */
  port?: number;
  maxConnections?: number;
  timeoutMs?: number;
}

/** Settings for a small, fast-starting server that still writes durably (fsync stays on). */
function labSettings(host: string, port: number, dir: string, maxConnections: number): string {
  const quote = (value: string): string => `'${value.replace(/'/g, "''")}'`;
  return [
    `listen_addresses = ${quote(host)}`,
    `port = ${port}`,
    `unix_socket_directories = ${quote(path.join(dir, 'run'))}`,
    `max_connections = ${maxConnections}`,
    'shared_buffers = 16MB',
    'fsync = on',
    'synchronous_commit = on',
    'full_page_writes = on',
    'huge_pages = off',
    'max_wal_size = 256MB',
    'ssl = on',
    `ssl_cert_file = ${quote(path.join(dir, 'tls', 'server.pem'))}`,
    `ssl_key_file = ${quote(path.join(dir, 'tls', 'server.key'))}`,
    "password_encryption = 'scram-sha-256'",
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
    "log_line_prefix = '%m [%p] %q%a@%d '",
    'log_connections = off',
    '',
  ].join('\n');
}

// Both with and without TLS (sslmode decides), always with a password.
const HBA = `local all all scram-sha-256
host all all 127.0.0.0/8 scram-sha-256
host all all ::1/128 scram-sha-256
`;

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function giveTo(target: string, account: ServerAccount): void {
  chownSync(target, account.uid, account.gid);
}

function childEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', TZ: 'UTC' };
}

/** Runs a server binary as the server's account, returning its output or throwing with it. */
function runAs(account: ServerAccount, file: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      uid: account.uid,
      gid: account.gid,
      cwd,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`${path.basename(file)} exited with ${code}: ${output.slice(-2000)}`)),
    );
  });
}

/** True while the process exists and is not a zombie (PID 1 may never reap orphans here). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    if (process.platform === 'linux') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** The postmaster's children (backends and auxiliary processes), from /proc. */
function childrenOf(pid: number): number[] {
  if (process.platform !== 'linux') return [];
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** True when pid is a postgres process serving dataDir (guards against a reused PID). */
function servesDataDir(pid: number, dataDir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dataDir);
  } catch {
    return process.platform !== 'linux' && running(pid);
  }
}

function isPostgresProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('postgres');
  } catch {
    return false;
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Waits for the processes to exit by themselves, then SIGKILLs the postgres ones that did not. */
async function reapOrphans(pids: number[], graceMs: number): Promise<void> {
  if (await waitUntil(() => !pids.some(running), graceMs)) return;
  for (const pid of pids) if (running(pid) && isPostgresProcess(pid)) signal(pid, 'SIGKILL');
  await waitUntil(() => !pids.some(running), 5_000);
}

function logTail(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

/** Creates a cluster in options.dir and starts it; about a second or two. */
export async function startPostgres(options: PostgresStartOptions): Promise<LabPostgres> {
  const install = findPostgres();
  const account = serverAccount();
  if (!install || !account) throw new Error(`PostgreSQL cannot start here: ${postgresUnavailable()}`);
  const host = options.host ?? '127.0.0.1';
  const dir = path.resolve(options.dir);
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const timeoutMs = options.timeoutMs ?? 60_000;

  rmSync(dir, { recursive: true, force: true });
  // the folders above stay traversable (mkdir's mode would apply to every folder it creates)
  mkdirSync(path.dirname(dir), { recursive: true });
  for (const sub of ['', 'run', 'tls']) {
    mkdirSync(path.join(dir, sub), { recursive: true, mode: 0o700 });
    chmodSync(path.join(dir, sub), 0o700);
    giveTo(path.join(dir, sub), account);
  }

  const superuser = 'postgres';
  const superuserPassword = randomBytes(18).toString('base64url');
  const pwFile = path.join(dir, 'superuser-password');
  writeFileSync(pwFile, superuserPassword, { mode: 0o600 });
  giveTo(pwFile, account);
  await runAs(
    account,
    path.join(install.binDir, 'initdb'),
    [
      '-D',
      dataDir,
      '-U',
      superuser,
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--no-locale',
      // The cluster is thrown away with the run; the server itself fsyncs what it commits.
      '--no-sync',
      '--no-instructions',
      // 1 MB WAL segments rather than 16: less to zero-fill (and fsync) at initdb and as the WAL grows
      '--wal-segsize=1',
    ],
    dir,
  ).catch((err: Error) => {
    if (/Permission denied/.test(err.message) && process.getuid?.() === 0)
      err.message += `\nThe postgres user must be able to reach ${dir}: every folder above it needs o+x.`;
    throw err;
  });
  rmSync(pwFile, { force: true });

  const ca = createCertificateAuthority({
    commonName: `device-writeback lab PostgreSQL CA ${path.basename(dir)}`,
    organization: 'device-writeback lab',
  });
  const server = issueServerCertificate(ca, { ipAddresses: [host] });
  const caFile = path.join(dir, 'tls', 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  chmodSync(caFile, 0o644);
  for (const [name, content, mode] of [
    ['server.pem', server.certPem, 0o644],
    ['server.key', server.keyPem, 0o600],
  ] as const) {
    const file = path.join(dir, 'tls', name);
    writeFileSync(file, content, { mode });
    chmodSync(file, mode);
    giveTo(file, account);
  }
  writeFileSync(path.join(dataDir, 'pg_hba.conf'), HBA);
  const conf = path.join(dataDir, 'postgresql.conf');
  writeFileSync(conf, `${readFileSync(conf, 'utf8')}\ninclude = 'lab.conf'\n`);

  let port = options.port ?? 0;
  let current: { child: ChildProcess; exited: () => boolean } | undefined;

  const launch = async (): Promise<void> => {
    const log = openSync(logFile, 'a');
    const child = spawn(path.join(install.binDir, 'postgres'), ['-D', dataDir], {
      uid: account.uid,
      gid: account.gid,
      cwd: dir,
      env: childEnv(),
      // its own process group: a Ctrl-C meant for the test runner must not shut it down first
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    current = { child, exited: () => exited };
    const pidFile = path.join(dataDir, 'postmaster.pid');
    // postmaster.pid's 8th line turns "ready" once connections are accepted (what pg_ctl -w reads).
    const ready = (): boolean => {
      if (exited) return true;
      try {
        const lines = readFileSync(pidFile, 'utf8').split('\n');
        return Number(lines[0]) === child.pid && lines[7]?.trim() === 'ready';
      } catch {
        return false;
      }
    };
    if (!(await waitUntil(ready, timeoutMs))) {
      await killPostmaster();
      throw new Error(`PostgreSQL did not become ready within ${timeoutMs} ms\n${logTail(logFile)}`);
    }
    if (exited) {
      current = undefined;
      throw new Error(`PostgreSQL exited while starting\n${logTail(logFile)}`);
    }
  };

  const killPostmaster = async (): Promise<void> => {
    if (!current) return;
    const { child, exited } = current;
    current = undefined;
    const pid = child.pid ?? 0;
    const children = childrenOf(pid);
    signal(pid, 'SIGKILL');
    await waitUntil(exited, 10_000);
    await reapOrphans(children, 10_000);
  };

  // SIGINT is PostgreSQL's fast shutdown (a checkpoint, then exit); SIGQUIT its immediate one
  // (no checkpoint: recovery at the next start). PostgreSQL's manual, "Shutting Down the Server".
  const shutdown = async (mode: 'fast' | 'immediate'): Promise<void> => {
    if (!current) return;
    const { child, exited } = current;
    const pid = child.pid ?? 0;
    signal(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    if (!(await waitUntil(exited, 30_000))) {
      signal(pid, 'SIGQUIT');
      if (!(await waitUntil(exited, 5_000))) return killPostmaster();
    }
    current = undefined;
  };
  const stop = (): Promise<void> => shutdown('fast');

  // A free port can be taken by someone else before the postmaster binds it: try another.
  for (let attempt = 1; ; attempt++) {
    const chosen = port || (await freePort(host));
    writeFileSync(
      path.join(dataDir, 'lab.conf'),
      labSettings(host, chosen, dir, options.maxConnections ?? 200),
    );
    try {
      await launch();
      port = chosen;
      break;
    } catch (err) {
      const busy = /could not bind|Address already in use/i.test((err as Error).message);
      if (!busy || options.port || attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const info: PostgresServerInfo = {
    host,
    port,
    caFile,
    superuser,
    superuserPassword,
    dir,
    version: install.version,
  };
  writeFileSync(path.join(dir, 'server.json'), JSON.stringify(info, null, 2), { mode: 0o600 });
  let destroyed = false;
  return {
    ...info,
    dataDir,
    logFile,
    get pid() {
      return current?.child.pid ?? 0;
    },
    start: async () => {
      if (destroyed) throw new Error('this lab PostgreSQL was destroyed');
      if (!current) await launch();
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    kill: killPostmaster,
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      // its data goes with it: no checkpoint to wait for
      await shutdown('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
    createDatabase: (opts) => createDatabase(info, opts),
    terminateBackends: (target) => terminateBackends(info, target),
    info: () => ({ ...info }),
  };
}

/**
 * Stops every lab server left under workDir (each in a folder of its own, as startPostgres makes
 * them): the postmaster named in its postmaster.pid, only when that process serves that folder.
 */
export async function sweepPostgres(workDir: string): Promise<void> {
  if (!existsSync(workDir)) return;
  for (const entry of readdirSync(workDir)) {
    const dataDir = path.join(workDir, entry, 'data');
    let pid = 0;
    try {
      pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      continue;
    }
    if (!(pid > 0) || !servesDataDir(pid, dataDir)) continue;
    const children = childrenOf(pid);
    signal(pid, 'SIGQUIT');
    if (!(await waitUntil(() => !running(pid), 5_000))) signal(pid, 'SIGKILL');
    await waitUntil(() => !running(pid), 5_000);
    await reapOrphans(children, 5_000);
  }
}
