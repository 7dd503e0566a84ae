// The PostgreSQL state store on the run's lab server: the StateStore contract, its schema version
// (a table), its integrity check at open, the password kept out of every message, and fencing.
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { setLogLevel } from '../../src/log.js';
import { terminateBackends } from '../../src/lab/postgres.js';
import { applicationName, PostgresStateStore } from '../../src/state/postgres/postgres-store.js';
import { migrate, POSTGRES_SCHEMA_VERSION } from '../../src/state/postgres/schema.js';
import { fromLease } from '../../src/state/lease.js';
import { emptyCounters } from '../../src/state/store.js';
import { describeStateStore } from './store-contract.js';
import {
  freshDatabase,
  postgresUnavailable,
  sharedPostgres,
  type PostgresDatabase,
} from '../support/postgres.js';

const unavailable = postgresUnavailable();

/** Short leases: the tests below wait for one to run out. */
const LEASE = fromLease(3000, 1000);

beforeAll(() => setLogLevel('silent'));

if (!unavailable) {
  describeStateStore('PostgreSQL', async () => {
    const db = await freshDatabase('contract');
    return {
      open: async () => PostgresStateStore.open(db.tlsUrl, { writer: true, command: 'test', lease: LEASE }),
      reader: async () => PostgresStateStore.open(db.url, { writer: false }),
      cleanup: async () => undefined,
    };
  });
}

