#!/usr/bin/env node
// Benchmark: failover of a group of `run` instances on one PostgreSQL store (SPEC §7). Two
// instances run on the benchmark's own PostgreSQL server and Samba DC; --kills times the leader is
// killed with SIGKILL at a random moment of its lease, a device is renamed in the emulator right
// after, and the time is measured from the kill to the first AD write of the new leader (the first
// write its term records, by the leaders' clocks: one machine) — and, as a check that does not
// trust the product, to when an LDAP read shows the rename. The killed instance is started again
// (it stands by) before the next round. Goal: within writeback.intervalSeconds + 10 s.
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  BIN,
  createLogger,
  dist,
  flags,
  machine,
  percentile,
  report,
  ROOT,
  sleep,
  startDeviceLab,
  startEmulator,
  startPostgresLab,
  workspace,
  writeConfig,
} from './lib/lab.mjs';

const NAME = 'failover';
const log = createLogger(NAME);
const opts = flags(
  { devices: 200, samples: 20, interval: 5, adTimeout: 10 },
  { interval: { type: 'string' }, 'ad-timeout': { type: 'string' } },
);
opts.adTimeout = Number(opts['ad-timeout'] ?? opts.adTimeout);
const pg = createRequire(path.join(ROOT, 'package.json'))('pg');

