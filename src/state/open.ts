// Opens the state store the configuration names: PostgreSQL when state.postgres is set (a group of
// instances may share it, SPEC §7), else the SQLite file of state.sqlite (the default). The lease
// of a group's leader is derived from the configuration (state/lease.ts).
import type { Config } from '../config/load.js';
import { leaseSettings } from './lease.js';
import { SqliteStateStore } from './sqlite/sqlite-store.js';
import type { LeaseSettings, OpenOptions, StateStore } from './store.js';

export type StoreConfig = Pick<Config, 'state'> & Partial<Pick<Config, 'writeback' | 'forests'>>;

/**
 * The lease of the configuration's group: it must cover an LDAP write in flight (ad.timeoutSeconds;
 * with several forests, the longest, since one lease covers the writes to every forest).
 */
export function groupLease(config: StoreConfig): LeaseSettings {
  const timeouts = (config.forests ?? []).map((f) => f.ad.timeoutSeconds);
  return leaseSettings({
    intervalSeconds: config.writeback?.intervalSeconds ?? 5,
    adTimeoutSeconds: timeouts.length > 0 ? Math.max(...timeouts) : 10,
  });
}

export async function openStateStore(config: StoreConfig, options: OpenOptions): Promise<StateStore> {
  if (config.state.postgres) {
    // Loaded only here: the PostgreSQL driver is not needed by the SQLite store.
    const { PostgresStateStore } = await import('./postgres/postgres-store.js');
    return PostgresStateStore.open(config.state.postgres.reveal(), {
      ...options,
      lease: options.lease ?? groupLease(config),
    });
  }
  return SqliteStateStore.open(config.state.sqlite, options);
}
