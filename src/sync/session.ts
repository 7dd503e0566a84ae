// Wires one writeback session from the configuration: state store, Entra connector, AD target and
// the engine. `sync` uses one session for one pass; `run` keeps it for many cycles.
import type { Config } from '../config/load.js';
import type { EntraConnectorOptions } from '../entra/connector.js';
import { DwbError } from '../errors.js';
import { StateStore } from '../state/store.js';
import { AdTarget } from './ad-target.js';
import { type DeviceSource, SyncEngine } from './engine.js';
import { resolveTarget, type ResolvedTarget } from './target.js';

export interface SyncSession {
  config: Config;
  store: StateStore;
  source: DeviceSource;
  target: AdTarget;
  info: ResolvedTarget;
  engine: SyncEngine;
  close(): Promise<void>;
}

export interface SessionHooks {
  entra?: EntraConnectorOptions;
  ldapObserver?: (operation: string, resultCode: number | 'ok' | 'error') => void;
}

export function requireEntra(config: Config): NonNullable<Config['entra']> {
  if (!config.entra) {
    throw new DwbError(
      'DWB_CONFIG_INVALID',
      `${config.file} has no entra: section, so there is nothing to read devices from.`,
      {
        fix: 'Add the entra: section (tenantId, clientId, clientSecret or clientCertificate, graphUrl); see docs/entra.md, or run `device-writeback emulator` for a local one.',
      },
    );
  }
  return config.entra;
}

export function refusePostgres(config: Config): void {
  if (config.state.postgres) {
    throw new DwbError('DWB_CONFIG_INVALID', 'state.postgres is not supported yet by this version.', {
      fix: 'Use state.sqlite (the default, a file next to the configuration).',
    });
  }
}

/** Opens everything a pass needs; the store is opened as the one writer. */
export async function openSyncSession(config: Config, hooks: SessionHooks = {}): Promise<SyncSession> {
  const entra = requireEntra(config);
  refusePostgres(config);
  const store = StateStore.open(config.state.sqlite, { writer: true });
  const target = new AdTarget(config.ad, config.writeback.concurrency, hooks.ldapObserver);
  try {
    // Loaded on demand (@azure/identity takes ~0.4 s to import; status/devices/check do not need
    // it), while the DC is reached and the forest discovered.
    const connector = import('../entra/connector.js');
    connector.catch(() => undefined); // awaited below, after the discovery
    const info = await target.withSession(0, 'discover', (c) => resolveTarget(c, config.ad));
    const { EntraConnector } = await connector;
    const source = new EntraConnector(entra, hooks.entra);
    const engine = new SyncEngine(config, store, source, target, info);
    return {
      config,
      store,
      source,
      target,
      info,
      engine,
      close: async () => {
        await target.close();
        store.close();
      },
    };
  } catch (err) {
    await target.close();
    store.close();
    throw err;
  }
}
