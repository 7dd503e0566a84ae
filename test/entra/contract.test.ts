// Contract tests: the connector fed the example answers of Microsoft's Graph and identity platform
// documentation (test/fixtures/graph), served from 127.0.0.1, so that it is checked against what
// Microsoft documents and not only against our own emulator.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EntraConnector } from '../../src/entra/connector.js';
import type { DeltaReadEvent, DeviceChange, GroupDeltaEvent } from '../../src/entra/types.js';
import { DwbError } from '../../src/errors.js';
import {
  captureLogs,
  fromFixture,
  loadFixture,
  recordSleeps,
  startFixtureServer,
  staticCredential,
  testEntraConfig,
  type FixtureServer,
  type RecordedRequest,
} from './support/fixture-server.js';

const SELECTED = [
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
];

let server: FixtureServer;

beforeAll(async () => {
  server = await startFixtureServer();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.requests.length = 0;
});

function connector(extra: ConstructorParameters<typeof EntraConnector>[1] = {}) {
  const logs = captureLogs();
  const sleeps = recordSleeps();
  const credential = staticCredential();
  const c = new EntraConnector(testEntraConfig({ graphUrl: server.url }), {
    credential,
    logger: logs.logger,
    sleep: sleeps.sleep,
    ...extra,
  });
  return { c, logs, sleeps, credential };
}

