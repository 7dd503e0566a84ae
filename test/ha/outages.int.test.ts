// A group of `run` instances (SPEC §7) survives its dependencies going away under it, with real
// processes, a real Samba DC and a PostgreSQL server of this file's own: PostgreSQL restarted
// (every session ends; the leader steps down, one instance leads again, writeback resumes) and
// the DC killed and started again (the leader keeps its lease, its cycles fail and back off, then
// resume). After each, a change made in the cloud reaches AD, and no two terms wrote at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSession } from '../../src/lab/directory.js';
import { databaseUrl } from '../../src/lab/postgres.js';
import { runCli } from '../support/cli.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import {
  adEqualsGraph,
  assertTermsApart,
  leaderAmong,
  sleep,
  startInstance,
  stopInstance,
  terms,
  waitFor,
  type Instance,
} from '../support/group.js';
import { postgresUnavailable, useOwnPostgres, type PostgresDatabase } from '../support/postgres.js';
import { useDc } from '../support/samba.js';

const unavailable = postgresUnavailable();

describe.skipIf(unavailable)(
  `a group under outages${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    const lab = useDc();
    const pgLab = useOwnPostgres();
    let env: LabEnv;
    let db: PostgresDatabase;
    let container: string;
    const instances: Instance[] = [];
    let renames = 0;

    beforeAll(async () => {
      container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
      await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
      db = await pgLab.server.createDatabase({ prefix: 'outages' });
      env = await startLabEnv(lab.dc, {
        emulator: { devices: 60, seed: 'outages' },
        writeback: '  intervalSeconds: 1',
        ad: '  timeoutSeconds: 3',
        state: '  postgres: { env: DWB_POSTGRES_URL }',
        env: { DWB_POSTGRES_URL: databaseUrl(pgLab.server, db.database, db.user, db.password, true) },
      });
      instances.push(await startInstance(env, 'a'));
      await leaderAmong(instances);
      instances.push(await startInstance(env, 'b'));
      await converged('the first writeback');
    }, 240_000);

    afterAll(async () => {
      for (const i of instances) await stopInstance(i, 'SIGKILL').catch(() => undefined);
      await env?.emulator.close();
    });

    async function converged(what: string): Promise<void> {
      await waitFor(
        async () => {
          // a session of its own each time: the DC is restarted under these tests
          const admin = await adminSession(lab.dc).catch(() => undefined);
          if (!admin) return undefined;
          try {
            return (await adEqualsGraph(admin, lab.dc.forest.domainDn, container, env.emulator)).ok
              ? true
              : undefined;
          } finally {
            await admin.close();
          }
        },
        what,
        180_000,
        1000,
      );
    }

    /** Renames a few devices in the cloud; they must reach AD. */
    function renameSome(): void {
      renames++;
      for (const d of env.emulator.store.listDevices().slice(0, 5))
        env.emulator.store.updateDevice(d.id, { displayName: `after-outage-${renames}-${d.id.slice(0, 8)}` });
    }

    it('shows the roles: /healthz, /metrics, status and the console; a one-shot sync is refused naming the leader', async () => {
      const leader = await leaderAmong(instances);
      const standby = instances.find((i) => i !== leader)!;
      expect(await standby.health()).toMatchObject({
        httpStatus: 200,
        role: 'standby',
        leader: { pid: leader.pid },
      });
      const metric = async (i: Instance) =>
        /^device_writeback_leader (\d)$/m.exec(await (await fetch(`${i.url}/metrics`)).text())?.[1];
      expect([await metric(leader), await metric(standby)]).toEqual(['1', '0']);

      const status = await runCli(['status', '--json', '--config', env.configFile], { env: env.env });
      expect(status.code).toBe(0);
      const seen = (
        JSON.parse(status.stdout) as { instances: { pid: number; role: string; epoch: number | null }[] }
      ).instances;
      expect(seen.map((m) => `${m.pid} ${m.role}`).sort()).toEqual(
        [`${leader.pid} leader`, `${standby.pid} standby`].sort(),
      );
      expect(seen.find((m) => m.role === 'leader')?.epoch).toBeGreaterThan(0);
      const human = await runCli(['status', '--config', env.configFile], { env: env.env });
      expect(human.stdout).toMatch(
        new RegExp(`leader\\s+\`run\` process ${leader.pid} on \\S+\\s+epoch \\d+\\s+last heartbeat`),
      );

      const page = await (await fetch(`${standby.url}/`)).text();
      expect(page).toContain('Instances');
      expect(page).toContain('Ask the leader for a cycle now');
      expect(page).toContain(String(leader.pid));

      const sync = await runCli(['sync', '--config', env.configFile], { env: env.env });
      expect(sync.code).toBe(1);
      expect(sync.stderr).toContain('DWB_STATE_LOCKED');
      expect(sync.stderr).toContain(`process ${leader.pid}`);
      expect(sync.stderr).not.toContain(db.password);
    }, 120_000);

    it('PostgreSQL restarted under the group: one instance leads again and writeback resumes', async () => {
      await pgLab.server.restart();
      renameSome();
      await converged('the renames after the PostgreSQL restart');
      const leader = await leaderAmong(instances);
      expect(instances.every((i) => i.alive())).toBe(true);
      const health = await leader.health();
      expect(health).toMatchObject({ httpStatus: 200, role: 'leader' });
      assertTermsApart(await terms(db.url));
    }, 300_000);

    it('the DC killed and started again under the group: the leader resumes writing', async () => {
      const leader = await leaderAmong(instances);
      const epoch = (await leader.health())?.leader?.epoch;
      await lab.dc.kill();
      await waitFor(
        async () => ((await leader.health())?.httpStatus === 503 ? true : undefined),
        '/healthz 503',
        60_000,
      );
      await sleep(2000);
      await lab.dc.restart();
      renameSome();
      await converged('the renames after the DC came back');
      // the DC's outage did not move the leadership
      expect((await leader.health())?.leader?.epoch).toBe(epoch);
      assertTermsApart(await terms(db.url));
    }, 300_000);
  },
);
