// Contract tests of the emulator's groups: each answer is compared with the example Microsoft
// documents for the same request (test/fixtures/graph, each fixture naming its page), so that a
// client written against the emulator is written against Graph's shapes: the same envelope, the
// same property names with values of the same JSON types, members@delta entries with exactly the
// documented keys, and the same error codes and messages.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getToken, request, type GraphBody, type HttpResult } from './http.js';

interface Fixture {
  _source: string;
  status: number;
  body: GraphBody;
}

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'graph');

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
}

let emulator: RunningEmulator;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator({ devices: 12, seed: 'contract-test' });
  token = await getToken(emulator);
});
afterAll(async () => {
  await emulator?.close();
});

function get(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return request(emulator, 'GET', url, { token, headers });
}

/** The JSON type of a value, as a client sees it: null matches anything nullable. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * Every property of the documented object is in the emulator's, with a value of the same JSON
 * type (a documented null or an emulated null stands for a nullable property); objects and array
 * elements are compared the same way, one level down.
 */
function expectSameShape(
  actual: Record<string, unknown>,
  documented: Record<string, unknown>,
  where: string,
): void {
  for (const [key, value] of Object.entries(documented)) {
    expect(actual, `${where}: ${key}`).toHaveProperty([key]);
    const mine = actual[key];
    if (value === null || mine === null) continue;
    expect(jsonType(mine), `${where}: type of ${key}`).toBe(jsonType(value));
    if (jsonType(value) === 'object')
      expectSameShape(mine as Record<string, unknown>, value as Record<string, unknown>, `${where}.${key}`);
    if (Array.isArray(value) && Array.isArray(mine) && value.length > 0 && mine.length > 0) {
      if (jsonType(value[0]) === 'object')
        expectSameShape(
          mine[0] as Record<string, unknown>,
          value[0] as Record<string, unknown>,
          `${where}.${key}[0]`,
        );
      else expect(jsonType(mine[0])).toBe(jsonType(value[0]));
    }
  }
}

/** The envelope of a collection: the same annotations (and no other), links of the same form. */
function expectSameEnvelope(actual: GraphBody, documented: GraphBody): void {
  const annotations = (body: GraphBody): string[] =>
    Object.keys(body)
      .filter((k) => k.startsWith('@odata.'))
      .sort();
  expect(annotations(actual)).toEqual(annotations(documented));
  for (const link of ['@odata.nextLink', '@odata.deltaLink'] as const) {
    const mine = actual[link];
    const theirs = documented[link];
    if (!theirs || !mine) continue;
    // Same path and the same (single) state token parameter, on this origin.
    const documentedUrl = new URL(theirs);
    const url = new URL(mine);
    expect(url.origin).toBe(emulator.url);
    expect(url.pathname).toBe(documentedUrl.pathname);
    expect([...url.searchParams.keys()]).toEqual([...documentedUrl.searchParams.keys()]);
  }
  if (documented['@odata.context']) {
    expect(actual['@odata.context']).toBe(
      String(documented['@odata.context']).replace('https://graph.microsoft.com', emulator.url),
    );
  }
}

/** The keys of members@delta entries, sorted. */
function memberKeys(item: Record<string, unknown>): string[][] {
  return ((item['members@delta'] as Record<string, unknown>[] | undefined) ?? []).map((m) =>
    Object.keys(m).sort(),
  );
}

