// The demo's --ha step (SPEC §7): the state moves to PostgreSQL (a lab server of its own, TLS
// verified against its CA), two `run` instances share it — one leads and writes, the other stands
// by — then the leader is killed with SIGKILL, a device is renamed in the cloud at the same moment,
// and the step times on screen how long the standby took to lead and to write the rename to AD.
import { chmodSync, closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { bufs, str, type AdConnection } from '../ad/connection.js';
import type { RunningEmulator } from '../emulator/index.js';
import { DwbError } from '../errors.js';
import { postgresUnavailable, startPostgres, type LabPostgres } from '../lab/postgres.js';
import { leaseSettings } from '../state/lease.js';
import type { Cleanup } from './cleanup.js';
import { runCli, spawnCli, stopper } from './cli-process.js';
import { pickDevices } from './live-changes.js';
import type { Prerequisite } from './prerequisites.js';
import { seconds, type StepReporter } from './steps.js';

export interface HaStepContext {
  steps: StepReporter;
  cleanup: Cleanup;
  dir: string;
  /** The demo's configuration file (SQLite state), the template of the group's. */
  configFile: string;
  secretsDir: string;
  intervalSeconds: number;
  emulator: RunningEmulator;
  session: AdConnection;
  containerDn: string;
  checkInterrupt(): void;
}

export interface HaOutcome {
  /** From the kill to the standby leading (its /healthz says so). */
  takeoverMs: number;
  /** From the kill to the rename visible in an LDAP read. */
  renameInAdMs: number;
  leaseMs: number;
  configFile: string;
}

/** What --ha needs beside the tour's prerequisites: a PostgreSQL server to start. */
export function haPrerequisite(): Prerequisite {
  const why = postgresUnavailable();
  return {
    what: 'PostgreSQL server (--ha)',
    ok: why === '',
    detail: why || 'found',
    fix: why
      ? 'On Debian or Ubuntu: `apt-get install -y postgresql`, or run `npm run demo -- --ha`, which installs it.'
      : undefined,
  };
}

/** The group's lease is one LDAP timeout longer than a write may take: a short one for the demo. */
const AD_TIMEOUT_SECONDS = 3;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Health {
  status: string;
  reason: string;
  role: 'leader' | 'standby';
  lastCycle: { ok: boolean } | null;
}

async function health(port: number): Promise<Health | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return (await response.json()) as Health;
  } catch {
    return undefined;
  }
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  checkInterrupt: () => void,
  everyMs = 100,
): Promise<T> {
  const by = Date.now() + timeoutMs;
  for (;;) {
    checkInterrupt();
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > by)
      throw new DwbError('DWB_INTERNAL', `the demo waited ${seconds(timeoutMs)} for ${what}.`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The group's configuration: the demo's, with the state in PostgreSQL and a short LDAP timeout. */
function writeGroupConfig(ctx: HaStepContext, url: string): string {
  writeFileSync(path.join(ctx.secretsDir, 'postgres-url'), `${url}\n`, { mode: 0o600 });
  const text = readFileSync(ctx.configFile, 'utf8')
    .replace(/^state:\n {2}sqlite: .*\n/m, 'state:\n  postgres: { file: secrets/postgres-url }\n')
    .replace(/^(ad:\n(?: {2}.*\n)*)/m, `$1  timeoutSeconds: ${AD_TIMEOUT_SECONDS}\n`)
    .replace(/^web:\n {2}listen: .*\n/m, '');
  if (!text.includes('postgres: { file: secrets/postgres-url }'))
    throw new DwbError('DWB_INTERNAL', 'the demo could not write the group configuration.');
  const file = path.join(path.dirname(ctx.configFile), 'device-writeback-ha.yaml');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

export async function haStep(ctx: HaStepContext): Promise<HaOutcome> {
  const { steps, cleanup } = ctx;
  // The server runs as the `postgres` account, which must pass through the demo's folder (0700 as
  // made): traverse only, no listing; the secrets and the configuration stay the owner's alone.
  chmodSync(ctx.dir, 0o711);
  const postgres: LabPostgres = await startPostgres({ dir: path.join(ctx.dir, 'postgres') });
  cleanup.add(`PostgreSQL (${postgres.host}:${postgres.port})`, () => postgres.destroy());
  const db = await postgres.createDatabase({ prefix: 'demo' });
  steps.detail(
    `PostgreSQL ${postgres.version} on ${postgres.host}:${postgres.port}: database ${db.database}, owned by role ${db.user}`,
  );
  const configFile = writeGroupConfig(ctx, db.tlsUrl);
  steps.detail(
    `${configFile}: the same forest and tenant, state.postgres from secrets/postgres-url (sslmode=verify-full against the lab CA), ad.timeoutSeconds ${AD_TIMEOUT_SECONDS}`,
  );
  const lease = leaseSettings({ intervalSeconds: ctx.intervalSeconds, adTimeoutSeconds: AD_TIMEOUT_SECONDS });
  steps.detail(
    `the leader's lease: ${seconds(lease.leaseMs)} (writeback.intervalSeconds ${ctx.intervalSeconds} + 6 s); a standby takes over within it after the leader dies`,
  );

  // Two members; the first to reach the database leads.
  const members: { name: string; port: number; pid: number; kill(signal: NodeJS.Signals): void }[] = [];
  for (const name of ['A', 'B']) {
    const port = await freePort();
    const logFile = path.join(ctx.dir, `run-${name}.log`);
    const fd = openSync(logFile, 'a');
    const spawned = spawnCli(['run', '--config', configFile, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const child = spawned.child;
    let exited = false;
    child.once('exit', () => (exited = true));
    cleanup.add(`\`run\` ${name}`, stopper(child));
    steps.detail(`$ ${spawned.shown} > ${logFile} 2>&1 &   (member ${name})`);
    members.push({ name, port, pid: child.pid ?? 0, kill: (signal) => child.kill(signal) });
    // A leads once its first cycle (a full pass over an empty database) is done; then B joins.
    const expected = name === 'A' ? 'leader' : 'standby';
    const seen = await until(
      `member ${name} to answer as ${expected}`,
      60_000,
      async () => {
        if (exited) throw new DwbError('DWB_INTERNAL', `\`run\` ${name} exited early; see ${logFile}.`);
        const h = await health(port);
        if (h?.role !== expected) return undefined;
        return expected === 'standby' || h.lastCycle?.ok ? h : undefined;
      },
      ctx.checkInterrupt,
      200,
    );
    steps.detail(`  member ${name} /healthz: "role": "${seen.role}" — ${seen.reason}`);
  }
  ctx.checkInterrupt();
  await runCli(steps, ['status', '--config', configFile], { maxLines: 40 });

  // The kill, and a change in the cloud at the same moment: the new leader must write it.
  const [leader, standby] = members as [(typeof members)[0], (typeof members)[0]];
  const [device] = pickDevices(ctx.emulator.store);
  const newName = `${device.displayName}-HA`;
  const dn = `CN=${device.deviceId},${ctx.containerDn}`;
  const killedAt = Date.now();
  leader.kill('SIGKILL');
  ctx.emulator.store.updateDevice(device.id, { displayName: newName });
  steps.detail(
    `kill -9 ${leader.pid} (member ${leader.name}, the leader); Entra ID: rename "${device.displayName}" to "${newName}"`,
  );
  let takeoverMs = 0;
  const leads = until(
    'the standby to take over',
    lease.leaseMs + 30_000,
    async () => ((await health(standby.port))?.role === 'leader' ? true : undefined),
    ctx.checkInterrupt,
  ).then(() => {
    takeoverMs = Date.now() - killedAt;
    steps.detail(`  member ${standby.name} leads after ${seconds(takeoverMs)}`);
  });
  await until(
    'the rename to reach AD',
    lease.leaseMs + 60_000,
    async () => {
      const entry = await ctx.session.read(dn, ['displayName']).catch(() => undefined);
      const value = entry && (bufs(entry, 'displayName')[0]?.toString('utf8') ?? str(entry, 'displayName'));
      return value === newName ? true : undefined;
    },
    ctx.checkInterrupt,
  );
  const renameInAdMs = Date.now() - killedAt;
  await leads;
  steps.detail(`  "${newName}" is in AD after ${seconds(renameInAdMs)}, written by member ${standby.name}`);
  await runCli(steps, ['status', '--config', configFile], { maxLines: 40 });
  return { takeoverMs, renameInAdMs, leaseMs: lease.leaseMs, configFile };
}
