// Builds a SyncEngine for tests: a config pointing at a lab DC, a state store in a temp folder.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../src/config/load.js';
import { AdConnection } from '../../src/ad/connection.js';
import type { SambaDc } from '../../src/lab/samba.js';
import { StateStore } from '../../src/state/store.js';
import { AdTarget } from '../../src/sync/ad-target.js';
import { SyncEngine, type DeviceSource } from '../../src/sync/engine.js';
import { resolveTarget } from '../../src/sync/target.js';

let counter = 0;

export function labConfig(
  dc: SambaDc,
  options: { bindDn?: string; password?: string; extra?: string; dir?: string } = {},
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
  sqlite: ${path.join(dir, 'state.db')}
${options.extra ?? ''}`;
  return parseConfig(yaml, path.join(dir, 'device-writeback.yaml'));
}

export async function buildEngine(
  config: Config,
  source: DeviceSource,
): Promise<{ engine: SyncEngine; store: StateStore; target: AdTarget; close(): Promise<void> }> {
  const store = StateStore.open(config.state.sqlite, { writer: true });
  const target = new AdTarget(config.ad, config.writeback.concurrency);
  const info = await target.withSession(0, 'discover', (c: AdConnection) => resolveTarget(c, config.ad));
  const engine = new SyncEngine(config, store, source, target, info);
  return {
    engine,
    store,
    target,
    close: async () => {
      await target.close();
      store.close();
    },
  };
}
