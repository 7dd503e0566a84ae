// The entra.connect and entra.owners checks against the Graph emulator: pass, the failures with
// their cause and fix, the skip when Graph is unreachable, and the warnings about owners.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/checks/index.js';
import { entraConnect } from '../../src/checks/entra-connect.js';
import { entraOwners } from '../../src/checks/entra-owners.js';
import { entraScopeGroups } from '../../src/checks/entra-scope-groups.js';
import type { CheckContext } from '../../src/checks/types.js';
import type { Config, EntraConfig } from '../../src/config/load.js';
import type { EntraConnector } from '../../src/entra/connector.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { testEntraConfig } from './support/fixture-server.js';

const emulators: RunningEmulator[] = [];

async function emulator(options: Parameters<typeof startEmulator>[0] = {}): Promise<RunningEmulator> {
  const e = await startEmulator(options);
  emulators.push(e);
  return e;
}

function entraOf(e: RunningEmulator, extra: Parameters<typeof testEntraConfig>[0] = {}): EntraConfig {
  return testEntraConfig({
    tenantId: e.tenantId,
    clientId: e.clientId,
    secretValue: e.clientSecret,
    graphUrl: e.url,
    authorityHost: e.url,
    caFile: e.caFile,
    ...extra,
  });
}

const contexts: CheckContext[] = [];
function context(entra: EntraConfig | undefined): CheckContext {
  // The Entra checks read only config.entra.
  const ctx = { config: { entra } as unknown as Config, cache: new Map() } as unknown as CheckContext;
  contexts.push(ctx);
  return ctx;
}

async function both(ctx: CheckContext) {
  return [await runCheck(entraConnect, ctx), await runCheck(entraOwners, ctx)] as const;
}

let seeded: RunningEmulator;
beforeAll(async () => {
  seeded = await emulator({ devices: 20, seed: 'entra-checks' });
});
afterAll(async () => {
  for (const ctx of contexts) (ctx.cache.get('entra.connector') as EntraConnector | undefined)?.close();
  for (const e of emulators) await e.close();
});

describe('entra.connect and entra.owners', () => {
  it('are skipped without an entra section', async () => {
    const [connect, owners] = await both(context(undefined));
    expect(connect).toMatchObject({ id: 'entra.connect', status: 'skip' });
    expect(owners).toMatchObject({ id: 'entra.owners', status: 'skip' });
  });

  it('pass against the emulator, signing in once', async () => {
    const before = seeded.identity.tokensIssued;
    const [connect, owners] = await both(context(entraOf(seeded)));
    expect(connect).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/GET https:\/\/127\.0\.0\.1:\d+\/v1\.0\/devices\?\$top=1 answered/),
    });
    expect(connect.detail).toContain(seeded.tenantId);
    expect(['pass', 'warn']).toContain(owners.status);
    expect(owners.detail).toMatch(/registered owner/);
    expect(seeded.identity.tokensIssued).toBe(before + 1);
  });

  it('fail with the cause and the fix on a wrong secret, and entra.owners is skipped', async () => {
    const [connect, owners] = await both(
      context(entraOf(seeded, { secretValue: 'Wr0Q~not-the-secret-of-this-emulator-000' })),
    );
    expect(connect.status).toBe('fail');
    expect(connect.detail).toMatch(/invalid_client/);
    expect(connect.detail).not.toContain('Wr0Q~not-the-secret-of-this-emulator-000');
    expect(connect.fix).toMatch(/app registration/);
    expect(owners).toMatchObject({ status: 'skip', detail: expect.stringMatching(/see entra\.connect/) });
  });

  it('fail with the unreachable host', async () => {
    const gone = await startEmulator();
    // Its CA file goes with it; any readable one will do, the connection is refused before TLS.
    const entra = entraOf(gone, { caFile: seeded.caFile });
    await gone.close();
    const [connect, owners] = await both(context(entra));
    expect(connect.status).toBe('fail');
    expect(connect.detail).toContain(new URL(entra.authorityHost).host);
    expect(connect.detail).toMatch(/ECONNREFUSED/);
    expect(owners.status).toBe('skip');
  });

  it('entra.owners fails naming User.Read.All when the app may read devices only', async () => {
    const restricted = await emulator({ devices: 3, roles: ['Device.Read.All'] });
    const [connect, owners] = await both(context(entraOf(restricted)));
    expect(connect.status).toBe('pass');
    expect(owners.status).toBe('fail');
    expect(owners.detail).toMatch(/Authorization_RequestDenied/);
    expect(owners.fix).toMatch(/User\.Read\.All/);
  });

  it('entra.owners warns about cloud-only owners, and passes when every owner has a SID', async () => {
    const e = await emulator();
    const synced = e.store.createUser({
      userPrincipalName: 'adele@corp.example.test',
      onPremisesSecurityIdentifier: 'S-1-5-21-1004336348-1177238915-682003330-1105',
    });
    e.store.createDevice(
      { deviceId: '0a1b2c3d-4e5f-4061-8273-9a8b7c6d5e4f', displayName: 'ADELE-PC' },
      { registeredOwners: [synced.id], registeredUsers: [synced.id] },
    );
    let [, owners] = await both(context(entraOf(e)));
    expect(owners).toMatchObject({
      status: 'pass',
      detail: expect.stringContaining(
        'adele@corp.example.test: S-1-5-21-1004336348-1177238915-682003330-1105',
      ),
    });

    const cloud = e.store.createUser({ userPrincipalName: 'megan@contoso.onmicrosoft.com' });
    e.store.createDevice(
      { deviceId: '1b2c3d4e-5f60-4172-8384-ab9c8d7e6f50', displayName: 'MEGAN-PHONE' },
      { registeredOwners: [cloud.id] },
    );
    [, owners] = await both(context(entraOf(e)));
    expect(owners.status).toBe('warn');
    expect(owners.detail).toMatch(
      /1 of 2 registered owners .* have no onPremisesSecurityIdentifier .*megan@contoso\.onmicrosoft\.com/,
    );
    expect(owners.fix).toMatch(/Synchronize these users/);
  });

  it('entra.owners is skipped in an empty tenant', async () => {
    const empty = await emulator();
    const [connect, owners] = await both(context(entraOf(empty)));
    expect(connect).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/no device in the tenant yet/),
    });
    expect(owners.status).toBe('skip');
  });
});

