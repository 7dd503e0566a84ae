// Graph v1.0 routes of the emulator, driven by a plain HTTPS client: devices (paging, $select,
// $filter, $count, $expand), registered owners and users, users with onPremisesSecurityIdentifier
// only on $select, $batch, writes, and Graph's error shapes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getToken, readAll, request, type GraphBody, type HttpResult } from './http.js';

const DOMAIN_SID = 'S-1-5-21-1004336348-1177238915-682003330';
let emulator: RunningEmulator;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator({ devices: 250, domainSid: DOMAIN_SID, seed: 'graph-test' });
  token = await getToken(emulator);
});
afterAll(async () => {
  await emulator?.close();
});

function get(path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return request(emulator, 'GET', path, { token, headers });
}

function expectGraphError(result: HttpResult, status: number, code: string): void {
  expect(result.status, result.text).toBe(status);
  expect(result.json.error?.code).toBe(code);
  expect(typeof result.json.error?.message).toBe('string');
  expect(Object.keys(result.json.error?.innerError ?? {}).sort()).toEqual([
    'client-request-id',
    'date',
    'request-id',
  ]);
}

describe('GET /v1.0/devices', () => {
  it('pages with @odata.nextLink ($top) through every active device exactly once', async () => {
    const all = await readAll(emulator, token, '/v1.0/devices?$top=40&$select=id,deviceId');
    expect(all.pages).toBe(Math.ceil(250 / 40));
    expect(all.items).toHaveLength(250);
    expect(new Set(all.items.map((d) => d.id)).size).toBe(250);
    expect(all.last['@odata.nextLink']).toBeUndefined();
  });

  it('uses 100 per page by default and honors Prefer: odata.maxpagesize', async () => {
    const first = await get('/v1.0/devices');
    expect(first.json.value).toHaveLength(100);
    expect(first.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#devices`);
    expect(first.headers['content-type']).toMatch(/^application\/json;odata\.metadata=minimal/);
    const small = await get('/v1.0/devices', { Prefer: 'odata.maxpagesize=7' });
    expect(small.json.value).toHaveLength(7);
    expect(small.json['@odata.nextLink']).toMatch(/\$skiptoken=/);
  });

  it('returns every SPEC §2 property by default and exactly the $select-ed ones (plus id) when asked', async () => {
    const full = (await get('/v1.0/devices?$top=1')).json.value?.[0] ?? {};
    for (const property of [
      'id',
      'deviceId',
      'displayName',
      'accountEnabled',
      'operatingSystem',
      'operatingSystemVersion',
      'trustType',
      'isManaged',
      'isCompliant',
      'deviceVersion',
      'approximateLastSignInDateTime',
      'physicalIds',
      'alternativeSecurityIds',
    ]) {
      expect(full).toHaveProperty(property);
    }
    const selected = await get('/v1.0/devices?$top=2&$select=displayName,TRUSTTYPE');
    expect(selected.json['@odata.context']).toBe(
      `${emulator.url}/v1.0/$metadata#devices(displayName,trustType)`,
    );
    for (const device of selected.json.value ?? [])
      expect(Object.keys(device).sort()).toEqual(['displayName', 'id', 'trustType']);
  });

  it('refuses an unknown $select property and a bad $top with Graph errors', async () => {
    const unknown = await get('/v1.0/devices?$select=id,nonsense');
    expectGraphError(unknown, 400, 'Request_BadRequest');
    expect(unknown.json.error?.message).toBe(
      "Could not find a property named 'nonsense' on type 'microsoft.graph.device'.",
    );
    expectGraphError(await get('/v1.0/devices?$top=1000'), 400, 'Request_BadRequest');
    expectGraphError(await get('/v1.0/devices?$orderby=displayName'), 400, 'Request_UnsupportedQuery');
  });

  it("filters by deviceId eq '…' (any case) and by other comparisons", async () => {
    const target = emulator.store.listDevices()[123];
    const byId = await get(
      `/v1.0/devices?$filter=deviceId eq '${target?.deviceId.toUpperCase()}'&$select=id,deviceId`,
    );
    expect(byId.json.value).toEqual([{ id: target?.id, deviceId: target?.deviceId }]);
    expect((await get(`/v1.0/devices?$filter=deviceId eq '${randomUUID()}'`)).json.value).toEqual([]);

    const windowsAzureAd = await readAll(
      emulator,
      token,
      "/v1.0/devices?$filter=operatingSystem eq 'Windows' and trustType eq 'AzureAd'&$select=operatingSystem,trustType",
    );
    const expected = emulator.store
      .listDevices()
      .filter((d) => d.operatingSystem === 'Windows' && d.trustType === 'AzureAd');
    expect(windowsAzureAd.items).toHaveLength(expected.length);
    expect(expected.length).toBeGreaterThan(0);
    const laptops = await readAll(emulator, token, "/v1.0/devices?$filter=startswith(displayName,'LAPTOP-')");
    expect(laptops.items.every((d) => String(d.displayName).startsWith('LAPTOP-'))).toBe(true);
    expectGraphError(await get("/v1.0/devices?$filter=nonsense eq 'x'"), 400, 'Request_BadRequest');
  });

  it('counts with $count=true and ConsistencyLevel: eventual (and refuses $count without it)', async () => {
    const counted = await get('/v1.0/devices?$count=true&$top=1', { ConsistencyLevel: 'eventual' });
    expect(counted.json['@odata.count']).toBe(250);
    expectGraphError(await get('/v1.0/devices?$count=true'), 400, 'Request_UnsupportedQuery');
    const plain = await get('/v1.0/devices/$count', { ConsistencyLevel: 'eventual' });
    expect(plain.text).toBe('250');
  });
});

describe('one device and its owners', () => {
  const ownedDevice = (): { id: string; deviceId: string } => {
    const device = emulator.store
      .listDevices()
      .find((d) => emulator.store.relation(d.id, 'registeredOwners').length > 0);
    if (!device) throw new Error('no owned device');
    return device;
  };

  it('GET /devices/{id} and the alternate key devices(deviceId=…)', async () => {
    const device = ownedDevice();
    const byId = await get(`/v1.0/devices/${device.id}?$select=deviceId`);
    expect(byId.json).toEqual({
      '@odata.context': `${emulator.url}/v1.0/$metadata#devices(deviceId)/$entity`,
      id: device.id,
      deviceId: device.deviceId,
    });
    const byKey = await get(`/v1.0/devices(deviceId='${device.deviceId}')?$select=id`);
    expect(byKey.json.id).toBe(device.id);
  });

  it('404 Request_ResourceNotFound for an unknown device', async () => {
    const id = randomUUID();
    const result = await get(`/v1.0/devices/${id}`);
    expectGraphError(result, 404, 'Request_ResourceNotFound');
    expect(result.json.error?.message).toBe(
      `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
    );
  });

  it('lists registeredOwners as directoryObjects; onPremisesSecurityIdentifier only when $select-ed', async () => {
    const device = ownedDevice();
    const plain = await get(`/v1.0/devices/${device.id}/registeredOwners`);
    expect(plain.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#directoryObjects`);
    const owner = plain.json.value?.[0] ?? {};
    expect(owner['@odata.type']).toBe('#microsoft.graph.user');
    expect(owner).toHaveProperty('userPrincipalName');
    expect(owner).not.toHaveProperty('onPremisesSecurityIdentifier');

    const selected = await get(
      `/v1.0/devices/${device.id}/registeredOwners?$select=id,userPrincipalName,onPremisesSecurityIdentifier`,
    );
    const sid = selected.json.value?.[0]?.onPremisesSecurityIdentifier;
    expect(sid).toMatch(new RegExp(`^${DOMAIN_SID}-\\d+$`));
    const users = await get(
      `/v1.0/devices/${device.id}/registeredUsers/microsoft.graph.user?$select=onPremisesSecurityIdentifier`,
    );
    expect(users.json['@odata.context']).toBe(
      `${emulator.url}/v1.0/$metadata#users(onPremisesSecurityIdentifier)`,
    );
    expect(users.json.value?.[0]?.onPremisesSecurityIdentifier).toBe(sid);
  });

  it('GET /users/{id} by id or UPN, with the SID only on $select', async () => {
    const device = ownedDevice();
    const owner = emulator.store.relation(device.id, 'registeredOwners')[0];
    const plain = await get(`/v1.0/users/${owner?.id}`);
    expect(plain.json.userPrincipalName).toBe(owner?.userPrincipalName);
    expect(plain.json).toHaveProperty('businessPhones');
    expect(plain.json).not.toHaveProperty('onPremisesSecurityIdentifier');
    const selected = await get(
      `/v1.0/users/${encodeURIComponent(owner?.userPrincipalName ?? '')}?$select=onPremisesSecurityIdentifier`,
    );
    expect(selected.json).toMatchObject({
      id: owner?.id,
      onPremisesSecurityIdentifier: owner?.onPremisesSecurityIdentifier,
    });
    expectGraphError(await get(`/v1.0/users/${randomUUID()}`), 404, 'Request_ResourceNotFound');
  });

  it('expands registeredOwners with a nested $select', async () => {
    const device = ownedDevice();
    const result = await get(
      `/v1.0/devices/${device.id}?$select=id&$expand=registeredOwners($select=id,onPremisesSecurityIdentifier)`,
    );
    const owners = result.json.registeredOwners as Record<string, unknown>[];
    expect(owners[0]).toEqual({
      '@odata.type': '#microsoft.graph.user',
      id: expect.any(String),
      onPremisesSecurityIdentifier: expect.stringMatching(/^S-1-5-21-/),
    });
  });

  it('answers unknown segments and wrong methods as Graph does', async () => {
    expectGraphError(await get('/v1.0/gadgets'), 400, 'BadRequest');
    expectGraphError(
      await request(emulator, 'PUT', `/v1.0/devices/${ownedDevice().id}`, { token, body: {} }),
      405,
      'Request_BadRequest',
    );
  });
});

describe('POST /v1.0/$batch', () => {
  it('runs up to 20 requests and answers each with its own status, headers and body', async () => {
    const devices = emulator.store.listDevices().slice(0, 18);
    const requests = [
      ...devices.map((d, i) => ({
        id: String(i + 1),
        method: 'GET',
        url: `/devices/${d.id}/registeredOwners?$select=id,onPremisesSecurityIdentifier`,
      })),
      { id: '19', method: 'GET', url: `/devices/${randomUUID()}` },
      { id: '20', method: 'GET', url: 'users?$top=1' },
    ];
    const result = await request(emulator, 'POST', '/v1.0/$batch', { token, body: { requests } });
    expect(result.status).toBe(200);
    const responses = result.json.responses ?? [];
    expect(responses).toHaveLength(20);
    const byId = new Map(responses.map((r) => [r.id, r]));
    for (let i = 1; i <= 18; i++) {
      const response = byId.get(String(i));
      expect(response?.status).toBe(200);
      expect(response?.body?.['@odata.context']).toContain('directoryObjects');
      const expectedOwners = emulator.store.relation(devices[i - 1]?.id ?? '', 'registeredOwners');
      expect(response?.body?.value?.map((o) => o.onPremisesSecurityIdentifier)).toEqual(
        expectedOwners.map((o) => o.onPremisesSecurityIdentifier),
      );
    }
    expect(byId.get('19')?.status).toBe(404);
    expect(byId.get('19')?.body?.error?.code).toBe('Request_ResourceNotFound');
    expect(byId.get('20')?.body?.value).toHaveLength(1);
  });

  it('refuses more than 20 requests and a malformed payload', async () => {
    const requests = Array.from({ length: 21 }, (_, i) => ({
      id: String(i),
      method: 'GET',
      url: '/devices?$top=1',
    }));
    const tooMany = await request(emulator, 'POST', '/v1.0/$batch', { token, body: { requests } });
    expectGraphError(tooMany, 400, 'BadRequest');
    expect(tooMany.json.error?.message).toBe('Number of requests exceeds the limit of 20.');
    expectGraphError(
      await request(emulator, 'POST', '/v1.0/$batch', { token, body: { nope: 1 } }),
      400,
      'BadRequest',
    );
    expectGraphError(
      await request(emulator, 'POST', '/v1.0/$batch', { token, body: '{not json' }),
      400,
      'BadRequest',
    );
  });

  it('needs a token itself and passes it to the inner requests', async () => {
    const anonymous = await request(emulator, 'POST', '/v1.0/$batch', {
      body: { requests: [{ id: '1', method: 'GET', url: '/devices?$top=1' }] },
    });
    expect(anonymous.status).toBe(401);
  });

  it('fails a request whose dependency failed with 424', async () => {
    const requests = [
      { id: 'a', method: 'GET', url: `/devices/${randomUUID()}` },
      { id: 'b', method: 'GET', url: '/devices?$top=1', dependsOn: ['a'] },
    ];
    const result = await request(emulator, 'POST', '/v1.0/$batch', { token, body: { requests } });
    expect(result.json.responses?.map((r) => r.status)).toEqual([404, 424]);
  });
});

describe('writes', () => {
  it('creates, reads, updates and deletes a device', async () => {
    const deviceId = randomUUID();
    const body = {
      accountEnabled: true,
      alternativeSecurityIds: [
        {
          type: 2,
          identityProvider: null,
          key: Buffer.from(
            'X509:<SHA1-TP-PUBKEY>' + 'AB'.repeat(20) + 'x'.repeat(43) + '=',
            'utf16le',
          ).toString('base64'),
        },
      ],
      deviceId,
      displayName: 'Test device',
      operatingSystem: 'Windows',
      operatingSystemVersion: '10.0.26100.1',
    };
    const created = await request(emulator, 'POST', '/v1.0/devices', { token, body });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({
      '@odata.context': `${emulator.url}/v1.0/$metadata#devices/$entity`,
      deviceId,
      displayName: 'Test device',
    });
    const id = String(created.json.id);

    const patched = await request(emulator, 'PATCH', `/v1.0/devices/${id}`, {
      token,
      body: { displayName: 'Renamed', isCompliant: true },
    });
    expect(patched.status).toBe(204);
    expect(patched.text).toBe('');
    expect((await get(`/v1.0/devices/${id}?$select=displayName,isCompliant`)).json).toMatchObject({
      displayName: 'Renamed',
      isCompliant: true,
    });
    await request(emulator, 'PATCH', `/v1.0/devices/${id}`, {
      token,
      body: { extensionAttributes: { extensionAttribute1: 'one' } },
    });
    await request(emulator, 'PATCH', `/v1.0/devices/${id}`, {
      token,
      body: { extensionAttributes: { extensionAttribute2: 'two' } },
    });
    const extension = (await get(`/v1.0/devices/${id}?$select=extensionAttributes`)).json
      .extensionAttributes as Record<string, unknown>;
    expect(extension).toMatchObject({
      extensionAttribute1: 'one',
      extensionAttribute2: 'two',
      extensionAttribute3: null,
    });

    expect((await request(emulator, 'DELETE', `/v1.0/devices/${id}`, { token })).status).toBe(204);
    expectGraphError(await get(`/v1.0/devices/${id}`), 404, 'Request_ResourceNotFound');
  });

  it('validates device bodies', async () => {
    expectGraphError(
      await request(emulator, 'POST', '/v1.0/devices', { token, body: { displayName: 'x' } }),
      400,
      'Request_BadRequest',
    );
    const id = emulator.store.listDevices()[0]?.id;
    expectGraphError(
      await request(emulator, 'PATCH', `/v1.0/devices/${id}`, { token, body: { accountEnabled: 'yes' } }),
      400,
      'Request_BadRequest',
    );
    expectGraphError(
      await request(emulator, 'PATCH', `/v1.0/devices/${id}`, { token, body: { color: 'red' } }),
      400,
      'Request_BadRequest',
    );
  });

  it('creates users and adds / removes registered owners and users by $ref', async () => {
    const upn = `new.user.${Date.now()}@contoso.example`;
    const created = await request(emulator, 'POST', '/v1.0/users', {
      token,
      body: {
        accountEnabled: true,
        displayName: 'New User',
        mailNickname: 'newuser',
        userPrincipalName: upn,
        passwordProfile: { password: 'x' },
        onPremisesSecurityIdentifier: `${DOMAIN_SID}-4242`,
      },
    });
    expect(created.status, created.text).toBe(201);
    const userId = String(created.json.id);
    expect(created.text).not.toContain('passwordProfile');

    const device = emulator.store.listDevices()[5];
    for (const relation of ['registeredOwners', 'registeredUsers']) {
      const added = await request(emulator, 'POST', `/v1.0/devices/${device?.id}/${relation}/$ref`, {
        token,
        body: { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${userId}` },
      });
      expect(added.status, added.text).toBe(204);
      const listed = await get(
        `/v1.0/devices/${device?.id}/${relation}?$select=onPremisesSecurityIdentifier`,
      );
      expect(listed.json.value?.map((u) => u.onPremisesSecurityIdentifier)).toContain(`${DOMAIN_SID}-4242`);
      const refs = await get(`/v1.0/devices/${device?.id}/${relation}/$ref`);
      expect(refs.json.value?.some((r) => String(r['@odata.id']).includes(userId))).toBe(true);
      const again = await request(emulator, 'POST', `/v1.0/devices/${device?.id}/${relation}/$ref`, {
        token,
        body: { '@odata.id': `https://graph.microsoft.com/v1.0/users/${userId}` },
      });
      expect(again.status).toBe(400);
      expect(
        (
          await request(emulator, 'DELETE', `/v1.0/devices/${device?.id}/${relation}/${userId}/$ref`, {
            token,
          })
        ).status,
      ).toBe(204);
      const after = await get(`/v1.0/devices/${device?.id}/${relation}?$select=id`);
      expect(after.json.value?.map((u) => u.id)).not.toContain(userId);
    }
    const duplicate = await request(emulator, 'POST', '/v1.0/users', {
      token,
      body: { displayName: 'Dup', userPrincipalName: upn },
    });
    expectGraphError(duplicate, 400, 'Request_BadRequest');
  });

  it('hides soft-deleted devices from reads until they are restored', async () => {
    const device = emulator.store.listDevices()[7];
    expect((await request(emulator, 'POST', `/_emulator/devices/${device?.id}/soft-delete`)).status).toBe(
      204,
    );
    expectGraphError(await get(`/v1.0/devices/${device?.id}`), 404, 'Request_ResourceNotFound');
    expect((await get(`/v1.0/devices?$filter=deviceId eq '${device?.deviceId}'`)).json.value).toEqual([]);
    expect((await request(emulator, 'POST', `/_emulator/devices/${device?.id}/restore`)).status).toBe(204);
    expect(
      (await get(`/v1.0/devices/${device?.id}?$select=deletedDateTime`)).json.deletedDateTime,
    ).toBeNull();
    expect(
      (await request<GraphBody>(emulator, 'POST', `/_emulator/devices/${randomUUID()}/restore`)).status,
    ).toBe(404);
  });
});
