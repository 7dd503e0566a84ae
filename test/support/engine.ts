// Builds a SyncEngine for tests: a config pointing at a lab DC, a state store in a temp folder.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../src/config/load.js';
import type { SambaDc } from '../../src/lab/samba.js';
import type { StateStore } from '../../src/state/store.js';
import type { SyncEngine } from '../../src/sync/engine.js';
import type { DeviceSource } from '../../src/sync/pass.js';
import { openSyncSession } from '../../src/sync/session.js';

let counter = 0;

export function labConfig(
  dc: SambaDc,
  options: {
    bindDn?: string;
    password?: string;
    extra?: string;
    dir?: string;
    /** The lines under `state:` (the SQLite file in the folder when absent). */
    state?: string;
  } = {},
): Config {
  const envName = `DWB_TEST_AD_PASSWORD_${process.pid}_${++counter}`;
  process.env[envName] = options.password ?? dc.adminPassword;
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'dwb-engine-'));
  const yaml = `
ad:
  url: ${dc.url}
  bindDn: "${options.bindDn ?? dc.adminDn}"
  password: { env: ${envName} }
  caFile: ${dc.caFile}
  domain: ${dc.forest.domain}
state:
${options.state || `  sqlite: ${path.join(dir, 'state.db')}`}
${options.extra ?? ''}`;
  return parseConfig(yaml, path.join(dir, 'device-writeback.yaml'));
}

/** The session `sync` opens, over a test device source (the same openSyncSession). */
export async function buildEngine(
  config: Config,
  source: DeviceSource,
): Promise<{ engine: SyncEngine; store: StateStore; close(): Promise<void> }> {
  const session = await openSyncSession(config, { source });
  return { engine: session.engine, store: session.store, close: session.close };
}
