// Wires one writeback session from the configuration: the state store (as the one writer), the
// Entra connector, the AD connector's export target and its device container, and the engine.
// `sync` uses one session for one pass; `run` keeps it for many cycles; tests use it too.
import type { LdapObserver } from '../ad/export-target.js';
import type { Config } from '../config/load.js';
import type { EntraConnectorOptions } from '../entra/connector.js';
import { DwbError } from '../errors.js';
import { openStateStore } from '../state/open.js';
import type { StateStore } from '../state/store.js';
import { SyncEngine } from './engine.js';
import { FencedForestLink } from './fenced-directory.js';
import { AdForestLink } from './forest-link.js';
import type { DeviceSource } from './pass.js';
import { isGroupSource } from './scope-groups.js';

export interface SyncSession {
  config: Config;
  store: StateStore;
  source: DeviceSource;
  /** The forests, reached on first use (an ad: block is one forest, named "default"). */
  forests: AdForestLink[];
  engine: SyncEngine;
  close(): Promise<void>;
}

export interface SessionHooks {
  entra?: EntraConnectorOptions;
  /** Sees every LDAP operation of a forest (the metrics of `run`). */
  ldapObserver?: (forest: string) => LdapObserver;
  /** Use this device source instead of the Entra connector (tests). */
  source?: DeviceSource;
  /** The command that opens the session (named in the writer lock: sync, run). */
  command?: string;
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

let connectorModule: Promise<typeof import('../entra/connector.js')> | undefined;

/**
 * The Entra connector's module, loaded on demand (status, devices and check do not need it):
 * started as soon as a session is opened, so that it loads while the store is opened and the
 * forests are reached and discovered.
 */
function loadConnector(): Promise<typeof import('../entra/connector.js')> {
  connectorModule ??= import('../entra/connector.js');
  connectorModule.catch(() => undefined); // awaited after the discovery
  return connectorModule;
}

/**
 * Opens everything a pass needs; the store is opened as the one writer (with PostgreSQL: as the
 * leader of its group, refused with DWB_STATE_LOCKED while another instance leads).
 */
export async function openSyncSession(config: Config, hooks: SessionHooks = {}): Promise<SyncSession> {
  if (!hooks.source) {
    requireEntra(config);
    loadConnector(); // while the store is opened
  }
  const store = await openStateStore(config, { writer: true, command: hooks.command ?? 'sync' });
  try {
    return await connectSession(config, store, hooks);
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Connects a session around a store already open: reaches the forests (at least one must answer:
 * a forest that does not is reached again by later passes), and builds the engine. On failure
 * nothing but the store stays open.
 */
export async function connectSession(
  config: Config,
  store: StateStore,
  hooks: SessionHooks = {},
): Promise<SyncSession> {
  const entra = hooks.source ? undefined : requireEntra(config);
  const forests = config.forests.map(
    (f) => new AdForestLink(f, config.writeback.concurrency, hooks.ldapObserver),
  );
  const close = async (): Promise<void> => {
    await Promise.all(forests.map((f) => f.close()));
  };
  try {
    const connector = entra ? loadConnector() : undefined;
    const reached = await Promise.allSettled(forests.map((f) => f.connect()));
    const failure = reached.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure && reached.every((r) => r.status === 'rejected')) throw failure.reason;
    const source = hooks.source ?? new (await connector!).EntraConnector(entra!, hooks.entra);
    // The leader of a group writes only within its lease (SPEC §7), to every forest; alone
    // (SQLite) it just writes.
    const group = store.group;
    const links = group ? forests.map((f) => new FencedForestLink(f, group)) : forests;
    const engine = new SyncEngine({
      writeback: config.writeback,
      store,
      source,
      forests: links,
      severalForests: config.severalForests,
      groups: isGroupSource(source) ? source : undefined,
    });
    return {
      config,
      store,
      source,
      forests,
      engine,
      close: async () => {
        await close();
        await store.close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
