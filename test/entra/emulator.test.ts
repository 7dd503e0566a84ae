// The connector against the Graph emulator (src/emulator) over HTTPS with the emulator's CA: real
// tokens from its identity platform, paged delta reads, changes, deletions, expired delta tokens,
// throttling, refused credentials and permissions, malformed devices, and owners through $batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntraConnector, type EntraConnectorOptions } from '../../src/entra/connector.js';
import type { DeltaReadEvent, DeviceChange, DeltaPage } from '../../src/entra/types.js';
import { DwbError } from '../../src/errors.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { captureLogs, recordSleeps, testEntraConfig } from './support/fixture-server.js';

const SEEDED = 450;

let emulator: RunningEmulator;
const logs = captureLogs();

beforeAll(async () => {
  emulator = await startEmulator({ devices: SEEDED, seed: 'entra-connector-tests' });
});
afterAll(async () => {
  await emulator?.close();
  // Nothing the connector logged, at debug level, in this whole file ever carried the secret.
  expect(logs.lines.length).toBeGreaterThan(0);
  expect(logs.text()).not.toContain(emulator.clientSecret);
});

function config(extra: Parameters<typeof testEntraConfig>[0] = {}) {
  return testEntraConfig({
    tenantId: emulator.tenantId,
    clientId: emulator.clientId,
    secretValue: emulator.clientSecret,
    graphUrl: emulator.url,
    authorityHost: emulator.url,
    caFile: emulator.caFile,
    pageSize: 100,
    ...extra,
  });
}

function connector(options: EntraConnectorOptions = {}, extra: Parameters<typeof testEntraConfig>[0] = {}) {
  return new EntraConnector(config(extra), { logger: logs.logger, ...options });
}

async function read(
  c: EntraConnector,
  link?: string,
): Promise<{ events: DeltaReadEvent[]; changes: DeviceChange[]; deltaLink: string }> {
  const events: DeltaReadEvent[] = [];
  for await (const e of c.readDelta(link)) events.push(e);
  const pages = events.filter((e): e is DeltaPage => e.kind !== 'reset');
  const deltaLink = pages.at(-1)?.deltaLink;
  if (!deltaLink) throw new Error('no delta link');
  return { events, changes: pages.flatMap((p) => p.changes), deltaLink };
}

const upserts = (changes: DeviceChange[]) => changes.flatMap((c) => (c.kind === 'upsert' ? [c.device] : []));

