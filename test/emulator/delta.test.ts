// devices/delta as Graph does change tracking: a full round in pages, a delta link, then only the
// changes since the token: partial properties for updates, full objects for new or restored
// devices, @removed for soft ("changed") and hard ("deleted") deletions, latest tokens, and 410 for
// expired or unknown tokens.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getToken, request, type GraphBody, type HttpResult } from './http.js';

let emulator: RunningEmulator;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator({ devices: 120, seed: 'delta-test' });
  token = await getToken(emulator);
});
afterAll(async () => {
  await emulator?.close();
});

interface Round {
  items: Record<string, unknown>[];
  pages: number;
  deltaLink: string;
}

/** Follows nextLinks to the deltaLink. */
async function round(start: string, pageSize?: number): Promise<Round> {
  const headers: Record<string, string> = pageSize ? { Prefer: `odata.maxpagesize=${pageSize}` } : {};
  const items: Record<string, unknown>[] = [];
  let pages = 0;
  let next: string | undefined = start;
  for (;;) {
    const page: HttpResult = await request(emulator, 'GET', next, { token, headers });
    if (page.status !== 200) throw new Error(`${page.status} ${page.text}`);
    pages++;
    items.push(...(page.json.value ?? []));
    expect(page.json['@odata.nextLink'] !== undefined && page.json['@odata.deltaLink'] !== undefined).toBe(
      false,
    );
    if (page.json['@odata.deltaLink']) return { items, pages, deltaLink: page.json['@odata.deltaLink'] };
    next = page.json['@odata.nextLink'];
    if (!next) throw new Error('page without nextLink or deltaLink');
  }
}

const SELECT =
  'deviceId,displayName,accountEnabled,operatingSystemVersion,approximateLastSignInDateTime,alternativeSecurityIds';

