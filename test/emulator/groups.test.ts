// Groups in the emulator, as Graph v1.0 serves them for scope rules: the seeded groups (a nested
// one among them), a group and its direct and transitive members (typed, paged, $select-ed,
// counted), a device's memberOf / transitiveMemberOf, the writes with Graph's errors, and
// groups/delta with members@delta: large member lists split across pages, later rounds with only
// the membership changes, $select, $filter by id, latest tokens, expired ones, and a round with no
// change that costs nothing, however many members the groups have.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DirectoryStore,
  seededGroups,
  startEmulator,
  type RunningEmulator,
} from '../../src/emulator/index.js';
import { getToken, readAll, request, type GraphBody, type HttpResult } from './http.js';

const SEED = 'groups-test';
let emulator: RunningEmulator;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator({ devices: 60, seed: SEED, groupDeltaMembersPerPage: 25 });
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
}

const seeded = Object.fromEntries(seededGroups({ seed: SEED }).map((g) => [g.key, g.group.id])) as Record<
  'pilot' | 'windows' | 'scope',
  string
>;

/** Seeded devices by seed index (the emulator created them in seed order). */
function deviceAt(index: number): { id: string; deviceId: string } {
  const device = emulator.store.listDevices()[index];
  if (!device) throw new Error(`no device ${index}`);
  return device;
}

function newGroup(displayName: string, members: string[] = []): string {
  return emulator.store.createGroup({ displayName }, members).id;
}

interface Round {
  items: Record<string, unknown>[];
  pages: GraphBody[];
  deltaLink: string;
}

async function round(start: string, headers: Record<string, string> = {}): Promise<Round> {
  const items: Record<string, unknown>[] = [];
  const pages: GraphBody[] = [];
  let next: string | undefined = start;
  for (;;) {
    const page: HttpResult = await get(next, headers);
    if (page.status !== 200) throw new Error(`${page.status} ${page.text}`);
    pages.push(page.json);
    items.push(...(page.json.value ?? []));
    if (page.json['@odata.deltaLink']) return { items, pages, deltaLink: page.json['@odata.deltaLink'] };
    next = page.json['@odata.nextLink'];
    if (!next) throw new Error('page without nextLink or deltaLink');
  }
}

/** Every members@delta entry of one group over a round, in order. */
function membersOf(items: Record<string, unknown>[], groupId: string): Record<string, unknown>[] {
  return items
    .filter((item) => item.id === groupId)
    .flatMap((item) => (item['members@delta'] as Record<string, unknown>[] | undefined) ?? []);
}

describe('seeded groups', () => {
  it('are the same for the same seed: pilot devices, Windows devices, and a scope group nesting the pilot', () => {
    const a = new DirectoryStore();
    a.seed(30, { seed: SEED });
    const b = new DirectoryStore();
    b.seed(30, { seed: SEED });
    expect(a.listGroups()).toEqual(b.listGroups());
    expect(a.listGroups().map((g) => g.displayName)).toEqual([
      'Pilot devices',
      'Windows devices',
      'Device writeback scope',
    ]);
    const devices = a.listDevices();
    expect(a.members(seeded.pilot).map((m) => m.id)).toEqual([0, 10, 20].map((i) => devices[i]?.id));
    expect(a.members(seeded.scope).map((m) => m.id)).toEqual([devices[7]?.id, seeded.pilot]);
    expect(a.members(seeded.windows).every((m) => m.kind === 'device')).toBe(true);
    expect(a.members(seeded.windows)).toHaveLength(
      devices.filter((d) => d.operatingSystem === 'Windows').length,
    );
    // Seeding more devices puts them in their groups too; seeding again changes nothing.
    a.seed(41, { seed: SEED });
    expect(a.members(seeded.pilot).map((m) => m.id)).toEqual(
      [0, 10, 20, 30, 40].map((i) => a.listDevices()[i]?.id),
    );
    const seq = a.currentGroupSeq;
    a.seed(41, { seed: SEED });
    expect(a.currentGroupSeq).toBe(seq);
  });
});

