// The SQL of a group's lease (state/group.ts decides when to call it): a standby's heartbeat and
// look at the lease, the taking of a free lease under a new epoch, the leader's renewal (one
// statement: lease, heartbeat and the term's write record), the release at a clean stop. Expiry is
// by the database's clock only (clock_timestamp()). The loop runs on a connection of its own, so
// that a renewal never waits behind the engine's work for a pooled connection; a connection that
// failed or timed out is thrown away and opened again at the next call.
import pg from 'pg';
import type { GroupBackend, LeaseView, MemberIdentity, RenewResult, TermWrites } from '../group.js';
import type { LeaseHolder } from '../store.js';

type Row = Record<string, unknown>;

const iso = (value: unknown): string =>
  value instanceof Date ? value.toISOString() : value === null || value === undefined ? '' : String(value);

function toHolder(r: Row): LeaseHolder | null {
  if (r.holder === null || r.holder === undefined) return null;
  return {
    instanceId: r.holder as string,
    host: r.host as string,
    pid: Number(r.pid),
    command: r.command as string,
    epoch: Number(r.epoch),
    renewedAt: iso(r.renewed_at),
    expiresAt: iso(r.expires_at),
  };
}

const LEASE_COLUMNS = 'epoch, holder, host, pid, command, renewed_at, expires_at, cycle_requested_at';
const MS = 'make_interval(secs => $LEASE::float8 / 1000)';

/** The errors of a session that broke (as opposed to a statement that failed). */
function sessionBroke(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P'))) return true;
  return /Connection terminated|connection closed|not queryable|timeout|ECONN|EPIPE|socket/i.test(
    err instanceof Error ? err.message : String(err),
  );
}

