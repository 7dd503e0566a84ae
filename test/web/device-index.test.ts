// The console's device index over a real state store (no DC): search, filters, paging, and that it
// follows the engine's writes (new, renamed, deleted, written, unmanaged, quarantined devices).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import type { StateStore } from '../../src/state/store.js';
import { DeviceIndex } from '../../src/web/device-index.js';
import { sampleDevice } from '../support/fake-source.js';

let store: StateStore;
const owner = (n: number) => ({
  registeredOwners: [
    {
      id: `u${n}`,
      userPrincipalName: `user${n % 3}@corp.example.test`,
      onPremisesSecurityIdentifier: `S-1-5-21-1-2-3-${1100 + (n % 3)}`,
    },
  ],
  registeredUsers: [],
});

beforeEach(async () => {
  store = SqliteStateStore.open(path.join(mkdtempSync(path.join(os.tmpdir(), 'dwb-index-')), 'state.db'), {
    writer: true,
  });
  for (let n = 1; n <= 30; n++) {
    const d = sampleDevice(n, {
      operatingSystem: n % 3 === 0 ? 'iOS' : 'Windows',
      accountEnabled: n % 5 !== 0,
    });
    await store.putDevices([{ device: d, relations: owner(n) }]);
    if (n <= 20)
      await store.putObjects([
        {
          forest: 'default',
          deviceId: d.deviceId,
          graphId: d.id,
          dn: `CN=${d.deviceId},CN=RegisteredDevices,DC=x`,
          objectGuid: null,
          hash: 'h',
        },
      ]);
  }
});
afterEach(() => store.close());