describe('devices/delta', () => {
  it('reads every device in pages, then returns nothing until something changes', async () => {
    const first = await request(emulator, 'GET', `/v1.0/devices/delta?$select=${SELECT}`, {
      token,
      headers: { Prefer: 'odata.maxpagesize=50' },
    });
    expect(first.headers['preference-applied']).toBe('odata.maxpagesize=50');
    expect(first.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#devices(${SELECT})`);
    expect(first.json['@odata.nextLink']).toMatch(
      new RegExp(`^${emulator.url}/v1.0/devices/delta\\?\\$skiptoken=`),
    );

    const full = await round(`/v1.0/devices/delta?$select=${SELECT}`, 50);
    expect(full.pages).toBe(3);
    expect(full.items).toHaveLength(120);
    expect(Object.keys(full.items[0] ?? {}).sort()).toEqual(['id', ...SELECT.split(',')].sort());
    expect(full.deltaLink).toMatch(new RegExp(`^${emulator.url}/v1.0/devices/delta\\?\\$deltatoken=`));

    const quiet = await round(full.deltaLink);
    expect(quiet.items).toEqual([]);
    expect(quiet.pages).toBe(1);
  });

  it('reports changes since the token: only changed properties, new devices in full, deletions as @removed', async () => {
    const start = await round(`/v1.0/devices/delta?$select=${SELECT}`);
    const [renamed, signedIn, hardDeleted, softDeleted, ownerChanged, twice] = emulator.store.listDevices();
    if (!renamed || !signedIn || !hardDeleted || !softDeleted || !ownerChanged || !twice)
      throw new Error('seed too small');

    emulator.store.updateDevice(renamed.id, {
      displayName: 'Renamed laptop',
      accountEnabled: !renamed.accountEnabled,
    });
    emulator.store.recordSignIn(signedIn.id, new Date('2026-01-02T03:04:05Z'));
    emulator.store.deleteDevice(hardDeleted.id);
    emulator.store.softDeleteDevice(softDeleted.id);
    const user = emulator.store.createUser({
      userPrincipalName: `delta.${randomUUID()}@contoso.example`,
      displayName: 'Delta',
    });
    emulator.store.addRelation(ownerChanged.id, 'registeredOwners', user.id);
    emulator.store.updateDevice(twice.id, { operatingSystemVersion: '1.0' });
    emulator.store.updateDevice(twice.id, { operatingSystemVersion: '2.0' });
    const created = emulator.store.createDevice({
      deviceId: randomUUID(),
      displayName: 'Brand new',
      operatingSystem: 'iOS',
    });
    // Unchanged value: no change recorded at all.
    emulator.store.updateDevice(renamed.id, { deviceId: renamed.deviceId });

    const changes = await round(start.deltaLink);
    const byId = new Map(changes.items.map((item) => [item.id, item]));
    expect(changes.items).toHaveLength(7);
    expect(byId.get(renamed.id)).toEqual({
      id: renamed.id,
      displayName: 'Renamed laptop',
      accountEnabled: !renamed.accountEnabled,
    });
    expect(byId.get(signedIn.id)).toEqual({
      id: signedIn.id,
      approximateLastSignInDateTime: '2026-01-02T03:04:05Z',
    });
    expect(byId.get(hardDeleted.id)).toEqual({ id: hardDeleted.id, '@removed': { reason: 'deleted' } });
    expect(byId.get(softDeleted.id)).toEqual({ id: softDeleted.id, '@removed': { reason: 'changed' } });
    // A relation change reports the device with its id only (the client re-reads its owners).
    expect(byId.get(ownerChanged.id)).toEqual({ id: ownerChanged.id });
    expect(byId.get(twice.id)).toEqual({ id: twice.id, operatingSystemVersion: '2.0' });
    expect(byId.get(created.id)).toMatchObject({
      id: created.id,
      displayName: 'Brand new',
      accountEnabled: true,
      alternativeSecurityIds: [],
    });
    expect(Object.keys(byId.get(created.id) ?? {}).sort()).toEqual(['id', ...SELECT.split(',')].sort());

    // Restore: the device comes back whole.
    emulator.store.restoreDevice(softDeleted.id);
    const restored = await round(changes.deltaLink);
    expect(restored.items).toHaveLength(1);
    expect(restored.items[0]).toMatchObject({
      id: softDeleted.id,
      deviceId: softDeleted.deviceId,
      displayName: softDeleted.displayName,
    });

    // The old token still works and still covers everything since then.
    const replay = await round(start.deltaLink);
    expect(replay.items.map((i) => i.id).sort()).toEqual([...changes.items.map((i) => i.id)].sort());
    expect(replay.items.find((i) => i.id === softDeleted.id)).toMatchObject({
      deviceId: softDeleted.deviceId,
    });
  });

  it('pages through many changes, reporting each device once', async () => {
    const start = await round('/v1.0/devices/delta?$select=displayName');
    const devices = emulator.store.listDevices().slice(0, 60);
    for (const device of devices)
      emulator.store.updateDevice(device.id, { displayName: `${device.displayName}-a` });
    for (const device of devices.slice(0, 30))
      emulator.store.updateDevice(device.id, { displayName: `${device.displayName}-b` });
    const changes = await round(start.deltaLink, 25);
    expect(changes.items).toHaveLength(60);
    expect(changes.pages).toBeGreaterThanOrEqual(3);
    expect(new Set(changes.items.map((i) => i.id)).size).toBe(60);
    expect(changes.items.find((i) => i.id === devices[0]?.id)?.displayName).toBe(
      `${devices[0]?.displayName}-b`,
    );
  });

  it('$deltatoken=latest gives a delta link without data; changes after it are reported', async () => {
    const latest = await request(
      emulator,
      'GET',
      '/v1.0/devices/delta?$deltatoken=latest&$select=displayName',
      { token },
    );
    expect(latest.status).toBe(200);
    expect(latest.json.value).toEqual([]);
    expect(latest.json['@odata.nextLink']).toBeUndefined();
    const device = emulator.store.listDevices()[10];
    emulator.store.updateDevice(device?.id ?? '', {
      displayName: 'After latest',
      isManaged: !device?.isManaged,
    });
    const changes = await round(String(latest.json['@odata.deltaLink']));
    // The $select of the first request is kept in the token.
    expect(changes.items).toEqual([{ id: device?.id, displayName: 'After latest' }]);
  });

  it('answers expired tokens with 410 resyncRequired and a Location to start over', async () => {
    const start = await round('/v1.0/devices/delta?$select=displayName', 80);
    const midRound = await request(emulator, 'GET', '/v1.0/devices/delta?$select=displayName', {
      token,
      headers: { Prefer: 'odata.maxpagesize=10' },
    });
    const expire = await request(emulator, 'POST', '/_emulator/faults', {
      body: { expireDeltaTokens: true },
    });
    expect(expire.json).toMatchObject({ expiredDeltaTokens: true });

    for (const link of [start.deltaLink, String(midRound.json['@odata.nextLink'])]) {
      const gone: HttpResult = await request(emulator, 'GET', link, { token });
      expect(gone.status).toBe(410);
      expect(gone.json.error?.code).toBe('resyncRequired');
      expect(gone.json.error?.innerError).toHaveProperty('request-id');
      expect(gone.headers.location).toBe(`${emulator.url}/v1.0/devices/delta?$select=displayName`);
    }
    const fresh = await round(
      String((await request(emulator, 'GET', start.deltaLink, { token })).headers.location),
    );
    expect(fresh.items.length).toBe(emulator.store.counts().active);
  });

  it('answers unknown tokens with 410 syncStateNotFound', async () => {
    const other = await startEmulator({ devices: 2 });
    try {
      const foreign = await request<GraphBody>(other, 'GET', '/v1.0/devices/delta?$deltatoken=latest', {
        token: await getToken(other),
      });
      const foreignLink = new URL(String(foreign.json['@odata.deltaLink']));
      for (const query of [
        `$deltatoken=${randomUUID()}`,
        `$skiptoken=garbage`,
        foreignLink.search.slice(1),
      ]) {
        const gone = await request(emulator, 'GET', `/v1.0/devices/delta?${query}`, { token });
        expect(gone.status, query).toBe(410);
        expect(gone.json.error?.code).toBe('syncStateNotFound');
      }
    } finally {
      await other.close();
    }
  });

  it('refuses query options Graph does not support on delta', async () => {
    for (const option of ["$filter=deviceId eq 'x'", '$top=5', '$orderby=displayName']) {
      const result = await request(emulator, 'GET', `/v1.0/devices/delta?${option}`, { token });
      expect(result.status).toBe(400);
      expect(result.json.error?.code).toBe('Request_UnsupportedQuery');
    }
  });

  it('accepts the fully qualified function name', async () => {
    const result = await request(
      emulator,
      'GET',
      '/v1.0/devices/microsoft.graph.delta()?$deltatoken=latest',
      { token },
    );
    expect(result.status).toBe(200);
  });
});
