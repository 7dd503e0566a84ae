// Whether the configured state store opens and takes a write, for the state.writable check.
import type { Config } from '../config/load.js';
import { probeSqliteStore } from './sqlite/probe.js';
import type { StoreProbe } from './store.js';

export function probeStateStore(config: Pick<Config, 'state'>): StoreProbe {
  if (config.state.postgres) {
    return {
      status: 'skip',
      detail: 'state.postgres is configured; only the SQLite store is checked for now',
      fix: '',
    };
  }
  return probeSqliteStore(config.state.sqlite);
}
