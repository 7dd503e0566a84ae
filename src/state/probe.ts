// Whether the configured state store opens and takes a write, for the state.writable check.
import type { Config } from '../config/load.js';
import { causeText, isDwbError } from '../errors.js';
import { probeSqliteStore } from './sqlite/probe.js';
import type { StoreProbe } from './store.js';

export async function probeStateStore(config: Pick<Config, 'state'>): Promise<StoreProbe> {
  if (config.state.postgres) {
    try {
      const { probePostgresStore } = await import('./postgres/probe.js');
      return await probePostgresStore(config.state.postgres.reveal());
    } catch (err) {
      return {
        status: 'fail',
        detail: isDwbError(err) ? err.message : causeText(err),
        fix: isDwbError(err) ? err.fix : 'Check state.postgres.',
      };
    }
  }
  return probeSqliteStore(config.state.sqlite);
}
