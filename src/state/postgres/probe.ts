// The state.writable check's look at a PostgreSQL store: the server answers (over TLS as sslmode
// says), the schema version is one this product reads, and a write is taken, in a transaction
// that is rolled back, so nothing is left behind. It also says who leads the group, if anyone.
import pg from 'pg';
import { causeText } from '../../errors.js';
import type { StoreProbe } from '../store.js';
import { applicationName } from './postgres-store.js';
import { POSTGRES_SCHEMA, POSTGRES_SCHEMA_VERSION, readSchemaState } from './schema.js';
import { postgresSettings } from './settings.js';

export async function probePostgresStore(url: string): Promise<StoreProbe> {
  const settings = postgresSettings(url);
  const where = settings.location;
  const client = new pg.Client({ ...settings.client, application_name: applicationName('check') });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    return {
      status: 'fail',
      detail: `cannot connect to ${where}: ${causeText(err)}`,
      fix: 'Check the host, port, database, role and password of state.postgres, that the server accepts this host (pg_hba.conf), and its TLS certificate against sslmode and sslrootcert.',
    };
  }
  try {
    const tls = await client.query<{ ssl: boolean; version: string | null }>(
      'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    const session = tls.rows[0]?.ssl ? `TLS ${tls.rows[0].version ?? ''}`.trim() : 'no TLS';
    const state = await readSchemaState(client);
    if (state.version > POSTGRES_SCHEMA_VERSION) {
      return {
        status: 'fail',
        detail: `${where} (${session}) has schema version ${state.version}; this device-writeback reads up to ${POSTGRES_SCHEMA_VERSION}`,
        fix: 'Run the newer device-writeback that wrote it, or drop the schema and run `device-writeback sync --full`.',
      };
    }
    await client.query('BEGIN');
    let leader = '';
    try {
      if (state.version === 0) {
        // what the first sync or run does: create the schema (needs CREATE on the database)
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${POSTGRES_SCHEMA}_check`);
      } else {
        await client.query(
          `INSERT INTO ${POSTGRES_SCHEMA}.meta (key, value) VALUES ('check', 'probe') ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        );
        const lease = await client.query<{ command: string; pid: number; host: string; epoch: string }>(
          `SELECT command, pid, host, epoch FROM ${POSTGRES_SCHEMA}.leader_lease
            WHERE holder IS NOT NULL AND expires_at > clock_timestamp()`,
        );
        const l = lease.rows[0];
        leader = l
          ? `; led by \`${l.command}\` (process ${l.pid} on host ${l.host}, epoch ${l.epoch})`
          : '; no instance leads now';
      }
    } finally {
      await client.query('ROLLBACK');
    }
    const tablesNote =
      state.version === 0
        ? 'empty: its tables are created by the first sync or run'
        : `schema version ${state.version}`;
    const detail = `${where} (${session}): ${tablesNote}; a test write was rolled back${leader}`;
    if (settings.sslmode === 'disable' || settings.sslmode === 'require') {
      return {
        status: 'warn',
        detail,
        fix:
          settings.sslmode === 'disable'
            ? 'sslmode=disable: the state (every device, owner SID and the delta link) and the password cross the network in clear text. Use sslmode=verify-full unless the server is on this host.'
            : "sslmode=require does not verify the server's certificate: anyone on the path could stand in for it. Use sslmode=verify-full (with sslrootcert=<CA file> for a private CA).",
      };
    }
    return { status: 'pass', detail, fix: '' };
  } catch (err) {
    return {
      status: 'fail',
      detail: `${where}: ${causeText(err)}`,
      fix: `Grant this role CREATE on the database (for the schema ${POSTGRES_SCHEMA}) or create the schema owned by it, and make sure it can write to it.`,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