export class PostgresGroupBackend implements GroupBackend {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly lostListeners: ((cause: unknown) => void)[] = [];
  private closing = false;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    /** Runs a statement on the store's pool (for calls made outside the loop, such as the console's). */
    private readonly pooled: (sql: string, params: unknown[]) => Promise<unknown>,
    /** Bumps the store's change stamp after a commit. */
    private readonly changed: () => Promise<void>,
  ) {}

  private async session(): Promise<pg.Client> {
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const client = new pg.Client(this.clientConfig);
      // the server ended the session (a DBA, a restart, a network that dropped it)
      client.on('error', (err) => this.lost(client, err));
      client.on('end', () => this.lost(client, new Error('the database session ended')));
      try {
        await client.connect();
      } catch (err) {
        this.drop(client);
        throw err;
      }
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private drop(client: pg.Client): void {
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
  }

  /** The session that the loop used broke: listeners hear of it once. */
  private lost(client: pg.Client, cause: unknown): void {
    const current = this.client === client;
    this.drop(client);
    if (current && !this.closing) for (const l of this.lostListeners) l(cause);
  }

  onSessionLost(listener: (cause: unknown) => void): void {
    this.lostListeners.push(listener);
  }

  reset(): void {
    if (this.client) this.drop(this.client);
  }

  private async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    const client = await this.session();
    try {
      return await client.query<Row>(sql, params);
    } catch (err) {
      // a new session for the next call, whatever state this one is in
      if (sessionBroke(err)) this.lost(client, err);
      else this.drop(client);
      throw err;
    }
  }

  async poll(me: MemberIdentity): Promise<LeaseView> {
    const r = await this.query(
      `WITH heartbeat AS (
         INSERT INTO group_members (instance_id, host, pid, command, role, epoch, started_at, heartbeat_at)
         VALUES ($1, $2, $3, $4, 'standby', NULL, $5, clock_timestamp())
         ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = clock_timestamp(), role = 'standby', epoch = NULL
       )
       SELECT ${LEASE_COLUMNS}, (holder IS NULL OR expires_at < clock_timestamp()) AS free
         FROM leader_lease WHERE singleton`,
      [me.instanceId, me.host, me.pid, me.command, me.startedAt],
    );
    const row = r.rows[0];
    if (!row) throw new Error('the leader_lease row is missing');
    return { holder: row.free ? null : toHolder(row), free: row.free === true };
  }

  async acquire(
    me: MemberIdentity,
    leaseMs: number,
  ): Promise<{ epoch: number } | { holder: LeaseHolder | null }> {
    const client = await this.session();
    try {
      await client.query('BEGIN');
      const taken = await client.query<Row>(
        `UPDATE leader_lease
            SET epoch = epoch + 1, holder = $1, host = $2, pid = $3, command = $4,
                acquired_at = clock_timestamp(), renewed_at = clock_timestamp(),
                expires_at = clock_timestamp() + ${MS.replace('$LEASE', '$5')}, cycle_requested_at = NULL
          WHERE singleton AND (holder IS NULL OR expires_at < clock_timestamp())
          RETURNING epoch`,
        [me.instanceId, me.host, me.pid, me.command, leaseMs],
      );
      const row = taken.rows[0];
      if (!row) {
        await client.query('ROLLBACK');
        const current = await client.query<Row>(`SELECT ${LEASE_COLUMNS} FROM leader_lease WHERE singleton`);
        return { holder: current.rows[0] ? toHolder(current.rows[0]) : null };
      }
      const epoch = Number(row.epoch);
      await client.query(
        `WITH ended AS (
           UPDATE leader_terms SET ended_at = clock_timestamp(), end_reason = 'expired'
            WHERE ended_at IS NULL AND epoch < $1
         ), term AS (
           INSERT INTO leader_terms (epoch, instance_id, host, pid, command, acquired_at)
           VALUES ($1, $2, $3, $4, $5, clock_timestamp())
         ), interrupted AS (
           UPDATE runs SET outcome = 'interrupted',
                  finished_at = to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                  error = 'the instance that ran it stopped leading before the run finished (killed, cut off from the database, or its machine stopped); the next leader went on from the last committed watermark'
            WHERE outcome = 'running'
         ), gone AS (
           DELETE FROM group_members WHERE heartbeat_at < clock_timestamp() - interval '1 day'
         )
         INSERT INTO group_members (instance_id, host, pid, command, role, epoch, started_at, heartbeat_at)
         VALUES ($2, $3, $4, $5, 'leader', $1, $6, clock_timestamp())
         ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = clock_timestamp(), role = 'leader', epoch = $1`,
        [epoch, me.instanceId, me.host, me.pid, me.command, me.startedAt],
      );
      await client.query('COMMIT');
      await this.changed().catch(() => undefined);
      return { epoch };
    } catch (err) {
      if (sessionBroke(err)) this.lost(client, err);
      else this.drop(client);
      throw err;
    }
  }

  async renew(
    me: MemberIdentity,
    epoch: number,
    leaseMs: number,
    writes: TermWrites | undefined,
  ): Promise<RenewResult | undefined> {
    const r = await this.query(
      `WITH lease AS (
         UPDATE leader_lease SET renewed_at = clock_timestamp(), expires_at = clock_timestamp() + ${MS.replace('$LEASE', '$3')}
          WHERE singleton AND epoch = $1 AND holder = $2
          RETURNING ${LEASE_COLUMNS}
       ), heartbeat AS (
         INSERT INTO group_members (instance_id, host, pid, command, role, epoch, started_at, heartbeat_at)
         SELECT $2, $4, $5, $6, CASE WHEN EXISTS (SELECT 1 FROM lease) THEN 'leader' ELSE 'standby' END,
                CASE WHEN EXISTS (SELECT 1 FROM lease) THEN $1::bigint END, $7, clock_timestamp()
         ON CONFLICT (instance_id) DO UPDATE
           SET heartbeat_at = clock_timestamp(), role = excluded.role, epoch = excluded.epoch
       ), term AS (
         UPDATE leader_terms SET first_write_at = $8, last_write_at = $9, writes = $10
          WHERE epoch = $1 AND instance_id = $2 AND $10::bigint > 0
       )
       SELECT * FROM lease`,
      [
        epoch,
        me.instanceId,
        leaseMs,
        me.host,
        me.pid,
        me.command,
        me.startedAt,
        writes?.firstWriteAt ?? null,
        writes?.lastWriteAt ?? null,
        writes?.writes ?? 0,
      ],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      holder: toHolder(row)!,
      cycleRequestedAt: row.cycle_requested_at ? iso(row.cycle_requested_at) : null,
    };
  }

  async release(
    me: MemberIdentity,
    epoch: number,
    writes: TermWrites | undefined,
    holdMs: number,
  ): Promise<void> {
    // Held a little longer when a write may still be on its way: the lease then runs out by itself.
    await this.query(
      `WITH term AS (
         UPDATE leader_terms
            SET ended_at = clock_timestamp(), end_reason = 'released',
                first_write_at = COALESCE($3, first_write_at), last_write_at = COALESCE($4, last_write_at),
                writes = GREATEST(writes, $5)
          WHERE epoch = $1 AND instance_id = $2
       )
       UPDATE leader_lease
          SET holder = CASE WHEN $6::float8 > 0 THEN holder END,
              expires_at = CASE WHEN $6::float8 > 0 THEN clock_timestamp() + ${MS.replace('$LEASE', '$6')}
                                ELSE '-infinity' END
        WHERE singleton AND epoch = $1 AND holder = $2`,
      [
        epoch,
        me.instanceId,
        writes?.firstWriteAt ?? null,
        writes?.lastWriteAt ?? null,
        writes?.writes ?? 0,
        holdMs,
      ],
    );
    await this.changed().catch(() => undefined);
  }

  async leave(me: MemberIdentity): Promise<void> {
    await this.query('DELETE FROM group_members WHERE instance_id = $1', [me.instanceId]);
  }

  async requestCycle(): Promise<void> {
    await this.pooled('UPDATE leader_lease SET cycle_requested_at = clock_timestamp() WHERE singleton', []);
  }

  async close(): Promise<void> {
    this.closing = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