describe('DeviceIndex', async () => {
  it('lists everything sorted by display name, paged', async () => {
    const index = new DeviceIndex(store);
    const page = await index.query({ pageSize: 7, page: 2 });
    expect(page.total).toBe(30);
    expect(page.pages).toBe(5);
    const all = (await index.query({ pageSize: 200 })).rows.map((r) => r.displayName);
    expect(all).toEqual([...all].sort((a, b) => (a!.toLowerCase() < b!.toLowerCase() ? -1 : 1)));
    expect(page.rows.map((r) => r.displayName)).toEqual(all.slice(7, 14));
    // a page past the end shows the last one
    expect((await index.query({ pageSize: 7, page: 99 })).page).toBe(5);
  });

  it('searches name, deviceId, OS and owner, case-insensitively; filters combine', async () => {
    const index = new DeviceIndex(store);
    expect((await index.query({ search: 'device-12' })).rows.map((r) => r.displayName)).toEqual([
      'DEVICE-12',
    ]);
    expect(
      (await index.query({ search: sampleDevice(7).deviceId.toUpperCase() })).rows.map((r) => r.displayName),
    ).toEqual(['DEVICE-7']);
    expect((await index.query({ os: 'iOS' })).total).toBe(10);
    expect((await index.query({ owner: 'USER1@' })).total).toBe(10);
    expect((await index.query({ enabled: false })).total).toBe(6);
    expect((await index.query({ state: 'managed' })).total).toBe(20);
    expect((await index.query({ state: 'not-written' })).total).toBe(10);
    expect(
      (await index.query({ state: 'managed', os: 'iOS', enabled: true })).rows.map((r) => r.displayName),
    ).toEqual(['DEVICE-12', 'DEVICE-18', 'DEVICE-3', 'DEVICE-6', 'DEVICE-9']);
    expect((await index.query({ search: 'nothing like this' })).total).toBe(0);
  });

  it('says why a device is not written, filters by that rule, and follows a changed reason', async () => {
    const notCompliant = { rule: 'compliantOnly', reason: 'out of scope: not compliant' };
    const noGroup = { rule: 'groups', reason: 'out of scope: not in any scope group' };
    for (const n of [21, 22, 23])
      await store.putDevices([
        {
          device: sampleDevice(n, { operatingSystem: 'Windows', accountEnabled: true }),
          relations: owner(n),
          forest: null,
          ...notCompliant,
        },
      ]);
    await store.putDevices([
      {
        device: sampleDevice(24, { operatingSystem: 'iOS', accountEnabled: true }),
        relations: owner(24),
        forest: null,
        ...noGroup,
      },
    ]);
    const index = new DeviceIndex(store);
    expect(await index.notWrittenRules()).toEqual(['compliantOnly', 'groups']);
    const out = await index.query({ rule: 'compliantOnly', pageSize: 50 });
    expect(out.rows.map((r) => r.displayName)).toEqual(['DEVICE-21', 'DEVICE-22', 'DEVICE-23']);
    expect(out.rows[0]).toMatchObject({
      state: 'not-written',
      ...notCompliant,
      why: { kind: 'out-of-scope', rule: 'compliantOnly', reason: 'out of scope: not compliant' },
    });
    // A device in scope that is not written yet is pending.
    expect((await index.get(sampleDevice(25).id))?.why).toMatchObject({ kind: 'pending' });
    expect((await index.get(sampleDevice(1).id))?.why).toBeNull();
    // The next pass finds it compliant: the index follows.
    await new Promise((r) => setTimeout(r, 5));
    await store.putDevices([
      {
        device: sampleDevice(21, { operatingSystem: 'Windows', accountEnabled: true }),
        relations: owner(21),
        forest: 'default',
        reason: null,
        rule: null,
      },
    ]);
    expect((await index.query({ rule: 'compliantOnly' })).total).toBe(2);
    expect((await index.get(sampleDevice(21).id))?.why?.kind).toBe('pending');
  });

  it('finds hostile names literally', async () => {
    const hostile = `<script>alert("x")</script> & 'quotes' %_\\*`;
    await store.putDevices([{ device: sampleDevice(99, { displayName: hostile }), relations: null }]);
    const index = new DeviceIndex(store);
    expect((await index.query({ search: '<script>' })).rows.map((r) => r.displayName)).toEqual([hostile]);
    expect((await index.query({ search: '%_\\*' })).rows.map((r) => r.displayName)).toEqual([hostile]);
    expect((await index.query({ search: '%' })).total).toBe(1);
  });

  it('follows the engine: new, renamed, deleted, written and forgotten devices, quarantine, unmanaged objects', async () => {
    const index = new DeviceIndex(store);
    expect((await index.query({})).total).toBe(30);
    await store.putDevices([{ device: sampleDevice(31), relations: null }]);
    await store.putDevices([
      { device: { ...sampleDevice(2), displayName: 'AAA renamed' }, relations: owner(2) },
    ]);
    await store.deleteDevices([sampleDevice(3).id]);
    await store.deleteObjects('default', [sampleDevice(4).deviceId]);
    const d25 = sampleDevice(25);
    await store.putObjects([
      {
        forest: 'default',
        deviceId: d25.deviceId,
        graphId: d25.id,
        dn: `CN=${d25.deviceId},CN=RegisteredDevices,DC=x`,
        objectGuid: null,
        hash: 'h',
      },
    ]);
    await store.quarantine([
      {
        key: sampleDevice(26).id,
        graphId: sampleDevice(26).id,
        deviceId: sampleDevice(26).deviceId,
        displayName: 'DEVICE-26',
        code: 'DWB_DEVICE_NO_KEY',
        message: 'no key',
      },
    ]);
    await store.replaceUnmanaged('default', [
      { dn: 'CN=legacy,CN=RegisteredDevices,DC=x', deviceId: null, displayName: 'Legacy laptop' },
    ]);
    const page = await index.query({ pageSize: 200 });
    expect(page.total).toBe(31);
    expect(page.rows[0]!.displayName).toBe('AAA renamed');
    expect(page.rows.some((r) => r.displayName === 'DEVICE-3')).toBe(false);
    expect((await index.get(sampleDevice(4).id))!.state).toBe('not-written');
    expect((await index.get(d25.id))!.state).toBe('managed');
    expect(await index.get(sampleDevice(26).id)).toMatchObject({
      state: 'quarantined',
      quarantine: { code: 'DWB_DEVICE_NO_KEY' },
    });
    expect((await index.query({ state: 'unmanaged' })).rows.map((r) => [r.displayName, r.key])).toEqual([
      ['Legacy laptop', 'ad:CN=legacy,CN=RegisteredDevices,DC=x'],
    ]);
    expect((await index.get(sampleDevice(5).deviceId))!.key).toBe(sampleDevice(5).id);
    expect(await index.counts()).toMatchObject({ all: 31, unmanaged: 1, quarantined: 1 });
    await store.release([sampleDevice(26).id]);
    expect((await index.get(sampleDevice(26).id))!.state).toBe('not-written');
  });

  it('survives many changes at once (re-sort) and a reopened store', async () => {
    const index = new DeviceIndex(store);
    await index.query({});
    await store.putDevices(
      Array.from({ length: 700 }, (_, i) => ({
        device: sampleDevice(100 + i, { displayName: `bulk-${100 + i}` }),
        relations: null,
      })),
    );
    expect((await index.query({ search: 'bulk-' })).total).toBe(700);
    expect((await index.query({ pageSize: 3 })).rows.map((r) => r.displayName)).toEqual([
      'bulk-100',
      'bulk-101',
      'bulk-102',
    ]);
    const again = new DeviceIndex(store);
    expect((await again.query({})).total).toBe(730);
  });
});