async function collect(events: AsyncIterable<DeltaReadEvent>): Promise<DeltaReadEvent[]> {
  const out: DeltaReadEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

function changesOf(events: DeltaReadEvent[]): DeviceChange[] {
  return events.flatMap((e) => (e.kind === 'reset' ? [] : e.changes));
}

function query(request: RecordedRequest): URLSearchParams {
  return new URL(request.url, 'http://x').searchParams;
}

describe('delta read against the documented answers', () => {
  it('reads the documented device delta pages to the delta link, selecting only the SPEC properties', async () => {
    server.handle((req) => {
      if (req.url.includes('$skiptoken=')) return fromFixture('devices-delta-final', server.url);
      return fromFixture('devices-delta-initial', server.url);
    });
    const { c } = connector();
    const events = await collect(c.readDelta());

    expect(server.requests).toHaveLength(2);
    const first = server.requests[0]!;
    expect(new URL(first.url, 'http://x').pathname).toBe('/v1.0/devices/delta');
    expect(query(first).get('$select')?.split(',')).toEqual(SELECTED);
    expect(first.headers.authorization).toBe('Bearer contract-test-access-token');
    expect(first.headers.prefer).toBe('odata.maxpagesize=999');
    // The nextLink is followed exactly as Graph wrote it.
    expect(server.requests[1]!.url).toBe(
      '/v1.0/devices/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjsXoYQp_dpA3cNJWc',
    );

    expect(events).toHaveLength(2);
    expect(events[0]).toEqual({
      kind: 'page',
      changes: [
        {
          kind: 'upsert',
          device: {
            id: 'c9d9f9b3-0c91-4080-b392-78f775903b3a',
            deviceId: '4c299165-6e8f-4b45-a5ba-c5d250a707ff',
            displayName: 'Test device',
            accountEnabled: false,
            operatingSystem: 'linux',
            operatingSystemVersion: '1',
            alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'base64Y3YxN2E1MWFlYw==' }],
          },
        },
      ],
    });
    const last = events[1]!;
    expect(last.kind).toBe('page');
    if (last.kind === 'reset') throw new Error('unexpected reset');
    expect(last.deltaLink).toBe(
      `${server.url}/v1.0/devices/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460`,
    );
    expect(last.changes[0]).toMatchObject({
      kind: 'upsert',
      device: {
        deviceVersion: 2,
        trustType: 'AzureAd',
        isManaged: true,
        isCompliant: true,
        physicalIds: expect.any(Array),
      },
    });
    // A device sent with only some properties comes out with exactly those: nothing blanked.
    expect(last.changes[1]).toEqual({
      kind: 'upsert',
      device: { id: '6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0', displayName: 'Conf Room Adams' },
    });
    expect(last.changes[2]).toEqual({
      kind: 'removed',
      id: '86462606-fde0-4fc4-9e0c-a20eb73e54c6',
      reason: 'deleted',
    });
  });

  it('reads changes from a saved delta link: partial updates and soft deletions', async () => {
    server.handle(() => fromFixture('devices-delta-changes', server.url));
    const { c } = connector();
    const link = `${server.url}/v1.0/devices/delta?$deltatoken=saved`;
    const events = await collect(c.readDelta(link));
    expect(server.requests.map((r) => r.url)).toEqual(['/v1.0/devices/delta?$deltatoken=saved']);
    expect(changesOf(events)).toEqual([
      { kind: 'upsert', device: { id: 'f6ede700-27d0-4c42-bfb9-4dffff43c74a', accountEnabled: false } },
      { kind: 'removed', id: 'c9d9f9b3-0c91-4080-b392-78f775903b3a', reason: 'changed' },
    ]);
    expect(events.at(-1)).toMatchObject({
      deltaLink: `${server.url}/v1.0/devices/delta?$deltatoken=changes-round-2`,
    });
  });

  it.each([
    ['410 syncStateNotFound', 'error-sync-state-not-found-410', /410 syncStateNotFound/],
    ['400 resyncRequired', 'error-resync-required-400', /400 resyncRequired/],
  ])('falls back to a full read on %s, and logs it', async (_name, fixture, reason) => {
    server.handle((req) => {
      if (req.url.includes('$deltatoken=expired')) return fromFixture(fixture, server.url);
      return fromFixture('devices-delta-final', server.url);
    });
    const resets: string[] = [];
    const { c, logs } = connector({ observer: { onReset: (r) => resets.push(r) } });
    const events = await collect(c.readDelta(`${server.url}/v1.0/devices/delta?$deltatoken=expired`));
    expect(events[0]).toMatchObject({ kind: 'reset', reason: expect.stringMatching(reason) });
    expect(events[1]).toMatchObject({ kind: 'page', deltaLink: expect.stringContaining('$deltatoken=') });
    expect(query(server.requests[1]!).get('$select')).toBe(SELECTED.join(','));
    expect(resets).toHaveLength(1);
    expect(logs.text()).toMatch(/delta token refused; starting a full read/);
  });

  it('resets when the saved delta link is not on entra.graphUrl', async () => {
    server.handle(() => fromFixture('devices-delta-final', server.url));
    const { c } = connector();
    const events = await collect(
      c.readDelta('https://graph.microsoft.com/v1.0/devices/delta?$deltatoken=elsewhere'),
    );
    expect(events[0]).toMatchObject({
      kind: 'reset',
      reason: expect.stringMatching(/not on entra.graphUrl/),
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.url).toContain('$select=');
  });

  it('does not follow a nextLink to another host (the token stays on graphUrl)', async () => {
    server.handle(() => fromFixture('devices-delta-initial', 'https://graph.example.invalid'));
    const { c } = connector();
    await expect(collect(c.readDelta())).rejects.toMatchObject({ code: 'DWB_ENTRA_BAD_RESPONSE' });
    expect(server.requests).toHaveLength(1);
  });

  it('quarantines malformed devices one by one and goes on with the rest', async () => {
    server.handle(() => fromFixture('devices-delta-malformed', server.url));
    let invalid = 0;
    const { c, logs } = connector({ observer: { onInvalidDevice: () => invalid++ } });
    const changes = changesOf(await collect(c.readDelta()));
    expect(changes).toHaveLength(4);
    expect(changes[0]).toMatchObject({
      kind: 'upsert',
      device: { id: '0b0e4c2c-7d73-4a5e-9f57-2a6f3b8a1c01', displayName: 'GOOD-DEVICE' },
    });
    // Unknown properties are dropped, not passed on.
    expect(changes[0]).not.toHaveProperty('device.extensionAttributes');
    expect(changes[1]).toMatchObject({
      kind: 'invalid',
      deviceId: '2b8d4f0c-63a5-4e2d-9f1b-7cae3a5d8f22',
      reason: expect.stringMatching(/^id:/),
    });
    expect(changes[1]).not.toHaveProperty('id');
    expect(changes[2]).toMatchObject({
      kind: 'invalid',
      id: '0b0e4c2c-7d73-4a5e-9f57-2a6f3b8a1c03',
      reason: expect.stringMatching(/^accountEnabled:/),
    });
    expect(changes[3]).toMatchObject({
      kind: 'invalid',
      id: '0b0e4c2c-7d73-4a5e-9f57-2a6f3b8a1c04',
      reason: expect.stringMatching(/^alternativeSecurityIds\[0\]\.key: expected base64/),
    });
    expect(invalid).toBe(3);
    expect(logs.text()).toMatch(/device failed validation/);
  });

  it('refuses a page that is not a documented collection', async () => {
    server.handle(() => ({ status: 200, body: { value: 'nope' } }));
    const { c } = connector();
    await expect(collect(c.readDelta())).rejects.toMatchObject({ code: 'DWB_ENTRA_BAD_RESPONSE' });
  });
});