describe('groups/delta against the documented example', () => {
  it('a first page: groups with members@delta (typed ids), a group without members without it', async () => {
    const documented = fixture('groups-delta-initial');
    const store = emulator.store;
    const [alice, bob] = [
      store.createUser({ userPrincipalName: 'alice@contoso.example' }),
      store.createUser({ userPrincipalName: 'bob@contoso.example' }),
    ];
    store.createGroup(
      { displayName: 'All Company', description: 'This is the default group for everyone in the network' },
      [alice.id, bob.id],
    );
    store.createGroup({ displayName: 'sg-HR', description: 'All HR personnel' });
    const page = await get('/v1.0/groups/delta?$select=displayName,description,members', {
      Prefer: 'odata.maxpagesize=2',
    });
    expect(page.status).toBe(documented.status);
    expectSameEnvelope(page.json, documented.body);
    const items = page.json.value ?? [];
    const company = items.find((i) => i.displayName === 'All Company') ?? (await findInRound('All Company'));
    const hr = items.find((i) => i.displayName === 'sg-HR') ?? (await findInRound('sg-HR'));
    const [documentedCompany, documentedHr] = documented.body.value ?? [];
    expect(Object.keys(company).sort()).toEqual(Object.keys(documentedCompany ?? {}).sort());
    expectSameShape(company, documentedCompany ?? {}, 'All Company');
    expect(memberKeys(company)).toEqual(memberKeys(documentedCompany ?? {}));
    expect(company['members@delta']).toEqual([
      { '@odata.type': '#microsoft.graph.user', id: alice.id },
      { '@odata.type': '#microsoft.graph.user', id: bob.id },
    ]);
    expect(Object.keys(hr).sort()).toEqual(Object.keys(documentedHr ?? {}).sort());
  });

  it('the last page of a round and a later round without changes', async () => {
    // Several pages, as in the documented round: the last one is reached through a nextLink.
    const last = await lastPage('/v1.0/groups/delta?$select=displayName,members', {
      Prefer: 'odata.maxpagesize=2',
    });
    expectSameEnvelope(last, fixture('groups-delta-final').body);
    const quiet = await get(String(last['@odata.deltaLink']));
    expectSameEnvelope(quiet.json, fixture('groups-delta-no-changes').body);
    expect(quiet.json.value).toEqual([]);
  });

  it('a later round: the changed group, one member removed (@removed deleted) and one added', async () => {
    const documented = fixture('groups-delta-changes');
    const store = emulator.store;
    const [kept, leaving, joining] = ['kept', 'leaving', 'joining'].map(
      (n) => store.createUser({ userPrincipalName: `${n}@contoso.example` }).id,
    ) as [string, string, string];
    const group = store.createGroup({ displayName: 'TestGroup3', description: 'Before' }, [kept, leaving]);
    const start = await lastPage('/v1.0/groups/delta?$select=displayName,description,members');
    store.updateGroup(group.id, { description: 'A test group for change tracking' });
    store.removeMember(group.id, leaving);
    store.addMember(group.id, joining);
    const changes = await get(String(start['@odata.deltaLink']));
    expectSameEnvelope(changes.json, documented.body);
    const [documentedGroup] = documented.body.value ?? [];
    const [item] = changes.json.value ?? [];
    expect(Object.keys(item ?? {}).sort()).toEqual(Object.keys(documentedGroup ?? {}).sort());
    expectSameShape(item ?? {}, documentedGroup ?? {}, 'changed group');
    expect(memberKeys(item ?? {})).toEqual(memberKeys(documentedGroup ?? {}));
    expect(item?.['members@delta']).toEqual([
      { '@odata.type': '#microsoft.graph.user', id: leaving, '@removed': { reason: 'deleted' } },
      { '@odata.type': '#microsoft.graph.user', id: joining },
    ]);
  });
});

