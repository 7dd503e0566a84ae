// Test lab for the console: a Samba AD DC on a loopback address nobody else holds, the device
// container, users, and a writeback service over a FakeSource, with the metrics wired in as `run`
// wires them.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import type { AdConnection } from '../../../src/ad/connection.js';
import type { Config } from '../../../src/config/load.js';
import { adminSession } from '../../../src/lab/directory.js';
import { readTemplate, startDc, type SambaDc, type SchemaVersion } from '../../../src/lab/samba.js';
import { WritebackService } from '../../../src/sync/service.js';
import { openSyncSession, type SyncSession } from '../../../src/sync/session.js';
import { WritebackMetrics } from '../../../src/web/metrics.js';
import { FakeSource } from '../../support/fake-source.js';

/** Loopback addresses already on lo (other test runs, or leftovers of crashed ones). */
function usedLoopbackHosts(): Set<number> {
  const used = new Set<number>();
  try {
    const out = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
    for (const m of out.matchAll(/inet 127\.0\.0\.(\d+)\//g)) used.add(Number(m[1]));
  } catch {
    /* no ip: startDc will say so */
  }
  return used;
}

export async function startFreeDc(schema: SchemaVersion = '2012_R2'): Promise<SambaDc> {
  const unavailable = inject('sambaUnavailable');
  if (unavailable) throw new Error(`Samba AD DC tests cannot run here: ${unavailable}.`);
  const root = inject('sambaRoot');
  const template = readTemplate(path.join(root, `template-${schema}`));
  for (let attempt = 0; ; attempt++) {
    const used = usedLoopbackHosts();
    const free = Array.from({ length: 200 }, (_, i) => 40 + i).filter((n) => !used.has(n));
    const first = free[Math.floor(Math.random() * Math.min(free.length, 60))] ?? 40;
    try {
      return await startDc(template, { workDir: path.join(root, 'dcs'), firstAddress: first });
    } catch (err) {
      if (attempt >= 4 || !/already assigned|File exists|in use/i.test(String(err))) throw err;
    }
  }
}

export interface Lab {
  dc: SambaDc;
  admin: AdConnection;
  container: string;
}

/** A DC for the tests of one file, with the device container created. */
export function useConsoleDc(schema: SchemaVersion = '2012_R2'): Lab {
  const lab = {} as Lab;
  beforeAll(async () => {
    lab.dc = await startFreeDc(schema);
    lab.admin = await adminSession(lab.dc);
    lab.container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
    await lab.admin.add(lab.container, { objectClass: ['top', 'msDS-DeviceContainer'] });
  });
  afterAll(async () => {
    await lab.admin?.close();
    await lab.dc?.stop();
  });
  return lab;
}

export interface ServiceLab {
  config: Config;
  source: FakeSource;
  session: SyncSession;
  service: WritebackService;
  metrics: WritebackMetrics;
  close(): Promise<void>;
}

/** A writeback service as `run` builds it, over a FakeSource, its metrics observing LDAP. */
export async function startServiceLab(config: Config, source = new FakeSource()): Promise<ServiceLab> {
  const metrics = new WritebackMetrics();
  const session = await openSyncSession(config, { source, ldapObserver: metrics.ldapObserver });
  const service = WritebackService.fromSession(session);
  service.onCycle(metrics.onCycle);
  return {
    config,
    source,
    session,
    service,
    metrics,
    close: async () => {
      await service.stop();
      await session.close();
    },
  };
}
