// Failover of a group of `run` instances on one PostgreSQL store (SPEC §7), with real processes, a
// real Samba DC and the run's PostgreSQL server: the leader killed with SIGKILL in the middle of
// an initial writeback of 2,000 devices (a standby finishes it: AD ends equal to Graph, with no
// duplicate and nothing missing), then the new leader's database sessions ended by the server
// (pg_terminate_backend) in the middle of a large delta: it stops writing, a standby takes over,
// and the leadership terms' writes — every LDAP write, from the first admitted to the last
// settled, recorded per epoch — never overlap in time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationName } from '../../src/state/postgres/postgres-store.js';
import { terminateBackends } from '../../src/lab/postgres.js';
import { startLabEnv, type LabEnv } from '../support/lab-env.js';
import {
  adEqualsGraph,
  assertTermsApart,
  leaderAmong,
  query,
  startInstance,
  stopInstance,
  terms,
  waitFor,
  writesSoFar,
  type Instance,
} from '../support/group.js';
import {
  freshDatabase,
  postgresUnavailable,
  sharedPostgres,
  type PostgresDatabase,
} from '../support/postgres.js';
import { useDc } from '../support/samba.js';

const unavailable = postgresUnavailable();
const DEVICES = 2000;

describe.skipIf(unavailable)(
  `failover of a group of run instances${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    const lab = useDc();
    let env: LabEnv;
    let db: PostgresDatabase;
    let container: string;
    const instances: Instance[] = [];

    beforeAll(async () => {
      container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
      await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
      db = await freshDatabase('failover');
      env = await startLabEnv(lab.dc, {
        emulator: { devices: DEVICES, seed: 'failover' },
        writeback: '  intervalSeconds: 1\n  deleteThreshold: 100000',
        // a 3 s LDAP timeout: an 8 s lease, a 4.7 s write window
        ad: '  timeoutSeconds: 3',
        state: '  postgres: { env: DWB_POSTGRES_URL }',
        env: { DWB_POSTGRES_URL: db.tlsUrl },
      });
    }, 180_000);

    afterAll(async () => {
      for (const i of instances) await stopInstance(i, 'SIGKILL').catch(() => undefined);
      await env?.emulator.close();
    });

    const converged = (what: string) =>
      waitFor(
        async () => {
          const r = await adEqualsGraph(lab.admin, lab.dc.forest.domainDn, container, env.emulator);
          return r.ok ? r : undefined;
        },
        what,
        300_000,
        2000,
      );

    it('kill -9 of the leader in the middle of the initial writeback: a standby finishes it', async () => {
      const a = await startInstance(env, 'a');
      instances.push(a);
      expect(await leaderAmong([a])).toBe(a);
      const b = await startInstance(env, 'b');
      instances.push(b);
      await waitFor(async () => ((await b.health())?.role === 'standby' ? true : undefined), 'b to stand by');
      expect((await b.health())?.httpStatus).toBe(200);

      await waitFor(
        async () => ((await writesSoFar(db.url)) >= 300 ? true : undefined),
        '300 writes',
        180_000,
      );
      const killedAt = new Date();
      a.cli.child.kill('SIGKILL');
      await a.cli.done;

      expect(await leaderAmong([b])).toBe(b);
      const done = await converged('AD to equal Graph after the takeover');
      expect(done.objects).toBe(DEVICES);

      const [first, second] = await terms(db.url);
      expect(first).toMatchObject({ epoch: 1, pid: a.pid });
      expect(second).toMatchObject({ epoch: 2, pid: b.pid });
      // nothing was written by the new leader before the old one was killed
      expect(second!.firstWriteAt!.getTime()).toBeGreaterThan(killedAt.getTime());
      assertTermsApart(await terms(db.url));
      console.log(
        `[failover] kill -9 at ${first!.writes} recorded writes; the first write of epoch 2 came ${second!.firstWriteAt!.getTime() - killedAt.getTime()} ms after the kill`,
      );
      // the killed leader's run is closed as interrupted by the next leader
      const runs = await query<{ outcome: string; epoch: string }>(
        db.url,
        'SELECT outcome, epoch FROM device_writeback.runs ORDER BY id',
      );
      expect(runs.find((r) => Number(r.epoch) === 1)?.outcome).toBe('interrupted');
    }, 420_000);

    it("the leader's database sessions ended: it stops writing, a standby takes over, the terms never overlap", async () => {
      const b = instances.find((i) => i.name === 'b')!;
      const c = await startInstance(env, 'c');
      instances.push(c);
      await waitFor(async () => ((await c.health())?.role === 'standby' ? true : undefined), 'c to stand by');
      // a large delta: every device renamed
      const before = await writesSoFar(db.url);
      for (const d of env.emulator.store.listDevices().slice(0, 1200))
        env.emulator.store.updateDevice(d.id, { displayName: `${d.displayName}-renamed` });
      await waitFor(
        async () => ((await writesSoFar(db.url)) >= before + 200 ? true : undefined),
        '200 writes of the delta',
        180_000,
      );
      const ended = await terminateBackends(sharedPostgres(), applicationName('run', b.pid));
      expect(ended).toBeGreaterThan(0);

      await waitFor(
        () => (b.cli.output().stderr.includes('steps down as the leader') ? true : undefined),
        'b to step down',
        30_000,
      );
      expect(await leaderAmong([b, c])).toBe(c);
      await converged('AD to equal Graph after the second takeover');
      expect(b.alive()).toBe(true);
      expect((await b.health())?.role).toBe('standby');

      const all = await terms(db.url);
      expect(all.map((t) => [t.epoch, t.pid])).toEqual([
        [1, instances[0]!.pid],
        [2, b.pid],
        [3, c.pid],
      ]);
      expect(all[1]!.endReason).toBe('released');
      assertTermsApart(all);
      console.log(
        `[failover] session ended: epoch 2 wrote until ${all[1]!.lastWriteAt!.toISOString()}, epoch 3 from ${all[2]!.firstWriteAt!.toISOString()} (${all[2]!.firstWriteAt!.getTime() - all[1]!.lastWriteAt!.getTime()} ms apart)`,
      );
    }, 420_000);
  },
);
