// A group of `run` instances on one PostgreSQL store, as real processes (the built CLI): start and
// stop them, ask each for its role (/healthz), read the group's record (leadership terms, runs)
// straight from the database, and check AD against the emulator (equal, no duplicate, nothing
// missing). Used by the fault tests of test/ha/.
import pg from 'pg';
import { bufs, str } from '../../src/ad/connection.js';
import { bytesToGuid } from '../../src/ad/guid.js';
import type { AdConnection } from '../../src/ad/connection.js';
import type { RunningEmulator } from '../../src/emulator/index.js';
import { startCli, type CliProcess } from './cli.js';
import type { LabEnv } from './lab-env.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 120_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Health {
  /** The HTTP status of /healthz (200 healthy, 503 not). */
  httpStatus: number;
  role: 'leader' | 'standby';
  reason: string;
  leader: { pid: number; epoch: number } | null;
  lastCycle: { ok: boolean; mode?: string } | null;
}

export interface Instance {
  name: string;
  cli: CliProcess;
  pid: number;
  url: string;
  health(): Promise<Health | undefined>;
  alive(): boolean;
}

/** Starts `run` and waits for its console; --log-level debug is not needed: the group logs at info. */
export async function startInstance(env: LabEnv, name: string): Promise<Instance> {
  const cli = startCli(['run', '--config', env.configFile, '--listen', '127.0.0.1:0'], { env: env.env });
  const url = await waitFor(
    () => {
      if (cli.child.exitCode !== null)
        throw new Error(`run ${name} exited with ${cli.child.exitCode}: ${cli.output().stderr.slice(-2000)}`);
      return /web console at (http:\/\/127\.0\.0\.1:\d+)/.exec(cli.output().stderr)?.[1];
    },
    `the console of ${name}`,
    60_000,
  );
  return {
    name,
    cli,
    pid: cli.child.pid!,
    url,
    alive: () => cli.child.exitCode === null && cli.child.signalCode === null,
    async health() {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
        return { ...((await res.json()) as Omit<Health, 'httpStatus'>), httpStatus: res.status };
      } catch {
        return undefined;
      }
    },
  };
}

export async function stopInstance(instance: Instance, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (instance.alive()) instance.cli.child.kill(signal);
  await instance.cli.done;
}

/** The one instance of `instances` that says it leads (and a healthy one), once exactly one does. */
export function leaderAmong(instances: Instance[], ms = 60_000): Promise<Instance> {
  return waitFor(
    async () => {
      const live = instances.filter((i) => i.alive());
      const roles = await Promise.all(live.map(async (i) => ({ i, h: await i.health() })));
      const leaders = roles.filter((r) => r.h?.role === 'leader');
      return leaders.length === 1 ? leaders[0]!.i : undefined;
    },
    'one leader',
    ms,
  );
}

/** Runs SQL on the group's database as its owner. */
export async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'dwb-test-observer' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface Term {
  epoch: number;
  pid: number;
  acquiredAt: Date;
  endReason: string | null;
  firstWriteAt: Date | null;
  lastWriteAt: Date | null;
  writes: number;
}

/** The leadership terms of the group, oldest first. */
export async function terms(url: string): Promise<Term[]> {
  const rows = await query<Record<string, unknown>>(
    url,
    'SELECT epoch, pid, acquired_at, end_reason, first_write_at, last_write_at, writes FROM device_writeback.leader_terms ORDER BY epoch',
  );
  return rows.map((r) => ({
    epoch: Number(r.epoch),
    pid: Number(r.pid),
    acquiredAt: r.acquired_at as Date,
    endReason: (r.end_reason as string | null) ?? null,
    firstWriteAt: r.first_write_at ? new Date(r.first_write_at as string) : null,
    lastWriteAt: r.last_write_at ? new Date(r.last_write_at as string) : null,
    writes: Number(r.writes),
  }));
}

/** How many AD writes the current term has recorded so far (its leader reports them with each renewal). */
export async function writesSoFar(url: string): Promise<number> {
  const rows = await query<{ n: string | null }>(
    url,
    'SELECT sum(writes) AS n FROM device_writeback.leader_terms',
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * No two terms wrote at the same time: each term's writes (its first admitted write to its last
 * settled one, by the leaders' clocks — the same machine here) end before the next term's begin.
 */
export function assertTermsApart(all: Term[]): void {
  const writing = all.filter((t) => t.firstWriteAt && t.lastWriteAt);
  for (let i = 1; i < writing.length; i++) {
    const before = writing[i - 1]!;
    const after = writing[i]!;
    if (!(before.lastWriteAt! < after.firstWriteAt!))
      throw new Error(
        `terms overlap: epoch ${before.epoch} (pid ${before.pid}) wrote until ${before.lastWriteAt!.toISOString()}, epoch ${after.epoch} (pid ${after.pid}) from ${after.firstWriteAt!.toISOString()}`,
      );
  }
}

/** AD holds exactly the in-scope devices of the emulator, once each, with their names and states. */
export async function adEqualsGraph(
  admin: AdConnection,
  domainDn: string,
  container: string,
  emulator: RunningEmulator,
): Promise<{ ok: boolean; problems: string[]; objects: number }> {
  const desired = new Map(
    emulator.store
      .listDevices()
      .filter((d) => ['Workplace', 'AzureAd', 'ServerAd'].includes(String(d.trustType)))
      .map((d) => [d.deviceId.toLowerCase(), d]),
  );
  const all = await admin.search(domainDn, {
    filter: '(objectClass=msDS-Device)',
    attributes: ['cn', 'msDS-DeviceID', 'displayName', 'msDS-IsEnabled'],
  });
  const problems: string[] = [];
  const ids = all.map((e) => bytesToGuid(bufs(e, 'msDS-DeviceID')[0]!));
  if (new Set(ids).size !== ids.length)
    problems.push(`duplicate msDS-DeviceID: ${ids.length - new Set(ids).size}`);
  const inContainer = new Map(
    all
      .filter((e) => e.dn.toLowerCase().endsWith(container.toLowerCase()))
      .map((e) => [str(e, 'cn')!.toLowerCase(), e]),
  );
  for (const [id, device] of desired) {
    const e = inContainer.get(id);
    if (!e) {
      problems.push(`missing ${id}`);
      continue;
    }
    if (str(e, 'displayName') !== device.displayName) problems.push(`${id}: displayName differs`);
    if (str(e, 'msDS-IsEnabled') !== (device.accountEnabled ? 'TRUE' : 'FALSE'))
      problems.push(`${id}: msDS-IsEnabled differs`);
  }
  for (const id of inContainer.keys()) if (!desired.has(id)) problems.push(`extra ${id}`);
  return { ok: problems.length === 0, problems: problems.slice(0, 20), objects: all.length };
}