describe('entra.scope-groups', () => {
  function scoped(entra: EntraConfig | undefined, groups: string[] | undefined): CheckContext {
    const ctx = context(entra);
    (ctx.config as { writeback: unknown }).writeback = {
      scope: { managedOnly: false, compliantOnly: false, requireOnPremisesOwner: false, groups },
    };
    return ctx;
  }
  const groupId = (e: RunningEmulator, name: string): string =>
    e.store.listGroups().find((g) => g.displayName === name)!.id;

  it('is skipped when no scope group is set, or without an entra section', async () => {
    expect(await runCheck(entraScopeGroups, scoped(entraOf(seeded), undefined))).toMatchObject({
      id: 'entra.scope-groups',
      status: 'skip',
      detail: expect.stringMatching(/writeback\.scope\.groups is not set/),
    });
    expect(
      await runCheck(entraScopeGroups, scoped(undefined, ['0e7c1f60-1111-2222-3333-444455556666'])),
    ).toMatchObject({ status: 'skip' });
  });

  it('passes naming each group with its devices, nested groups included', async () => {
    const ids = [groupId(seeded, 'Pilot devices'), groupId(seeded, 'Device writeback scope')];
    const result = await runCheck(entraScopeGroups, scoped(entraOf(seeded), ids));
    const pilot = seeded.store.transitiveMembers(ids[0]!).filter((m) => m.kind === 'device').length;
    const scope = seeded.store.transitiveMembers(ids[1]!).filter((m) => m.kind === 'device').length;
    expect(result).toMatchObject({ status: 'pass' });
    expect(result.detail).toContain(`"Pilot devices" (${pilot} devices, nested groups included)`);
    expect(result.detail).toContain(`"Device writeback scope" (${scope} devices, nested groups included)`);
    expect(scope).toBeGreaterThan(pilot);
  });

  it('fails naming the key of a group Entra ID does not have', async () => {
    const pilot = groupId(seeded, 'Pilot devices');
    const result = await runCheck(
      entraScopeGroups,
      scoped(entraOf(seeded), [pilot, '0e7c1f60-1111-2222-3333-444455556666']),
    );
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(
      /no group with this object id in Entra ID: writeback\.scope\.groups\[1\] 0e7c1f60-1111-2222-3333-444455556666; found: "Pilot devices"/,
    );
    expect(result.fix).toMatch(/Object ID/);
  });

  it('fails naming GroupMember.Read.All when the app may not read groups', async () => {
    const restricted = await emulator({ devices: 3, roles: ['Device.Read.All', 'User.Read.All'] });
    const result = await runCheck(
      entraScopeGroups,
      scoped(entraOf(restricted), [groupId(restricted, 'Pilot devices')]),
    );
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/Authorization_RequestDenied/);
    expect(result.fix).toMatch(/GroupMember\.Read\.All/);
  });
});