describe('group reads and writes against the documented examples', () => {
  it('POST /groups answers a security group with every documented property', async () => {
    const documented = fixture('group-create');
    const created = await request(emulator, 'POST', '/v1.0/groups', {
      token,
      body: {
        description: 'Group with designated owner and members',
        displayName: 'Operations group',
        groupTypes: [],
        mailEnabled: false,
        mailNickname: 'operations2019',
        securityEnabled: true,
      },
    });
    expect(created.status).toBe(documented.status);
    expect(Object.keys(created.json).sort()).toEqual(Object.keys(documented.body).sort());
    expectSameShape(created.json, documented.body, 'created group');
    expect(created.json['@odata.context']).toBe(`${emulator.url}/v1.0/$metadata#groups/$entity`);
    expect(created.json.securityIdentifier).toMatch(/^S-1-12-1-\d+-\d+-\d+-\d+$/);
  });

  it('members and transitive members are directoryObject collections of typed members', async () => {
    const user = emulator.store.createUser({
      userPrincipalName: 'member@contoso.example',
      mail: 'member@contoso.example',
    });
    const inner = emulator.store.createGroup({ displayName: 'Inner' }, [user.id]);
    const outer = emulator.store.createGroup({ displayName: 'Outer' }, [inner.id]);
    const members = await get(`/v1.0/groups/${inner.id}/members`);
    const documentedMembers = fixture('group-members').body;
    expectSameEnvelope(members.json, documentedMembers);
    expectSameShape(members.json.value?.[0] ?? {}, documentedMembers.value?.[0] ?? {}, 'member');
    expect(members.json.value?.[0]?.['@odata.type']).toBe('#microsoft.graph.user');

    const transitive = await get(`/v1.0/groups/${outer.id}/transitiveMembers`);
    const documentedTransitive = fixture('group-transitive-members').body;
    const viaNesting = transitive.json.value?.find((m) => m.id === user.id) ?? {};
    expectSameShape(viaNesting, documentedTransitive.value?.[0] ?? {}, 'transitive member');
    expect(viaNesting['@odata.type']).toBe(documentedTransitive.value?.[0]?.['@odata.type']);
  });

  it("a device's transitiveMemberOf lists its groups as typed group objects", async () => {
    const device = emulator.store.listDevices()[0]!;
    const group = emulator.store.createGroup(
      { displayName: 'All Users', description: 'All users at the company' },
      [device.id],
    );
    const memberOf = await get(`/v1.0/devices/${device.id}/transitiveMemberOf`);
    const documented = fixture('device-transitive-memberof').body;
    const item = memberOf.json.value?.find((g) => g.id === group.id) ?? {};
    expectSameShape(item, documented.value?.[0] ?? {}, 'group of a device');
    expect(item['@odata.type']).toBe('#microsoft.graph.group');
  });

  it('adding a member twice, or one that does not exist, answers the documented errors', async () => {
    const device = emulator.store.listDevices()[1]!;
    const group = emulator.store.createGroup({ displayName: 'Errors' }, [device.id]);
    const add = (id: string) =>
      request(emulator, 'POST', `/v1.0/groups/${group.id}/members/$ref`, {
        token,
        body: { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${id}` },
      });
    for (const [name, result] of [
      ['error-member-already-exists-400', await add(device.id)],
      ['error-not-found-404', await add('0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d')],
    ] as const) {
      const documented = fixture(name);
      expect(result.status).toBe(documented.status);
      expect(result.json.error?.code).toBe(documented.body.error?.code);
      expect(result.json.error?.message).toBe(documented.body.error?.message);
      expect(Object.keys(result.json.error?.innerError ?? {}).sort()).toEqual(
        Object.keys(documented.body.error?.innerError ?? {}).sort(),
      );
    }
  });
});

/** Follows a round to its last page. */
async function lastPage(start: string, headers: Record<string, string> = {}): Promise<GraphBody> {
  let next: string | undefined = start;
  for (;;) {
    const page: HttpResult = await get(next, headers);
    if (page.status !== 200) throw new Error(`${page.status} ${page.text}`);
    if (page.json['@odata.deltaLink']) return page.json;
    next = page.json['@odata.nextLink'];
    if (!next) throw new Error('page without nextLink or deltaLink');
  }
}

/** A group's item anywhere in a full round (when it was not on the first page). */
async function findInRound(displayName: string): Promise<Record<string, unknown>> {
  let next: string | undefined = '/v1.0/groups/delta?$select=displayName,description,members';
  while (next) {
    const page: HttpResult = await get(next);
    const found = page.json.value?.find((i) => i.displayName === displayName);
    if (found) return found;
    next = page.json['@odata.nextLink'];
  }
  throw new Error(`${displayName} is not in the round`);
}