async function sql(url, text, params = []) {
  const client = new pg.Client({ connectionString: url, application_name: 'dwb-bench' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** `run` in the background; its console URL read from its log. */
function startInstance(ws, config, name) {
  const child = spawn(process.execPath, [BIN, 'run', '--listen', '127.0.0.1:0', '--config', config], {
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let url;
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
    url ??= /web console at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const instance = {
    name,
    child,
    pid: child.pid,
    get url() {
      return url;
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    async role() {
      if (!url) return undefined;
      try {
        const res = await fetch(`${url}/healthz`, { signal: globalThis.AbortSignal.timeout(3000) });
        return (await res.json()).role;
      } catch {
        return undefined;
      }
    },
    async kill(signal = 'SIGKILL') {
      if (instance.alive()) child.kill(signal);
      await exited;
    },
    tail: () => stderr.slice(-3000),
  };
  ws.defer(() => instance.kill());
  return instance;
}

async function waitFor(probe, what, ms = 120_000, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

async function main() {
  const ws = workspace(NAME);
  const startedAt = new Date().toISOString();
  const host = machine();
  try {
    const { dc, conn, containerDn } = await startDeviceLab(ws, log);
    const emulator = await startEmulator(ws, { domainSid: dc.domainSid, devices: opts.devices });
    const server = await startPostgresLab(ws, log);
    const db = await server.createDatabase({ prefix: 'failover' });
    const config = writeConfig(ws, {
      name: 'group',
      dc,
      emulator,
      writeback: { intervalSeconds: opts.interval },
      ad: { timeoutSeconds: opts.adTimeout },
      postgresUrl: db.tlsUrl,
    });
    const { leaseSettings } = await dist('state/lease.js');
    const lease = leaseSettings({ intervalSeconds: opts.interval, adTimeoutSeconds: opts.adTimeout });
    log(
      `lease ${lease.leaseMs} ms, write window ${lease.writeWindowMs} ms, renewal every ${lease.renewEveryMs} ms`,
    );

    const instances = [startInstance(ws, config, 'a')];
    await waitFor(async () => (await instances[0].role()) === 'leader', 'a to lead');
    instances.push(startInstance(ws, config, 'b'));
    await waitFor(async () => (await instances[1].role()) === 'standby', 'b to stand by');
    // the first (full) pass done
    await waitFor(
      async () =>
        (await sql(db.url, "SELECT 1 FROM device_writeback.meta WHERE key = 'deltaLink'")).length > 0,
      'the first full pass',
      300_000,
    );
    const devices = emulator.store.listDevices().filter((d) => d.trustType);
    const rounds = [];
    for (let k = 1; k <= opts.samples; k++) {
      const roles = await Promise.all(instances.map((i) => i.role()));
      const leader = instances[roles.indexOf('leader')];
      const standby = instances[roles.indexOf('standby')];
      if (!leader || !standby) throw new Error(`round ${k}: roles ${roles.join(', ')}`);
      // a random moment of the leader's renewal cycle
      await sleep(Math.random() * lease.renewEveryMs * 2);
      const [{ epoch: before }] = await sql(db.url, 'SELECT epoch FROM device_writeback.leader_lease');
      const killedAt = Date.now();
      const killedMono = performance.now();
      await leader.kill('SIGKILL');
      const device = devices[k % devices.length];
      const name = `failover-${k}-${Date.now().toString(36)}`;
      emulator.store.updateDevice(device.id, { displayName: name });
      const dn = `CN=${device.deviceId},${containerDn}`;
      // the rename as an LDAP read sees it (polled every 50 ms)
      const seenMono = await waitFor(
        async () => {
          const e = await conn.read(dn, ['displayName']).catch(() => undefined);
          const v = e?.displayName;
          return (Array.isArray(v) ? v[0] : v) === name ? performance.now() : undefined;
        },
        `round ${k}: the rename in AD`,
        120_000,
        50,
      );
      const term = await waitFor(
        async () => {
          const [t] = await sql(
            db.url,
            'SELECT epoch, pid, acquired_at, first_write_at FROM device_writeback.leader_terms WHERE epoch > $1 AND first_write_at IS NOT NULL ORDER BY epoch LIMIT 1',
            [Number(before)],
          );
          return t;
        },
        `round ${k}: the new term's first write`,
        30_000,
      );
      if (Number(term.pid) !== standby.pid)
        throw new Error(`round ${k}: epoch ${term.epoch} is pid ${term.pid}`);
      const row = {
        round: k,
        epoch: Number(term.epoch),
        killToLeaseMs: new Date(term.acquired_at).getTime() - killedAt,
        killToFirstWriteMs: Date.parse(term.first_write_at) - killedAt,
        killToVisibleInAdMs: Math.round(seenMono - killedMono),
      };
      rounds.push(row);
      log(
        `round ${k}: lease taken ${row.killToLeaseMs} ms, first write ${row.killToFirstWriteMs} ms, visible in AD ${row.killToVisibleInAdMs} ms after the kill`,
      );
      // the killed one comes back as a standby (and connects) before the next round
      const back = startInstance(ws, config, leader.name);
      instances[instances.indexOf(leader)] = back;
      await waitFor(async () => (await back.role()) === 'standby', `${leader.name} to stand by`);
      await sleep(1000);
    }
    const terms = await sql(
      db.url,
      'SELECT epoch, first_write_at, last_write_at FROM device_writeback.leader_terms WHERE first_write_at IS NOT NULL ORDER BY epoch',
    );
    const overlaps = terms.filter((t, i) => i > 0 && !(terms[i - 1].last_write_at < t.first_write_at)).length;
    const stat = (values) => ({
      p50: percentile(values, 50),
      p95: percentile(values, 95),
      max: Math.max(...values),
      min: Math.min(...values),
    });
    const firstWrite = stat(rounds.map((r) => r.killToFirstWriteMs));
    const goalMs = (opts.interval + 10) * 1000;
    report(NAME, {
      benchmark: NAME,
      startedAt,
      machine: host,
      method:
        'Two `run` instances (spawned CLI) on one PostgreSQL store; each round kills the leader with SIGKILL at a random moment of its renewal cycle, renames a device in the emulator at once, and measures from the kill to the first AD write of the new leader (its term record, same machine clock) and to the rename visible in an LDAP read (polled every 50 ms); the killed instance is started again as a standby before the next round.',
      config: {
        intervalSeconds: opts.interval,
        adTimeoutSeconds: opts.adTimeout,
        leaseMs: lease.leaseMs,
        writeWindowMs: lease.writeWindowMs,
        renewEveryMs: lease.renewEveryMs,
        pollEveryMs: lease.pollEveryMs,
        devices: opts.devices,
      },
      kills: rounds.length,
      killToLeaseMs: stat(rounds.map((r) => r.killToLeaseMs)),
      killToFirstWriteMs: firstWrite,
      killToVisibleInAdMs: stat(rounds.map((r) => r.killToVisibleInAdMs)),
      overlappingTerms: overlaps,
      goal: { withinMs: goalMs, met: firstWrite.max <= goalMs && overlaps === 0 },
      rounds,
      finishedAt: new Date().toISOString(),
    });
    log(
      `kill -> first write: p50 ${firstWrite.p50} ms, p95 ${firstWrite.p95} ms, max ${firstWrite.max} ms (goal ${goalMs} ms); overlapping terms: ${overlaps}`,
    );
  } finally {
    await ws.cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