describe('throttling and errors as documented', () => {
  it('waits the fractional Retry-After of the documented 429 answer, twice, then succeeds', async () => {
    let calls = 0;
    server.handle(() =>
      ++calls <= 2
        ? fromFixture('error-throttled-429', server.url)
        : fromFixture('devices-delta-final', server.url),
    );
    const throttles: Array<[string, number, number]> = [];
    const { c, sleeps } = connector({
      observer: { onThrottle: (route, status, wait) => throttles.push([route, status, wait]) },
    });
    const events = await collect(c.readDelta());
    expect(sleeps.waits).toEqual([2128, 2128]);
    expect(throttles).toEqual([
      ['devices.delta', 429, 2128],
      ['devices.delta', 429, 2128],
    ]);
    expect(events.at(-1)).toMatchObject({ kind: 'page', deltaLink: expect.any(String) });
  });

  it('backs off exponentially with jitter on 503 without Retry-After', async () => {
    let calls = 0;
    server.handle(() =>
      ++calls <= 3
        ? { status: 503, body: { error: { code: 'serviceNotAvailable', message: 'busy' } } }
        : fromFixture('devices-delta-final', server.url),
    );
    const { c, sleeps } = connector({ retry: { baseDelayMs: 1000, maxDelayMs: 30_000 } });
    await collect(c.readDelta());
    expect(sleeps.waits).toHaveLength(3);
    const [a, b, d] = sleeps.waits as [number, number, number];
    expect(a).toBeGreaterThanOrEqual(500);
    expect(a).toBeLessThanOrEqual(1000);
    expect(b).toBeGreaterThanOrEqual(1000);
    expect(b).toBeLessThanOrEqual(2000);
    expect(d).toBeGreaterThanOrEqual(2000);
    expect(d).toBeLessThanOrEqual(4000);
  });

  it('gives up after the bounded attempts with DWB_ENTRA_THROTTLED', async () => {
    server.handle(() => fromFixture('error-throttled-429', server.url));
    const { c, sleeps } = connector({ retry: { maxAttempts: 4 } });
    const err = (await collect(c.readDelta()).catch((e: unknown) => e)) as DwbError;
    expect(err).toBeInstanceOf(DwbError);
    expect(err.code).toBe('DWB_ENTRA_THROTTLED');
    expect(err.message).toMatch(/429 TooManyRequests/);
    expect(sleeps.waits).toHaveLength(3);
    expect(server.requests).toHaveLength(4);
  });

  it('gives up at once when Retry-After exceeds the total wait bound', async () => {
    server.handle(() =>
      fromFixture('error-throttled-429', server.url, { headers: { 'retry-after': '3600' } }),
    );
    const { c, sleeps } = connector();
    await expect(collect(c.readDelta())).rejects.toMatchObject({
      code: 'DWB_ENTRA_THROTTLED',
      message: expect.stringMatching(/3600\.0 s/),
    });
    expect(sleeps.waits).toEqual([]);
  });

  it('answers 401 with DWB_ENTRA_AUTH_FAILED after trying one fresh token', async () => {
    server.handle(() => fromFixture('error-unauthorized-401', server.url));
    const { c, credential } = connector();
    const err = (await collect(c.readDelta()).catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_AUTH_FAILED');
    expect(err.message).toMatch(/InvalidAuthenticationToken/);
    expect(err.fix).toMatch(/app registration/);
    expect(err.fix).toMatch(/tenantId/);
    expect(err.fix).toMatch(/clientId/);
    expect(err.fix).toMatch(/secret/);
    expect(server.requests).toHaveLength(2);
    expect(credential.calls).toBe(2);
  });

  it('answers 403 with DWB_ENTRA_FORBIDDEN naming Device.Read.All and User.Read.All', async () => {
    server.handle(() => fromFixture('error-forbidden-403', server.url));
    const { c } = connector();
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_FORBIDDEN');
    expect(err.message).toMatch(/Authorization_RequestDenied/);
    expect(err.fix).toMatch(/Device\.Read\.All/);
    expect(err.fix).toMatch(/User\.Read\.All/);
  });

  it('names the host and the cause when Graph cannot be reached', async () => {
    const closed = await startFixtureServer();
    const url = closed.url;
    await closed.close();
    const c = new EntraConnector(testEntraConfig({ graphUrl: url }), {
      credential: staticCredential(),
      logger: captureLogs().logger,
    });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_UNREACHABLE');
    expect(err.message).toContain(new URL(url).host);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

describe('probe', () => {
  it('reads one device with GET /v1.0/devices?$top=1', async () => {
    server.handle(() => fromFixture('devices-list-top1', server.url));
    const { c } = connector();
    expect(await c.probe()).toEqual({
      devices: [
        {
          id: '000005c3-b7a6-4c61-89fc-80bf5ccfc366',
          deviceId: '6fa60d52-01e7-4b18-8055-4759461fc16b',
          displayName: 'DESKTOP-858MANH',
        },
      ],
    });
    expect(server.requests[0]!.url).toMatch(/^\/v1\.0\/devices\?\$top=1(&|$)/);
  });
});

describe('registered owners and users through $batch', () => {
  const ids = Array.from({ length: 25 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);

  function batchAnswer(
    req: RecordedRequest,
    item: (url: string) => { status: number; headers?: Record<string, string>; body?: unknown },
  ) {
    const { requests } = JSON.parse(req.body) as {
      requests: Array<{ id: string; method: string; url: string }>;
    };
    return { status: 200, body: { responses: requests.map((r) => ({ id: r.id, ...item(r.url) })) } };
  }

  it('batches 20 requests at a time, a few batches in flight, selecting onPremisesSecurityIdentifier', async () => {
    const owners = loadFixture('registered-owners-select');
    const users = loadFixture('registered-owners');
    server.handle(async (req) => {
      await new Promise((r) => setTimeout(r, 20));
      return batchAnswer(req, (url) => ({
        status: 200,
        body: url.includes('/registeredOwners') ? owners.body : users.body,
      }));
    });
    const { c } = connector({ batchConcurrency: 2 });
    const relations = await c.fetchRelations(ids);

    const batches = server.requests.filter((r) => r.url === '/v1.0/$batch');
    expect(batches).toHaveLength(3);
    const sent = batches.flatMap(
      (b) =>
        (JSON.parse(b.body) as { requests: Array<{ url: string; method: string; id: string }> }).requests,
    );
    expect(sent).toHaveLength(50);
    for (const b of batches)
      expect((JSON.parse(b.body) as { requests: unknown[] }).requests.length).toBeLessThanOrEqual(20);
    expect(server.inFlight.max).toBeLessThanOrEqual(2);
    expect(sent[0]).toEqual({
      id: '1',
      method: 'GET',
      url: `/devices/${ids[0]}/registeredOwners?$select=id,userPrincipalName,onPremisesSecurityIdentifier`,
    });
    expect(sent[1]!.url).toBe(
      `/devices/${ids[0]}/registeredUsers?$select=id,userPrincipalName,onPremisesSecurityIdentifier`,
    );

    expect(relations.size).toBe(25);
    expect(relations.get(ids[3]!)).toEqual({
      registeredOwners: [
        {
          id: '96a5df40-617b-4450-8b7a-1dc18b872d8f',
          userPrincipalName: 'AdeleV@contoso.com',
          onPremisesSecurityIdentifier: 'S-1-5-21-1180699209-877415012-3182924384-1004',
        },
        {
          id: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
          userPrincipalName: 'MeganB@contoso.onmicrosoft.com',
          onPremisesSecurityIdentifier: null,
        },
      ],
      // The documented answer without $select: the properties are absent and read as null.
      registeredUsers: [
        {
          id: '96a5df40-617b-4450-8b7a-1dc18b872d8f',
          userPrincipalName: null,
          onPremisesSecurityIdentifier: null,
        },
      ],
    });
  });

  it('retries items throttled inside a batch after their Retry-After, and leaves out devices that are gone', async () => {
    const owners = loadFixture('registered-owners-select');
    const throttled = loadFixture('error-throttled-429');
    const seen = new Map<string, number>();
    server.handle((req) =>
      batchAnswer(req, (url) => {
        const n = (seen.get(url) ?? 0) + 1;
        seen.set(url, n);
        if (url.includes(ids[1]!) && url.includes('registeredOwners') && n === 1) {
          return { status: 429, headers: { 'Retry-After': '1.5' }, body: throttled.body };
        }
        if (url.includes(ids[2]!)) {
          return {
            status: 404,
            body: {
              error: { code: 'Request_ResourceNotFound', message: `Resource '${ids[2]}' does not exist.` },
            },
          };
        }
        return { status: 200, body: owners.body };
      }),
    );
    const throttles: number[] = [];
    const { c, sleeps, logs } = connector({ observer: { onThrottle: (_r, _s, w) => throttles.push(w) } });
    const relations = await c.fetchRelations(ids.slice(0, 4));
    expect(sleeps.waits).toEqual([1500]);
    expect(throttles).toEqual([1500]);
    expect([...relations.keys()].sort()).toEqual([ids[0], ids[1], ids[3]].sort());
    expect(relations.get(ids[1]!)?.registeredOwners).toHaveLength(2);
    expect(logs.text()).toMatch(/could not be read/);
  });

  it('reports the documented 403 inside a $batch answer as missing permissions', async () => {
    const documented = loadFixture('batch-response');
    server.handle(() => fromFixture(documented, server.url));
    const { c } = connector();
    // Three devices: six requests with ids 1..6; the documented answer covers ids 1..5 and refuses 2 and 3.
    const err = (await c.fetchRelations(ids.slice(0, 3)).catch((e: unknown) => e)) as DwbError;
    expect(err.code).toBe('DWB_ENTRA_FORBIDDEN');
    expect(err.message).toMatch(/in POST \/\$batch/);
    expect(err.fix).toMatch(/Device\.Read\.All and User\.Read\.All/);
  });

  it('sends nothing for an empty list', async () => {
    const { c } = connector();
    expect((await c.fetchRelations([])).size).toBe(0);
    expect(server.requests).toHaveLength(0);
  });
});

async function collectGroups(events: AsyncIterable<GroupDeltaEvent>): Promise<GroupDeltaEvent[]> {
  const out: GroupDeltaEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe('scope groups against the documented answers', () => {
  const ids = ['c2f798fd-f95d-4623-8824-63aec21fffff', 'ec22655c-8eb2-432a-b4ea-8b8a254bffff'];

  it('asks groups/delta for the scope groups by id with their members, and reads the documented first round', async () => {
    server.handle((req) =>
      fromFixture(
        req.url.includes('$skiptoken=') ? 'groups-delta-final' : 'groups-delta-initial',
        server.url,
      ),
    );
    const { c } = connector();
    const events = await collectGroups(c.readGroupDelta({ groupIds: ids }));
    const first = server.requests[0]!;
    expect(new URL(first.url, 'http://x').pathname).toBe('/v1.0/groups/delta');
    expect(query(first).get('$select')).toBe('displayName,members');
    expect(query(first).get('$filter')).toBe(ids.map((id) => `id eq '${id}'`).join(' or '));
    // The nextLink is followed exactly as Graph wrote it.
    expect(server.requests[1]!.url).toBe(
      '/v1.0/groups/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjvB7XnF_yllFsCrZJ',
    );
    expect(events[0]).toEqual({
      kind: 'page',
      groups: [
        {
          kind: 'group',
          id: 'c2f798fd-f95d-4623-8824-63aec21fffff',
          displayName: 'All Company',
          members: [
            { id: '693acd06-2877-4339-8ade-b704261fe7a0', kind: 'other', removed: false },
            { id: '49320844-be99-4164-8167-87ff5d047ace', kind: 'other', removed: false },
          ],
        },
        // A group without members@delta has no members.
        { kind: 'group', id: 'ec22655c-8eb2-432a-b4ea-8b8a254bffff', displayName: 'sg-HR', members: [] },
      ],
    });
    expect(events[1]).toMatchObject({
      kind: 'page',
      deltaLink: expect.stringContaining(`${server.url}/v1.0/groups/delta?$deltatoken=sZwAFZibx`),
    });
  });

  it('reads a later round: members added plain, removed with @removed', async () => {
    server.handle(() => fromFixture('groups-delta-changes', server.url));
    const { c } = connector();
    const link = `${server.url}/v1.0/groups/delta?$deltatoken=saved`;
    const events = await collectGroups(c.readGroupDelta({ groupIds: ids, deltaLink: link }));
    expect(server.requests.map((r) => r.url)).toEqual(['/v1.0/groups/delta?$deltatoken=saved']);
    expect(events).toEqual([
      {
        kind: 'page',
        deltaLink: expect.stringContaining('$deltatoken='),
        groups: [
          {
            kind: 'group',
            id: '2e5807ce-58f3-4a94-9b37-ffff2e085957',
            displayName: 'TestGroup3',
            members: [
              // (one character short of a GUID in the documentation: kept as documented)
              { id: '632f6bb2-3ec8-4c1f-9073-0027a8c6859', kind: 'other', removed: true },
              { id: '37de1ae3-408f-4702-8636-20824abda004', kind: 'other', removed: false },
            ],
          },
        ],
      },
    ]);
  });

  it('reads a round without changes as an empty page with a new delta link', async () => {
    server.handle(() => fromFixture('groups-delta-no-changes', server.url));
    const { c } = connector();
    const events = await collectGroups(
      c.readGroupDelta({ groupIds: ids, deltaLink: `${server.url}/v1.0/groups/delta?$deltatoken=saved` }),
    );
    expect(events).toEqual([
      { kind: 'page', groups: [], deltaLink: expect.stringContaining('$deltatoken=') },
    ]);
  });

  it('tells devices and nested groups apart, and reads a deleted group', async () => {
    server.handle(() => ({
      status: 200,
      body: {
        '@odata.deltaLink': `${server.url}/v1.0/groups/delta?$deltatoken=next`,
        value: [
          {
            id: 'C2F798FD-F95D-4623-8824-63AEC21FFFFF',
            displayName: 'Pilot',
            'members@delta': [
              { '@odata.type': '#microsoft.graph.device', id: 'D1' },
              { '@odata.type': '#microsoft.graph.group', id: 'g2' },
              { '@odata.type': '#microsoft.graph.device', id: 'd3', '@removed': { reason: 'deleted' } },
            ],
          },
          { id: 'ec22655c-8eb2-432a-b4ea-8b8a254bffff', '@removed': { reason: 'deleted' } },
        ],
      },
    }));
    const { c } = connector();
    const [page] = await collectGroups(c.readGroupDelta({ groupIds: ids }));
    expect(page).toMatchObject({
      groups: [
        {
          kind: 'group',
          id: 'c2f798fd-f95d-4623-8824-63aec21fffff',
          members: [
            { id: 'd1', kind: 'device', removed: false },
            { id: 'g2', kind: 'group', removed: false },
            { id: 'd3', kind: 'device', removed: true },
          ],
        },
        { kind: 'removed', id: 'ec22655c-8eb2-432a-b4ea-8b8a254bffff' },
      ],
    });
  });

  it.each([
    ['410 syncStateNotFound', 'error-sync-state-not-found-410'],
    ['400 resyncRequired', 'error-resync-required-400'],
  ])('reads a first round again on %s', async (_name, fixture) => {
    server.handle((req) =>
      req.url.includes('$deltatoken=expired')
        ? fromFixture(fixture, server.url)
        : fromFixture('groups-delta-no-changes', server.url),
    );
    const { c } = connector();
    const events = await collectGroups(
      c.readGroupDelta({ groupIds: ids, deltaLink: `${server.url}/v1.0/groups/delta?$deltatoken=expired` }),
    );
    expect(events[0]).toMatchObject({ kind: 'reset' });
    expect(events[1]).toMatchObject({ kind: 'page', deltaLink: expect.any(String) });
    expect(query(server.requests[1]!).get('$filter')).toContain(`id eq '${ids[0]}'`);
  });

  it('names GroupMember.Read.All when Graph answers the documented 403', async () => {
    server.handle(() => fromFixture('error-forbidden-403', server.url));
    const { c } = connector();
    const err = await collectGroups(c.readGroupDelta({ groupIds: ids })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DwbError);
    expect(err).toMatchObject({ code: 'DWB_ENTRA_FORBIDDEN' });
    expect((err as DwbError).fix).toMatch(/GroupMember\.Read\.All/);
    const count = await c.groupDeviceCount(ids[0]!).catch((e: unknown) => e);
    expect(count).toMatchObject({ code: 'DWB_ENTRA_FORBIDDEN', fix: expect.stringMatching(/GroupMember/) });
  });

  it('refuses a malformed group item rather than guessing a membership', async () => {
    server.handle(() => ({
      status: 200,
      body: { '@odata.deltaLink': `${server.url}/x`, value: [{ displayName: 'no id', 'members@delta': [] }] },
    }));
    const { c } = connector();
    await expect(collectGroups(c.readGroupDelta({ groupIds: ids }))).rejects.toMatchObject({
      code: 'DWB_ENTRA_BAD_RESPONSE',
    });
  });

  it('finds a group by id, and answers undefined for the documented 404', async () => {
    server.handle((req) =>
      req.url.startsWith(`/v1.0/groups/${ids[0]}`)
        ? fromFixture('group-create', server.url, { status: 200 })
        : fromFixture('error-not-found-404', server.url),
    );
    const { c } = connector();
    const created = loadFixture('group-create').body as { id: string; displayName: string };
    expect(await c.findGroup(ids[0]!)).toEqual({
      id: created.id.toLowerCase(),
      displayName: created.displayName,
    });
    expect(query(server.requests[0]!).get('$select')).toBe('id,displayName');
    expect(await c.findGroup(ids[1]!)).toBeUndefined();
  });

  it('counts the devices of a group with an advanced query, or reads its members when Graph does not count', async () => {
    server.handle((req) =>
      req.url.endsWith('/$count')
        ? { status: 200, headers: { 'content-type': 'text/plain' }, body: '12' }
        : fromFixture('group-members', server.url),
    );
    const { c } = connector();
    expect(await c.groupDeviceCount(ids[0]!)).toBe(12);
    expect(server.requests[0]!.url).toBe(
      `/v1.0/groups/${ids[0]}/transitiveMembers/microsoft.graph.device/$count`,
    );
    expect(server.requests[0]!.headers.consistencylevel).toBe('eventual');
    server.handle((req) =>
      req.url.endsWith('/$count')
        ? { status: 400, body: { error: { code: 'Request_UnsupportedQuery', message: 'no' } } }
        : fromFixture('group-members', server.url),
    );
    expect(await c.groupDeviceCount(ids[0]!)).toBeUndefined();
    expect(server.requests.at(-1)!.url).toBe(`/v1.0/groups/${ids[0]}/members?$top=1&$select=id`);
  });
});
