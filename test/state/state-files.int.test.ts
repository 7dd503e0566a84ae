// The state store as an administrator and bad luck meet it, through the CLI against the emulator
// and a real Samba DC: a damaged store or one written by a newer version is refused (never used
// half-read), moving it aside and `sync --full` rebuilds it with no duplicate and no loss; its
// files are the owner's only; the writer lock holds through a symlink; a run killed with -9 is
// closed as interrupted by the next writer.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
  closeSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliResult } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import { addUser, useDc } from '../support/samba.js';

const lab = useDc();
let env: LabEnv;
let container: string;
let store: string;

async function cli(args: string[], configFile = env.configFile): Promise<CliResult> {
  return runCli([...args, '--config', configFile], { env: env.env });
}

async function adDeviceIds(): Promise<string[]> {
  const entries = await lab.admin.search(container, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['msDS-DeviceID'],
  });
  return entries.map((e) => {
    const v = e['msDS-DeviceID'];
    return Buffer.isBuffer(v) ? v.toString('hex') : String(v);
  });
}

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const mode = (file: string): number => statSync(file).mode & 0o777;

/** Overwrites pages 2 and 3 of a SQLite file with garbage (page 1 holds the header and the schema). */
function garble(file: string): void {
  const header = readFileSync(file).subarray(0, 100);
  const pageSize = header.readUInt16BE(16) === 1 ? 65536 : header.readUInt16BE(16);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(pageSize * 2, 0x5a), 0, pageSize * 2, pageSize);
  closeSync(fd);
}

beforeAll(async () => {
  container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
  await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  const user = await addUser(lab, 'dana', 'Dana-Pa55word!');
  env = await startLabEnv(lab.dc, { emulator: { devices: 120, ownerSids: [user.sid], seed: 'state-files' } });
  store = path.join(env.dir, 'state.db');
});
afterAll(async () => {
  await env?.emulator.close();
});

describe('the state store on disk', () => {
  it('is readable by its owner only, also a store created 0644 by an older version', async () => {
    writeFileSync(store, '');
    chmodSync(store, 0o644);
    const first = await cli(['sync']);
    expect([0, 3]).toContain(first.code);
    expect(mode(store)).toBe(0o600);
    for (const extra of ['-wal', '-shm'])
      if (existsSync(store + extra)) expect(mode(store + extra)).toBe(0o600);
  });

  it('a damaged store is refused by status, devices and sync with DWB_STATE_CORRUPT; moved aside, sync --full rebuilds it', async () => {
    const before = (await adDeviceIds()).sort();
    expect(before.length).toBeGreaterThan(50);
    garble(store);
    const damaged = sha(store);
    for (const args of [['status'], ['devices'], ['sync'], ['sync', '--full']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('DWB_STATE_CORRUPT');
      expect(r.stderr).toContain('sync --full');
      expect(r.stderr).not.toMatch(/DWB_INTERNAL|at .*\.js:\d+/);
    }
    expect(sha(store)).toBe(damaged); // not written to
    renameSync(store, `${store}.damaged`);
    const rebuilt = await cli(['sync', '--full', '--json']);
    expect(rebuilt.stderr).not.toContain('DWB_');
    const summary = JSON.parse(rebuilt.stdout) as Record<string, number>;
    expect(summary).toMatchObject({ created: 0, deleted: 0, updated: 0 });
    const after = (await adDeviceIds()).sort();
    expect(after).toEqual(before); // nothing lost, nothing duplicated
    expect(new Set(after).size).toBe(after.length);
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      counts: { managedObjects: number };
    };
    expect(status.counts.managedObjects).toBe(after.length);
  });

  it('a store written by a newer version is refused with DWB_STATE_VERSION and left untouched', async () => {
    const db = new Database(store);
    db.pragma('user_version = 999');
    db.close();
    const untouched = sha(store);
    for (const args of [['status'], ['sync']]) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('DWB_STATE_VERSION');
      expect(r.stderr).toContain('999');
    }
    expect(sha(store)).toBe(untouched);
    const fix = new Database(store);
    fix.pragma('user_version = 2');
    fix.close();
  });

  it('the writer lock is taken on the real path: a second writer through a symlink is refused, naming `run`', async () => {
    const run = startCli(['run', '--listen', '127.0.0.1:0', '--config', env.configFile], { env: env.env });
    try {
      const lock = `${store}.lock`;
      for (let i = 0; i < 100 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 100));
      expect(mode(lock)).toBe(0o600);
      expect(JSON.parse(readFileSync(lock, 'utf8'))).toMatchObject({ command: 'run', pid: run.child.pid });
      const linked = path.join(env.dir, 'linked-state.db');
      symlinkSync(store, linked);
      const otherConfig = path.join(env.dir, 'through-symlink.yaml');
      writeFileSync(
        otherConfig,
        readFileSync(env.configFile, 'utf8').replace(`sqlite: ${store}`, `sqlite: ${linked}`),
      );
      const second = await cli(['sync'], otherConfig);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('DWB_STATE_LOCKED');
      expect(second.stderr).toContain('`device-writeback run`');
      expect(second.stderr).toContain('approve-deletes');
    } finally {
      run.child.kill('SIGTERM');
      await run.done;
    }
  });

  it('a sync killed with -9 stays "running" only until the next writer closes it as interrupted', async () => {
    // Enough work for the kill to land in the middle: every device renamed.
    for (const d of env.emulator.store.listDevices())
      env.emulator.store.updateDevice(d.id, { displayName: `${d.displayName}-k` });
    const victim = startCli(['sync', '--full', '--config', env.configFile], { env: env.env });
    const renamed = async () =>
      (await lab.admin.search(container, { scope: 'one', filter: '(displayName=*-k)', attributes: ['cn'] }))
        .length;
    for (let i = 0; i < 300 && (await renamed()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
    victim.child.kill('SIGKILL');
    await victim.done;
    const killed = JSON.parse((await cli(['status', '--json'])).stdout) as {
      lastRuns: { id: number; outcome: string }[];
    };
    const stuck = killed.lastRuns[0]!;
    expect(stuck.outcome).toBe('running');
    const next = await cli(['sync']);
    expect([0, 3]).toContain(next.code);
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      lastRuns: { id: number; outcome: string; error: string | null }[];
    };
    const closed = status.lastRuns.find((r) => r.id === stuck.id)!;
    expect(closed.outcome).toBe('interrupted');
    expect(closed.error).toMatch(/ended before the run finished/);
    const human = await cli(['status']);
    expect(human.stdout).toMatch(new RegExp(`#${stuck.id} .*interrupted`));
    // and it converged: every device in AD renamed, none duplicated
    const all = await adDeviceIds();
    expect(new Set(all).size).toBe(all.length);
    expect(await renamed()).toBe(all.length);
  });
});