describe('against the emulator', () => {
  let deltaLink: string;
  const c = () => shared;
  let shared: EntraConnector;

  beforeAll(() => {
    shared = connector();
  });
  afterAll(() => shared.close());

  it('gets a token with ClientSecretCredential from the emulator and reads every device in pages', async () => {
    const result = await read(c());
    const pages = result.events.length;
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(SEEDED / 100));
    const devices = upserts(result.changes);
    expect(devices).toHaveLength(SEEDED);
    expect(new Set(devices.map((d) => d.id)).size).toBe(SEEDED);
    for (const d of devices) {
      expect(d.deviceId).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof d.displayName).toBe('string');
      expect(Array.isArray(d.alternativeSecurityIds)).toBe(true);
    }
    // Only the selected properties came back (the emulator honours $select as Graph does).
    expect(Object.keys(devices[0]!)).not.toContain('createdDateTime');
    expect(emulator.identity.tokensIssued).toBeGreaterThanOrEqual(1);
    deltaLink = result.deltaLink;
  });

  it('reads created, updated (only the changed property), hard- and soft-deleted devices from the delta link', async () => {
    const [a, b, d] = emulator.store
      .listDevices()
      .slice(0, 3)
      .map((x) => ({ id: x.id }));
    if (!a || !b || !d) throw new Error('the emulator has fewer than 3 devices');
    const created = emulator.store.createDevice({
      deviceId: '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
      displayName: 'NEW-LAPTOP',
      operatingSystem: 'Windows',
      trustType: 'AzureAd',
      accountEnabled: true,
      alternativeSecurityIds: [
        {
          type: 2,
          identityProvider: null,
          key: Buffer.from('X509:<SHA1-TP-PUBKEY>AB', 'utf16le').toString('base64'),
        },
      ],
    });
    emulator.store.updateDevice(a.id, { displayName: 'RENAMED' });
    emulator.store.deleteDevice(b.id);
    emulator.store.softDeleteDevice(d.id);

    const result = await read(c(), deltaLink);
    const byId = new Map(
      result.changes.map((ch) => [
        ch.kind === 'invalid' ? ch.id : ch.kind === 'upsert' ? ch.device.id : ch.id,
        ch,
      ]),
    );
    expect(byId.get(created.id)).toMatchObject({
      kind: 'upsert',
      device: {
        deviceId: '5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
        displayName: 'NEW-LAPTOP',
        accountEnabled: true,
      },
    });
    // Partial: the rename carries the name and nothing else, so nothing gets blanked.
    expect(byId.get(a.id)).toEqual({ kind: 'upsert', device: { id: a.id, displayName: 'RENAMED' } });
    expect(byId.get(b.id)).toEqual({ kind: 'removed', id: b.id, reason: 'deleted' });
    expect(byId.get(d.id)).toEqual({ kind: 'removed', id: d.id, reason: 'changed' });
    expect(result.changes).toHaveLength(4);

    // A restored device comes back whole.
    emulator.store.restoreDevice(d.id);
    const again = await read(c(), result.deltaLink);
    expect(again.changes).toHaveLength(1);
    expect(again.changes[0]).toMatchObject({
      kind: 'upsert',
      device: { id: d.id, deviceId: expect.any(String), displayName: expect.any(String) },
    });
    deltaLink = again.deltaLink;
  });

  it('falls back to a full read when the delta token has expired, and says so', async () => {
    emulator.store.expireDeltaTokens();
    const resets: string[] = [];
    const withObserver = connector({ observer: { onReset: (r) => resets.push(r) } });
    const result = await read(withObserver, deltaLink);
    expect(result.events[0]).toMatchObject({
      kind: 'reset',
      reason: expect.stringMatching(/410 (resyncRequired|syncStateNotFound)/),
    });
    expect(resets).toHaveLength(1);
    expect(upserts(result.changes)).toHaveLength(emulator.store.counts().active);
    expect(logs.text()).toMatch(/delta token refused; starting a full read/);
    deltaLink = result.deltaLink;
    withObserver.close();
  });

  it('waits out two 429 answers (fractional Retry-After) and then succeeds', async () => {
    const sleeps = recordSleeps();
    const throttles: number[] = [];
    const patient = connector({
      sleep: sleeps.sleep,
      observer: { onThrottle: (_route, status) => throttles.push(status) },
    });
    emulator.faults.add({ status: 429, retryAfter: 0.25, count: 2, path: '/v1.0/devices/delta' });
    const result = await read(patient, deltaLink);
    expect(sleeps.waits).toEqual([250, 250]);
    expect(throttles).toEqual([429, 429]);
    expect(result.deltaLink).toContain('/v1.0/devices/delta');
    patient.close();
  });

  it('retries items throttled inside a $batch and reads owners with their on-premises SIDs', async () => {
    const sleeps = recordSleeps();
    const owners = connector({ sleep: sleeps.sleep });
    const ids = emulator.store
      .listDevices()
      .slice(0, 30)
      .map((d) => d.id);
    emulator.faults.add({ status: 429, retryAfter: 0.5, count: 3, path: '/v1.0/devices/' });
    const relations = await owners.fetchRelations(ids);
    expect(sleeps.waits).toEqual([500]);
    expect(relations.size).toBe(30);
    const withOwner = [...relations.values()].filter((r) => r.registeredOwners.length > 0);
    expect(withOwner.length).toBeGreaterThan(0);
    for (const r of withOwner) {
      for (const o of r.registeredOwners)
        expect(o.onPremisesSecurityIdentifier ?? 'cloud-only').toMatch(
          /^(S-1-5-21-\d+-\d+-\d+-\d+|cloud-only)$/,
        );
    }
    expect(
      withOwner.some((r) =>
        r.registeredOwners.some((o) => o.onPremisesSecurityIdentifier?.startsWith('S-1-5-21-')),
      ),
    ).toBe(true);
    owners.close();
  });

  it('renews a token the emulator no longer accepts (401) and goes on', async () => {
    const before = emulator.identity.tokensIssued;
    await c().probe();
    emulator.identity.expireAccessTokens();
    const result = await c().probe();
    expect(result.devices).toHaveLength(1);
    expect(emulator.identity.tokensIssued).toBe(before + 1);
  });

  it('quarantines a malformed device and passes the rest on', async () => {
    const good = emulator.store.createDevice({
      deviceId: '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      displayName: 'GOOD',
    });
    const bad = emulator.store.createDevice({
      deviceId: '7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e',
      displayName: 'BAD-KEY',
      alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'not base64!' }],
    });
    const result = await read(c(), deltaLink);
    expect(result.changes).toContainEqual({
      kind: 'invalid',
      id: bad.id,
      deviceId: '7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e',
      reason: expect.stringMatching(/alternativeSecurityIds\[0\]\.key/),
    });
    expect(result.changes).toContainEqual(
      expect.objectContaining({
        kind: 'upsert',
        device: expect.objectContaining({ id: good.id, displayName: 'GOOD' }),
      }),
    );
    deltaLink = result.deltaLink;
  });
});

