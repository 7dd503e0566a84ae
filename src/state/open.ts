// Opens the state store the configuration names: the SQLite file of state.sqlite (the default).
// state.postgres is refused until the PostgreSQL store exists.
import type { Config } from '../config/load.js';
import { DwbError } from '../errors.js';
import { SqliteStateStore } from './sqlite/sqlite-store.js';
import type { OpenOptions, StateStore } from './store.js';

export function refusePostgres(config: Pick<Config, 'state'>): void {
  if (config.state.postgres) {
    throw new DwbError('DWB_CONFIG_INVALID', 'state.postgres is not supported yet by this version.', {
      fix: 'Use state.sqlite (the default, a file next to the configuration).',
    });
  }
}

export async function openStateStore(
  config: Pick<Config, 'state'>,
  options: OpenOptions,
): Promise<StateStore> {
  refusePostgres(config);
  return SqliteStateStore.open(config.state.sqlite, options);
}
