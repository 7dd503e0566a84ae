// The service behind `run` without Samba: it stays up while the forest cannot be reached, backs
// off between failed attempts, reports why on /healthz (the health it computes), stops on a
// configuration error, where retrying would not help, and knows a failed cycle's mode from the store.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { DwbError } from '../../src/errors.js';
import { setLogLevel } from '../../src/log.js';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { WritebackService } from '../../src/sync/service.js';
import type { SyncSession } from '../../src/sync/session.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(intervalSeconds: number) {
  setLogLevel('silent');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-service-'));
  dirs.push(dir);
  const config = parseConfig(
    `ad: { url: ldaps://dc.test, bindDn: CN=x, password: { env: X } }\nwriteback: { intervalSeconds: ${intervalSeconds} }\nstate: { sqlite: ${path.join(dir, 'state.db')} }\n`,
    path.join(dir, 'device-writeback.yaml'),
  );
  return { config, store: SqliteStateStore.open(config.state.sqlite, { writer: true }) };
}

describe('the writeback service', () => {
  it('keeps trying to connect, backing off between failures, and says why it is not writing', async () => {
    const { config, store } = setup(0.04);
    const attempts: number[] = [];
    const service = new WritebackService({
      config,
      store,
      connect: async () => {
        attempts.push(Date.now());
        throw new DwbError('DWB_AD_UNREACHABLE', 'cannot reach 127.0.0.9:636: connect ECONNREFUSED.');
      },
    });
    const loop = service.start();
    while (attempts.length < 5) await new Promise((r) => setTimeout(r, 20));
    const health = service.health();
    expect(health).toMatchObject({ healthy: false, connected: false });
    expect(health.reason).toMatch(
      /^not connected to the forest yet: DWB_AD_UNREACHABLE cannot reach 127\.0\.0\.9/,
    );
    await service.stop();
    await loop;
    // each wait at least as long as the one before it, and the last one clearly longer than the first
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]! * 2);
    await store.close();
  });

  it('connects once the forest answers, then cycles; a configuration error ends it', async () => {
    const { config, store } = setup(0.02);
    let tries = 0;
    const session = {
      config,
      store,
      forests: [
        {
          name: 'default',
          reached: { container: { containerDn: 'CN=RegisteredDevices,DC=t', source: 'ad.domain' } },
        },
      ],
      engine: {
        sync: async () => ({
          mode: 'delta',
          created: 0,
          updated: 0,
          deleted: 0,
          unchanged: 0,
          quarantined: 0,
          adopted: 0,
          thresholdStopped: false,
          deletionsHeld: 0,
          forests: { default: { created: 0, updated: 0, deleted: 0, deletionsHeld: 0 } },
        }),
      },
      close: async () => store.close(),
    } as unknown as SyncSession;
    const service = new WritebackService({
      config,
      store,
      connect: async () => {
        if (++tries < 3) throw new DwbError('DWB_AD_UNREACHABLE', 'not yet');
        return session;
      },
    });
    const loop = service.start();
    while (!service.health().healthy || !service.session) await new Promise((r) => setTimeout(r, 10));
    expect(service.health()).toMatchObject({ connected: true, reason: 'the last cycle succeeded' });
    await service.stop();
    await loop;
    await service.close();

    const bad = setup(0.02);
    const fatal = new WritebackService({
      config: bad.config,
      store: bad.store,
      connect: async () => {
        throw new DwbError('DWB_AD_TLS_REQUIRED', 'ad.url is plain LDAP');
      },
    });
    await expect(fatal.start()).rejects.toMatchObject({ code: 'DWB_AD_TLS_REQUIRED' });
    await bad.store.close();
  });

  it('a cycle that fails before the forest ever answered still has its mode (for /metrics)', async () => {
    const { config, store } = setup(3600);
    const service = new WritebackService({
      config,
      store,
      connect: async () => {
        throw new DwbError('DWB_AD_UNREACHABLE', 'cannot reach 127.0.0.9:636: connect ECONNREFUSED.');
      },
    });
    // no watermark yet: the pass would be full
    expect(await service.cycle()).toMatchObject({
      ok: false,
      mode: 'full',
      error: { code: 'DWB_AD_UNREACHABLE' },
    });
    // a watermark and a recent full reconcile of the forest: a delta pass
    await store.commitWatermark('https://graph.test/v1.0/devices/delta?$deltatoken=t1', 'full');
    await store.setForestState('default', { needsFull: false });
    expect(await service.cycle()).toMatchObject({ ok: false, mode: 'delta' });
    await store.close();
  });
});