describe('refusals from the emulator', () => {
  it('a wrong client secret is DWB_ENTRA_AUTH_FAILED with the identity platform text, without the secret', async () => {
    const wrong = 'Wr0Q~definitely-not-the-emulator-secret-000';
    const c = connector({}, { secretValue: wrong });
    const err = (await c.probe().catch((e: unknown) => e)) as DwbError;
    expect(err).toBeInstanceOf(DwbError);
    expect(err.code).toBe('DWB_ENTRA_AUTH_FAILED');
    expect(err.message).toMatch(/invalid_client/);
    expect(err.message).toMatch(/AADSTS\d+/);
    expect(err.describe()).not.toContain(wrong);
    expect(err.describe()).not.toContain(emulator.clientSecret);
    expect(logs.text()).not.toContain(wrong);
    c.close();
  });

  it('an app without the Graph permissions is DWB_ENTRA_FORBIDDEN naming them', async () => {
    const restricted = await startEmulator({ devices: 3, roles: ['Device.Read.All'] });
    try {
      const c = new EntraConnector(
        testEntraConfig({
          tenantId: restricted.tenantId,
          clientId: restricted.clientId,
          secretValue: restricted.clientSecret,
          graphUrl: restricted.url,
          authorityHost: restricted.url,
          caFile: restricted.caFile,
        }),
        { logger: logs.logger },
      );
      // Devices can be read with Device.Read.All...
      const { devices } = await c.probe(3);
      expect(devices).toHaveLength(3);
      // ...their owners need User.Read.All too.
      const err = (await c.fetchRelations(devices.map((d) => d.id)).catch((e: unknown) => e)) as DwbError;
      expect(err.code).toBe('DWB_ENTRA_FORBIDDEN');
      expect(err.message).toMatch(/Authorization_RequestDenied/);
      expect(err.fix).toMatch(/Device\.Read\.All and User\.Read\.All/);
      c.close();
    } finally {
      await restricted.close();
    }
  });

  it('without entra.caFile the emulator certificate is refused with the fix', async () => {
    const c = connector({}, { caFile: undefined });
    await expect(c.probe()).rejects.toMatchObject({
      code: 'DWB_ENTRA_UNREACHABLE',
      fix: expect.stringMatching(/entra\.caFile/),
    });
    c.close();
  });
});

describe('scope groups through the connector and the emulator', () => {
  it('reads a nested scope group across pages, then only its changes, and follows an expired token', async () => {
    const { ScopeGroups } = await import('../../src/sync/scope-groups.js');
    const { SqliteStateStore } = await import('../../src/state/sqlite/sqlite-store.js');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    // Small pages: a group of 300 devices spans several groups/delta pages.
    const e = await startEmulator({ devices: 300, seed: 'entra-groups', groupDeltaMembersPerPage: 70 });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-entra-groups-'));
    const store = SqliteStateStore.open(path.join(dir, 'state.db'), { writer: true });
    const c = new EntraConnector(
      testEntraConfig({
        tenantId: e.tenantId,
        clientId: e.clientId,
        secretValue: e.clientSecret,
        graphUrl: e.url,
        authorityHost: e.url,
        caFile: e.caFile,
      }),
      { logger: logs.logger },
    );
    try {
      const all = e.store.createGroup({ displayName: 'All scoped' }, e.store.deviceIdsAt(0, 250));
      const scope = e.store.listGroups().find((g) => g.displayName === 'Device writeback scope')!;
      e.store.addMember(all.id, scope.id); // nested, itself holding the nested "Pilot devices"
      const tracker = new ScopeGroups([all.id], store, c);
      const first = await tracker.read();
      const devices = (id: string) =>
        e.store
          .transitiveMembers(id)
          .filter((m) => m.kind === 'device')
          .map((m) => m.id);
      const want = new Set(devices(all.id));
      expect(want.size).toBeGreaterThan(250);
      expect(first.changedDevices.size).toBe(want.size);
      for (const id of want) expect(first.membership.has(id)).toBe(true);
      await first.commit();

      const outsider = e.store.deviceIdsAt(291, 292)[0]!; // (not a tenth device: not a pilot device yet)
      const pilot = e.store.listGroups().find((g) => g.displayName === 'Pilot devices')!;
      e.store.addMember(pilot.id, outsider); // two levels down
      e.store.removeMember(all.id, e.store.deviceIdsAt(3, 4)[0]!);
      const later = await tracker.read();
      const removed = e.store.deviceIdsAt(3, 4)[0]!; // a direct member only
      expect([...later.changedDevices].sort()).toEqual([outsider, removed].sort());
      expect(later.membership.has(outsider)).toBe(true);
      expect(later.membership.has(removed)).toBe(false);
      expect(later.edgesChanged).toBe(2);
      await later.commit();

      e.store.expireDeltaTokens();
      const again = await tracker.read();
      expect(again.changedDevices.size).toBe(0);
      for (const id of devices(all.id)) expect(again.membership.has(id)).toBe(true);
      again.discard();
    } finally {
      c.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      await e.close();
    }
  });
});