async function sql(db: PostgresDatabase, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

describe.skipIf(unavailable)('PostgreSQL store: versions and integrity', () => {
  it('keeps its schema version in a table and refuses a store of a newer version', async () => {
    const db = await freshDatabase('version');
    const store = await PostgresStateStore.open(db.url, { writer: false });
    await store.close();
    const { rows } = await sql(db, 'SELECT version FROM device_writeback.schema_version');
    expect(rows).toEqual([{ version: POSTGRES_SCHEMA_VERSION }]);
    await sql(db, `UPDATE device_writeback.schema_version SET version = ${POSTGRES_SCHEMA_VERSION + 1}`);
    await expect(PostgresStateStore.open(db.url, { writer: false })).rejects.toMatchObject({
      code: 'DWB_STATE_VERSION',
    });
  });

  it('migrates a store of version 1 (one forest, no scope): its objects under "default", its next pass a delta', async () => {
    const db = await freshDatabase('migrate');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      expect(await migrate(client, 1)).toBe(0);
      await client.query(`INSERT INTO device_writeback.meta VALUES ('deltaLink', 'https://graph.test/delta?t=1'),
        ('lastFullAt', '2026-11-01T00:00:00.000Z')`);
      await client.query(`INSERT INTO device_writeback.objects VALUES
        ('d-1', 'g-1', 'CN=d-1,CN=RegisteredDevices,DC=t', NULL, 'h', '2026-11-01T00:00:00.000Z')`);
      await client.query(`INSERT INTO device_writeback.held_deletions VALUES
        ('d-2', 'g-2', 'CN=d-2,CN=RegisteredDevices,DC=t', 'gone', '2026-11-01T00:00:00.000Z', NULL)`);
      await client.query(`INSERT INTO device_writeback.deletion_log VALUES ('2026-11-01T00:00:00.000Z', 2)`);
    } finally {
      await client.end();
    }
    const store = await PostgresStateStore.open(db.url, { writer: true, command: 'test', lease: LEASE });
    try {
      expect((await store.getObjects('default', ['d-1'])).get('d-1')).toMatchObject({
        forest: 'default',
        graphId: 'g-1',
        dn: 'CN=d-1,CN=RegisteredDevices,DC=t',
      });
      expect(await store.heldDeletions()).toMatchObject([{ forest: 'default', deviceId: 'd-2' }]);
      expect(await store.deletionsSince('default', '1970-01-01T00:00:00Z')).toBe(2);
      expect((await store.forestStates()).get('default')).toMatchObject({
        needsFull: false,
        lastFullAt: '2026-11-01T00:00:00.000Z',
      });
      expect((await store.watermark()).deltaLink).toBe('https://graph.test/delta?t=1');
      // the same device may now have an object in a second forest (a move under way)
      await store.putObjects([
        {
          forest: 'fabrikam',
          deviceId: 'd-1',
          graphId: 'g-1',
          dn: 'CN=d-1,DC=f',
          objectGuid: null,
          hash: 'h',
        },
      ]);
      expect((await store.objectsOfDevices(['g-1'])).map((o) => o.forest)).toEqual(['default', 'fabrikam']);
      // and the scope's tables (version 3) are there, empty
      expect(await store.scopeGroups()).toEqual({ tracks: [], edges: [] });
      expect(await store.scopeFingerprint()).toBeUndefined();
    } finally {
      await store.close();
    }
    const { rows } = await sql(db, 'SELECT version FROM device_writeback.schema_version');
    expect(rows).toEqual([{ version: POSTGRES_SCHEMA_VERSION }]);
  });

  it('refuses a store that lost a table, and one that holds tables without a version', async () => {
    const db = await freshDatabase('damaged');
    await (await PostgresStateStore.open(db.url, { writer: false })).close();
    await sql(db, 'DROP TABLE device_writeback.objects');
    const err = await PostgresStateStore.open(db.url, { writer: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DWB_STATE_CORRUPT', message: expect.stringContaining('objects') });
    await sql(db, 'DROP TABLE device_writeback.schema_version');
    await expect(PostgresStateStore.open(db.url, { writer: false })).rejects.toMatchObject({
      code: 'DWB_STATE_CORRUPT',
    });
  });

  it('never shows the password: not in its location, not in a refused connection', async () => {
    const db = await freshDatabase('secret');
    const store = await PostgresStateStore.open(db.url, { writer: false });
    expect(store.location).toBe(`postgres://${db.user}@${db.host}:${db.port}/${db.database}?sslmode=disable`);
    await store.close();
    const wrong = db.url.replace(encodeURIComponent(db.password), 'not-the-password-123');
    const err = (await PostgresStateStore.open(wrong, { writer: false }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'DWB_STATE_UNAVAILABLE' });
    expect(err.message).not.toContain('not-the-password-123');
    expect(err.message).not.toContain(db.password);
  });

  it('verifies the server against sslrootcert (verify-full), and refuses a server it cannot verify', async () => {
    const db = await freshDatabase('tls');
    const store = await PostgresStateStore.open(db.tlsUrl, { writer: false });
    expect(store.location).toMatch(/sslmode=verify-full$/);
    await store.close();
    // the system CAs do not know the lab's CA
    const noRoot = db.tlsUrl.replace(/&sslrootcert=[^&]*/, '');
    await expect(PostgresStateStore.open(noRoot, { writer: false })).rejects.toMatchObject({
      code: 'DWB_STATE_UNAVAILABLE',
    });
    // require without a CA encrypts without verifying, as libpq does
    const require = db.url.replace('sslmode=disable', 'sslmode=require');
    await (await PostgresStateStore.open(require, { writer: false })).close();
  });
});

describe.skipIf(unavailable)('PostgreSQL store: one leader, fenced commits', () => {
  it('a second writer is refused naming the leader; a reader writes only requests', async () => {
    const db = await freshDatabase('fence');
    const leader = await PostgresStateStore.open(db.url, { writer: true, command: 'run', lease: LEASE });
    try {
      expect(leader.group?.status()).toMatchObject({ role: 'leader', epoch: 1, writable: true });
      const err = (await PostgresStateStore.open(db.url, {
        writer: true,
        command: 'sync',
        lease: LEASE,
      }).catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ code: 'DWB_STATE_LOCKED' });
      expect(err.message).toContain(`process ${process.pid}`);
      const reader = await PostgresStateStore.open(db.url, { writer: false });
      try {
        await expect(reader.commitWatermark('x', 'delta')).rejects.toMatchObject({
          code: 'DWB_STATE_FENCED',
        });
        expect(await reader.approveDeletions()).toEqual([]);
      } finally {
        await reader.close();
      }
      expect(await leader.groupMembers()).toMatchObject([{ role: 'leader', pid: process.pid, epoch: 1 }]);
    } finally {
      await leader.close();
    }
    // released: the next writer takes it at once, under a new epoch
    const next = await PostgresStateStore.open(db.url, { writer: true, command: 'sync', lease: LEASE });
    expect(next.group?.status().epoch).toBe(2);
    expect((await next.leaderTerms()).map((t) => [t.epoch, t.endReason])).toEqual([
      [2, null],
      [1, 'released'],
    ]);
    await next.close();
  });

  it('the database refuses every engine commit, the per-forest ones too, of a leader whose epoch was taken over', async () => {
    const db = await freshDatabase('fence-forests');
    const leader = await PostgresStateStore.open(db.url, { writer: true, command: 'leader', lease: LEASE });
    try {
      await leader.setForestState('corp', { needsFull: false });
      const runId = await leader.startRun('delta', false);
      // The run is recorded under the epoch and instance that wrote it (the terms' evidence).
      const token = leader.group?.fenceToken();
      const recorded = await sql(
        db,
        `SELECT epoch, instance_id FROM device_writeback.runs WHERE id = ${runId}`,
      );
      expect(recorded.rows).toEqual([{ epoch: String(token?.epoch), instance_id: token?.holder }]);
      // Another epoch takes the lease behind the leader's back (as a standby would once the lease ran
      // out): the leader still believes it leads, so only the database's fence stands in the way.
      await sql(
        db,
        `UPDATE device_writeback.leader_lease SET epoch = epoch + 1, holder = 'ffff',
           expires_at = clock_timestamp() + interval '1 hour'`,
      );
      expect(leader.group?.status().role).toBe('leader');
      const object = { forest: 'corp', deviceId: 'd', graphId: 'g', dn: 'CN=d', objectGuid: null, hash: 'h' };
      const writes: [string, () => Promise<unknown>][] = [
        ['putObjects', () => leader.putObjects([object])],
        ['deleteObjects', () => leader.deleteObjects('corp', ['d'])],
        ['replaceUnmanaged', () => leader.replaceUnmanaged('corp', [])],
        ['setForestState', () => leader.setForestState('corp', { needsFull: true })],
        ['forgetForestsExcept', () => leader.forgetForestsExcept([])],
        ['recordDeletions', () => leader.recordDeletions('corp', 1)],
        [
          'holdDeletions',
          () => leader.holdDeletions('corp', [{ deviceId: 'd', graphId: 'g', dn: 'CN=d', reason: 'r' }]),
        ],
        ['deletionsDone', () => leader.deletionsDone('corp', ['d'], { clearWindow: true })],
        [
          'quarantine',
          () =>
            leader.quarantine([
              {
                key: 'g',
                forest: 'corp',
                graphId: 'g',
                deviceId: 'd',
                displayName: null,
                code: 'X',
                message: 'm',
              },
            ]),
        ],
        ['commitWatermark', () => leader.commitWatermark('https://graph/delta?t=9', 'delta')],
        ['startRun', () => leader.startRun('delta', false)],
        [
          'finishRun',
          () =>
            leader.finishRun(runId, {
              mode: 'delta',
              ...emptyCounters(),
              outcome: 'ok',
              durationMs: 1,
              errors: [],
            }),
        ],
      ];
      for (const [name, write] of writes) {
        await expect(write(), name).rejects.toMatchObject({ code: 'DWB_STATE_FENCED' });
      }
      expect((await leader.forestStates()).get('corp')).toMatchObject({ needsFull: false });
      expect(await leader.watermark()).toEqual({});
      expect((await leader.recentRuns(5)).map((r) => [r.id, r.outcome])).toEqual([[runId, 'running']]);
      expect(await leader.objectsOfDevices(['g'])).toEqual([]);
    } finally {
      await leader.close();
    }
  });

  it('a leader whose database session ends steps down, a standby takes over, its commits are refused', async () => {
    const db = await freshDatabase('depose');
    const first = await PostgresStateStore.open(db.url, { writer: true, command: 'first', lease: LEASE });
    const standby = await PostgresStateStore.open(db.url, {
      writer: true,
      command: 'second',
      standby: true,
      lease: LEASE,
    });
    try {
      expect(standby.group?.status()).toMatchObject({ role: 'standby', leader: { epoch: 1 } });
      await first.commitWatermark('https://graph/delta?t=1', 'full');
      first.group?.admitWrite();
      first.group?.writeSettled();
      expect(await terminateBackends(sharedPostgres(), applicationName('first'))).toBeGreaterThan(0);
      await expect.poll(() => first.group?.status().role, { timeout: 5_000 }).toBe('standby');
      expect(() => first.group?.admitWrite()).toThrow(/does not lead/);
      await expect(first.commitWatermark('https://graph/delta?t=2', 'delta')).rejects.toMatchObject({
        code: 'DWB_STATE_FENCED',
      });
      await expect.poll(() => standby.group?.status().role, { timeout: 15_000 }).toBe('leader');
      expect(standby.group?.status().epoch).toBe(2);
      expect((await standby.watermark()).deltaLink).toBe('https://graph/delta?t=1');
      await standby.commitWatermark('https://graph/delta?t=3', 'delta');
      const terms = await standby.leaderTerms();
      expect(terms.map((t) => [t.epoch, t.endReason, t.writes])).toEqual([
        [2, null, 0],
        [1, 'released', 1],
      ]);
      // the old term's writes ended before the new one began
      expect(Date.parse(terms[1]!.lastWriteAt!)).toBeLessThan(Date.parse(terms[0]!.acquiredAt));
    } finally {
      await standby.close();
      await first.close();
    }
  });
});