describe('GET /v1.0/groups/{id} and members', () => {
  it('returns a group with its properties, or exactly the selected ones', async () => {
    const group = await get(`/v1.0/groups/${seeded.pilot}`);
    expect(group.status).toBe(200);
    expect(group.json).toMatchObject({
      '@odata.context': `${emulator.url}/v1.0/$metadata#groups/$entity`,
      id: seeded.pilot,
      displayName: 'Pilot devices',
      securityEnabled: true,
      mailEnabled: false,
      groupTypes: [],
    });
    expect(group.json.securityIdentifier).toMatch(/^S-1-12-1-\d+-\d+-\d+-\d+$/);
    const selected = await get(`/v1.0/groups/${seeded.pilot}?$select=displayName`);
    expect(selected.json).toEqual({
      '@odata.context': `${emulator.url}/v1.0/$metadata#groups(displayName)/$entity`,
      id: seeded.pilot,
      displayName: 'Pilot devices',
    });
    const unknown = randomUUID();
    const missing = await get(`/v1.0/groups/${unknown}`);
    expectGraphError(missing, 404, 'Request_ResourceNotFound');
    expect(missing.json.error?.message).toBe(
      `Resource '${unknown}' does not exist or one of its queried reference-property objects are not present.`,
    );
  });

  it('lists direct members typed with @odata.type, paged, with $select honoured per type', async () => {
    const members = await get(`/v1.0/groups/${seeded.scope}/members`);
    expect(members.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#directoryObjects`);
    const value = members.json.value ?? [];
    expect(value.map((m) => [m['@odata.type'], m.id])).toEqual([
      ['#microsoft.graph.device', deviceAt(7).id],
      ['#microsoft.graph.device', deviceAt(32).id],
      ['#microsoft.graph.device', deviceAt(57).id],
      ['#microsoft.graph.group', seeded.pilot],
    ]);
    expect(value[0]).toMatchObject({
      deviceId: deviceAt(7).deviceId,
      alternativeSecurityIds: expect.any(Array),
    });
    expect(value[3]).toMatchObject({ displayName: 'Pilot devices', securityEnabled: true });

    const selected = await get(`/v1.0/groups/${seeded.scope}/members?$select=id,deviceId,securityEnabled`);
    expect(selected.json['@odata.context']).toBe(
      `${emulator.url}/v1.0/$metadata#directoryObjects(id,deviceId,securityEnabled)`,
    );
    expect(selected.json.value?.[0]).toEqual({
      '@odata.type': '#microsoft.graph.device',
      id: deviceAt(7).id,
      deviceId: deviceAt(7).deviceId,
    });
    expect(selected.json.value?.[3]).toEqual({
      '@odata.type': '#microsoft.graph.group',
      id: seeded.pilot,
      securityEnabled: true,
    });
    expectGraphError(
      await get(`/v1.0/groups/${seeded.scope}/members?$select=nonsense`),
      400,
      'Request_BadRequest',
    );

    const paged = await readAll(emulator, token, `/v1.0/groups/${seeded.windows}/members?$top=7&$select=id`);
    expect(paged.items.map((m) => m.id)).toEqual(emulator.store.members(seeded.windows).map((m) => m.id));
    expect(paged.pages).toBe(Math.ceil(paged.items.length / 7));
  });

  it('counts members and casts to one type only as an advanced query', async () => {
    const eventual = { ConsistencyLevel: 'eventual' };
    const count = await get(`/v1.0/groups/${seeded.scope}/members/$count`, eventual);
    expect(count.text).toBe('4');
    const counted = await get(`/v1.0/groups/${seeded.scope}/members?$count=true&$top=1`, eventual);
    expect(counted.json['@odata.count']).toBe(4);
    expect(counted.json.value).toHaveLength(1);
    const devices = await get(
      `/v1.0/groups/${seeded.scope}/members/microsoft.graph.device?$count=true`,
      eventual,
    );
    expect(devices.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#devices`);
    expect(devices.json['@odata.count']).toBe(3);
    expect(devices.json.value?.[0]?.['@odata.type']).toBeUndefined();
    // A cast of members is a plain query; of transitiveMembers, an advanced one.
    const plainCast = await get(`/v1.0/groups/${seeded.scope}/members/microsoft.graph.device?$select=id`);
    expect(plainCast.json.value).toEqual([7, 32, 57].map((i) => ({ id: deviceAt(i).id })));
    expectGraphError(
      await get(`/v1.0/groups/${seeded.scope}/transitiveMembers/microsoft.graph.device`),
      400,
      'Request_UnsupportedQuery',
    );
    expectGraphError(
      await get(`/v1.0/groups/${seeded.scope}/members/$count`),
      400,
      'Request_UnsupportedQuery',
    );
  });

  it('lists transitive members through nested groups, each once, cycles included', async () => {
    const transitive = await readAll(
      emulator,
      token,
      `/v1.0/groups/${seeded.scope}/transitiveMembers?$select=id`,
    );
    const pilotDevices = emulator.store.members(seeded.pilot).map((m) => m.id);
    expect(transitive.items.map((m) => m.id)).toEqual([
      deviceAt(7).id,
      deviceAt(32).id,
      deviceAt(57).id,
      seeded.pilot,
      ...pilotDevices,
    ]);
    expect(transitive.items[3]?.['@odata.type']).toBe('#microsoft.graph.group');

    // a ⊃ b ⊃ c ⊃ a, with one device each (and one device in two of them).
    const a = newGroup('cycle a', [deviceAt(1).id]);
    const b = newGroup('cycle b', [deviceAt(2).id, a]);
    const c = newGroup('cycle c', [deviceAt(3).id, deviceAt(1).id, b]);
    emulator.store.addMember(a, c);
    const cycle = await get(`/v1.0/groups/${a}/transitiveMembers?$select=id`);
    expect(cycle.json.value?.map((m) => m.id)).toEqual([
      deviceAt(1).id,
      c,
      deviceAt(3).id,
      b,
      deviceAt(2).id,
    ]);
    const cast = await get(
      `/v1.0/groups/${a}/transitiveMembers/microsoft.graph.device?$count=true&$select=deviceId`,
      {
        ConsistencyLevel: 'eventual',
      },
    );
    expect(cast.json['@odata.count']).toBe(3);
    expect(cast.json.value?.[0]).toEqual({ id: deviceAt(1).id, deviceId: deviceAt(1).deviceId });
  });

  it("lists a device's groups, direct (memberOf) and transitive, by id or by deviceId", async () => {
    const pilotDevice = deviceAt(10);
    const transitive = await get(`/v1.0/devices/${pilotDevice.id}/transitiveMemberOf`);
    expect(transitive.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#directoryObjects`);
    const names = transitive.json.value?.map((g) => g.displayName);
    // The scope group comes through the nested pilot group: the device is not a direct member.
    expect(names).toEqual(expect.arrayContaining(['Pilot devices', 'Device writeback scope']));
    expect(transitive.json.value?.every((g) => g['@odata.type'] === '#microsoft.graph.group')).toBe(true);
    const direct = await get(`/v1.0/devices/${pilotDevice.id}/memberOf?$select=id`);
    const directIds = direct.json.value?.map((g) => g.id);
    expect(directIds).toContain(seeded.pilot);
    expect(directIds).not.toContain(seeded.scope);
    expect(direct.json.value?.[0]).toEqual({ '@odata.type': '#microsoft.graph.group', id: seeded.pilot });
    const byDeviceId = await get(
      `/v1.0/devices(deviceId='${pilotDevice.deviceId}')/transitiveMemberOf?$select=id`,
    );
    expect(byDeviceId.json.value?.map((g) => g.id)).toEqual(transitive.json.value?.map((g) => g.id));
    const count = await get(`/v1.0/devices/${pilotDevice.id}/transitiveMemberOf/$count`, {
      ConsistencyLevel: 'eventual',
    });
    expect(count.text).toBe(String(names?.length));
    const groups = await get(
      `/v1.0/devices/${pilotDevice.id}/transitiveMemberOf/microsoft.graph.group?$count=true&$select=displayName`,
      { ConsistencyLevel: 'eventual' },
    );
    expect(groups.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#groups(displayName)`);
    expect(groups.json.value?.[0]).toEqual({ id: seeded.pilot, displayName: 'Pilot devices' });
    expectGraphError(
      await get(`/v1.0/devices/${randomUUID()}/transitiveMemberOf`),
      404,
      'Request_ResourceNotFound',
    );
  });

  it('needs a group permission', async () => {
    const restricted = await startEmulator({ devices: 3, seed: SEED, roles: ['Device.Read.All'] });
    try {
      const limited = await getToken(restricted);
      const denied = await request(restricted, 'GET', `/v1.0/groups/${seeded.pilot}/members`, {
        token: limited,
      });
      expectGraphError(denied, 403, 'Authorization_RequestDenied');
    } finally {
      await restricted.close();
    }
  });
});

describe('group writes', () => {
  it('creates a security group (with members bound), as Graph answers it', async () => {
    const created = await request(emulator, 'POST', '/v1.0/groups', {
      token,
      body: {
        description: 'Group with designated members',
        displayName: 'Operations group',
        groupTypes: [],
        mailEnabled: false,
        mailNickname: 'operations2019',
        securityEnabled: true,
        'members@odata.bind': [`https://graph.microsoft.com/v1.0/directoryObjects/${deviceAt(4).id}`],
      },
    });
    expect(created.status, created.text).toBe(201);
    const id = String(created.json.id);
    expect(created.json).toMatchObject({
      '@odata.context': `${emulator.url}/v1.0/$metadata#groups/$entity`,
      '@odata.id': `${emulator.url}/v2/${emulator.tenantId}/directoryObjects/${id}/Microsoft.DirectoryServices.Group`,
      displayName: 'Operations group',
      mailNickname: 'operations2019',
      createdDateTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
    });
    expect(created.headers.location).toBe(created.json['@odata.id']);
    expect(emulator.store.members(id).map((m) => m.id)).toEqual([deviceAt(4).id]);

    const missing = await request(emulator, 'POST', '/v1.0/groups', { token, body: { displayName: 'x' } });
    expectGraphError(missing, 400, 'Request_BadRequest');
    const tooMany = await request(emulator, 'POST', '/v1.0/groups', {
      token,
      body: {
        displayName: 'Too many',
        mailEnabled: false,
        mailNickname: 'toomany',
        securityEnabled: true,
        'members@odata.bind': Array.from(
          { length: 21 },
          (_, i) => `https://graph.microsoft.com/v1.0/directoryObjects/${deviceAt(i).id}`,
        ),
      },
    });
    expectGraphError(tooMany, 400, 'Request_BadRequest');
  });

  it('adds and removes members by $ref, with the errors Graph gives', async () => {
    const group = newGroup('Refs');
    const device = deviceAt(5);
    const add = (id: string, groupId = group) =>
      request(emulator, 'POST', `/v1.0/groups/${groupId}/members/$ref`, {
        token,
        body: { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${id}` },
      });
    expect((await add(device.id)).status).toBe(204);
    expect((await add(seeded.pilot)).status).toBe(204);
    const duplicate = await add(device.id);
    expectGraphError(duplicate, 400, 'Request_BadRequest');
    expect(duplicate.json.error?.message).toBe(
      "One or more added object references already exist for the following modified properties: 'members'.",
    );
    expectGraphError(await add(randomUUID()), 404, 'Request_ResourceNotFound');
    expectGraphError(await add(device.id, randomUUID()), 404, 'Request_ResourceNotFound');
    const noReference = await request(emulator, 'POST', `/v1.0/groups/${group}/members/$ref`, {
      token,
      body: {},
    });
    expectGraphError(noReference, 400, 'Request_BadRequest');
    expect(emulator.store.members(group).map((m) => m.id)).toEqual([device.id, seeded.pilot]);

    const remove = (id: string) =>
      request(emulator, 'DELETE', `/v1.0/groups/${group}/members/${id}/$ref`, { token });
    expect((await remove(device.id)).status).toBe(204);
    expectGraphError(await remove(device.id), 404, 'Request_ResourceNotFound');
    expect(emulator.store.members(group).map((m) => m.id)).toEqual([seeded.pilot]);
  });

  it('renames (and binds members) with PATCH and deletes a group', async () => {
    const group = newGroup('To be renamed');
    const patched = await request(emulator, 'PATCH', `/v1.0/groups/${group}`, {
      token,
      body: {
        displayName: 'Renamed',
        'members@odata.bind': [`https://graph.microsoft.com/v1.0/directoryObjects/${deviceAt(6).id}`],
      },
    });
    expect(patched.status, patched.text).toBe(204);
    expect(emulator.store.getGroup(group)?.displayName).toBe('Renamed');
    expect(emulator.store.members(group).map((m) => m.id)).toEqual([deviceAt(6).id]);
    expect((await request(emulator, 'DELETE', `/v1.0/groups/${group}`, { token })).status).toBe(204);
    expectGraphError(await get(`/v1.0/groups/${group}`), 404, 'Request_ResourceNotFound');
    expect(emulator.store.transitiveMemberOf(deviceAt(6).id).map((g) => g.group.id)).not.toContain(group);
  });
});

describe('GET /v1.0/groups/delta', () => {
  it('reads every group with members@delta, splitting large member lists across pages', async () => {
    const big = newGroup(
      'Big group',
      emulator.store
        .listDevices()
        .slice(0, 60)
        .map((d) => d.id),
    );
    const full = await round('/v1.0/groups/delta?$select=displayName,description,members');
    expect(full.pages[0]?.['@odata.context']).toBe(
      `${emulator.url}/v1.0/$metadata#groups(displayName,description)`,
    );
    // At most 25 members per page: the big group comes on several pages, repeated with its properties.
    for (const page of full.pages) {
      const onPage = (page.value ?? []).reduce(
        (n, item) => n + ((item['members@delta'] as unknown[] | undefined)?.length ?? 0),
        0,
      );
      expect(onPage).toBeLessThanOrEqual(25);
    }
    const pieces = full.items.filter((item) => item.id === big);
    expect(pieces.length).toBeGreaterThanOrEqual(3);
    for (const piece of pieces) expect(piece).toMatchObject({ displayName: 'Big group', description: null });
    expect(membersOf(full.items, big).map((m) => m.id)).toEqual(
      emulator.store
        .listDevices()
        .slice(0, 60)
        .map((d) => d.id),
    );
    expect(membersOf(full.items, big).every((m) => m['@odata.type'] === '#microsoft.graph.device')).toBe(
      true,
    );
    // Every active group once (counting a split group once), nested groups as typed members.
    const ids = [...new Set(full.items.map((item) => item.id))];
    expect(ids.sort()).toEqual(
      emulator.store
        .listGroups()
        .map((g) => g.id)
        .sort(),
    );
    expect(membersOf(full.items, seeded.scope)).toContainEqual({
      '@odata.type': '#microsoft.graph.group',
      id: seeded.pilot,
    });
    // A group without members has no members@delta.
    const empty = newGroup('Empty');
    const again = await round('/v1.0/groups/delta?$select=displayName,members');
    expect(again.items.find((item) => item.id === empty)).toEqual({ id: empty, displayName: 'Empty' });
    expect(full.pages.at(-1)?.['@odata.deltaLink']).toBe(full.deltaLink);
  });

  it('returns only changed groups later: properties, added members, removed ones marked deleted', async () => {
    const [d20, d21, d22, d23, d24] = [20, 21, 22, 23, 24].map((i) => deviceAt(i).id) as [
      string,
      string,
      string,
      string,
      string,
    ];
    const group = newGroup('Changes', [d20, d21]);
    const untouched = newGroup('Untouched', [d22]);
    const start = await round('/v1.0/groups/delta?$select=displayName,description,members');
    const quiet = await round(start.deltaLink);
    expect(quiet.items).toEqual([]);

    emulator.store.updateGroup(group, { description: 'A test group for change tracking' });
    emulator.store.removeMember(group, d20);
    emulator.store.addMember(group, d23);
    // Added and removed again within the round: nothing to report for it.
    emulator.store.addMember(group, d24);
    emulator.store.removeMember(group, d24);
    const changes = await round(start.deltaLink);
    expect(changes.items).toEqual([
      {
        id: group,
        displayName: 'Changes',
        description: 'A test group for change tracking',
        'members@delta': [
          { '@odata.type': '#microsoft.graph.device', id: d20, '@removed': { reason: 'deleted' } },
          { '@odata.type': '#microsoft.graph.device', id: d23 },
        ],
      },
    ]);
    expect(changes.items.some((item) => item.id === untouched)).toBe(false);

    // With Prefer: return=minimal, only what changed.
    emulator.store.updateGroup(group, { displayName: 'Changed again' });
    const minimal = await round(changes.deltaLink, { Prefer: 'return=minimal' });
    expect(minimal.items).toEqual([{ id: group, displayName: 'Changed again' }]);
    expect(minimal.items).toHaveLength(1);

    // A deleted group, and a deleted device that leaves its groups.
    emulator.store.deleteDevice(d22);
    emulator.store.deleteGroup(group);
    const deletions = await round(minimal.deltaLink);
    expect(deletions.items).toEqual(
      expect.arrayContaining([
        { id: group, '@removed': { reason: 'deleted' } },
        {
          id: untouched,
          displayName: 'Untouched',
          description: null,
          'members@delta': [
            { '@odata.type': '#microsoft.graph.device', id: d22, '@removed': { reason: 'deleted' } },
          ],
        },
      ]),
    );
  });

  it('tracks only what was selected, and only the groups of the filter', async () => {
    const a = newGroup('Filter a', [deviceAt(30).id]);
    const b = newGroup('Filter b');
    const other = newGroup('Filter other');
    const filter = `id eq '${a}' or id eq '${b.toUpperCase()}'`;
    const start = await round(`/v1.0/groups/delta?$select=displayName&$filter=${encodeURIComponent(filter)}`);
    expect(start.items).toEqual([
      { id: a, displayName: 'Filter a' },
      { id: b, displayName: 'Filter b' },
    ]);
    emulator.store.updateGroup(other, { displayName: 'Not tracked' });
    emulator.store.addMember(a, deviceAt(31).id);
    emulator.store.updateGroup(b, { description: 'not selected either' });
    const later = await round(start.deltaLink);
    // b changed only in a property that is not selected: still reported, with what is selected.
    expect(later.items).toEqual([
      { id: a, displayName: 'Filter a' },
      { id: b, displayName: 'Filter b' },
    ]);

    expectGraphError(
      await get(`/v1.0/groups/delta?$filter=${encodeURIComponent("displayName eq 'x'")}`),
      400,
      'Request_UnsupportedQuery',
    );
    const tooMany = Array.from({ length: 51 }, () => `id eq '${randomUUID()}'`).join(' or ');
    expectGraphError(
      await get(`/v1.0/groups/delta?$filter=${encodeURIComponent(tooMany)}`),
      400,
      'Request_UnsupportedQuery',
    );
    expectGraphError(await get('/v1.0/groups/delta?$select=nonsense'), 400, 'Request_BadRequest');
    expectGraphError(await get('/v1.0/groups/delta?$expand=members'), 400, 'Request_UnsupportedQuery');
  });

  it('starts from now with $deltatoken=latest', async () => {
    const latest = await get('/v1.0/groups/delta?$deltatoken=latest&$select=displayName,members');
    expect(latest.json.value).toEqual([]);
    const group = newGroup('After latest', [deviceAt(40).id]);
    const changes = await round(String(latest.json['@odata.deltaLink']));
    expect(changes.items).toEqual([
      {
        id: group,
        displayName: 'After latest',
        'members@delta': [{ '@odata.type': '#microsoft.graph.device', id: deviceAt(40).id }],
      },
    ]);
  });

  it('answers unknown and expired tokens as it does for devices', async () => {
    const garbage = await get('/v1.0/groups/delta?$deltatoken=not-a-token');
    expectGraphError(garbage, 410, 'syncStateNotFound');
    expect(garbage.headers.location).toBe(`${emulator.url}/v1.0/groups/delta`);
    const deviceLink = String((await get('/v1.0/devices/delta?$deltatoken=latest')).json['@odata.deltaLink']);
    const deviceToken = new URL(deviceLink).searchParams.get('$deltatoken') ?? '';
    expectGraphError(await get(`/v1.0/groups/delta?$deltatoken=${deviceToken}`), 410, 'syncStateNotFound');
    const groupLink = String(
      (await get('/v1.0/groups/delta?$deltatoken=latest&$select=displayName')).json['@odata.deltaLink'],
    );
    const groupToken = new URL(groupLink).searchParams.get('$deltatoken') ?? '';
    expectGraphError(await get(`/v1.0/devices/delta?$deltatoken=${groupToken}`), 410, 'syncStateNotFound');
    expectGraphError(await get('/v1.0/groups/delta?$skiptoken=nope'), 410, 'syncStateNotFound');

    emulator.store.expireDeltaTokens();
    const expired = await get(new URL(groupLink).pathname + new URL(groupLink).search);
    expectGraphError(expired, 410, 'resyncRequired');
    expect(expired.headers.location).toBe(`${emulator.url}/v1.0/groups/delta?$select=displayName`);
  });
});

describe('groups/delta at scale', () => {
  it('answers a round with no change without walking any member (5 groups of 10,000 members)', async () => {
    const big = await startEmulator({ seed: SEED });
    try {
      // Filled through the in-process API, as benchmarks do.
      for (let i = 0; i < 10_000; i++) big.store.createUser({ userPrincipalName: `u${i}@contoso.example` });
      const ids = big.store.listUsers().map((u) => u.id);
      for (let g = 0; g < 5; g++) big.store.createGroup({ displayName: `Large ${g}` }, ids);
      const bigToken = await getToken(big);
      let next: string | undefined = '/v1.0/groups/delta?$select=displayName,members';
      let deltaLink = '';
      let members = 0;
      while (next) {
        const page: HttpResult = await request(big, 'GET', next, { token: bigToken });
        members += (page.json.value ?? []).reduce(
          (n, item) => n + ((item['members@delta'] as unknown[] | undefined)?.length ?? 0),
          0,
        );
        deltaLink = String(page.json['@odata.deltaLink'] ?? '');
        next = page.json['@odata.nextLink'];
      }
      expect(members).toBe(50_000);
      const walked = big.store.membersWalked;
      const quiet = await request(big, 'GET', deltaLink, { token: bigToken });
      expect(quiet.json.value).toEqual([]);
      expect(big.store.membersWalked).toBe(walked);
      // One change costs that change, not the group.
      big.store.removeMember(big.store.listGroups()[2]!.id, ids[5]!);
      const one = await request(big, 'GET', deltaLink, { token: bigToken });
      expect(one.json.value?.[0]?.['members@delta']).toEqual([
        { '@odata.type': '#microsoft.graph.user', id: ids[5], '@removed': { reason: 'deleted' } },
      ]);
      expect(big.store.membersWalked - walked).toBe(1);
      expect(big.store.members(big.store.listGroups()[0]!.id)).toHaveLength(10_000);
    } finally {
      await big.close();
    }
  });
});
