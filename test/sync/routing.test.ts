// Routing with several forests (SPEC §8): by the registered owner's domain SID; the default forest
// or "unrouted" with the reason otherwise; two forests claiming one domain is a configuration error.
import { describe, expect, it } from 'vitest';
import type { ForestDomain } from '../../src/ad/forest-domains.js';
import type { DeviceRelations } from '../../src/entra/types.js';
import { domainOfSid, Router } from '../../src/sync/routing.js';

const domain = (sid: string, dnsName: string): ForestDomain => ({
  sid,
  dnsName,
  netbiosName: null,
  dn: `DC=${dnsName}`,
});
const forests = [
  {
    name: 'corp',
    domains: [domain('S-1-5-21-1-2-3', 'corp.test'), domain('S-1-5-21-7-8-9', 'emea.corp.test')],
  },
  { name: 'fabrikam', domains: [domain('S-1-5-21-4-5-6', 'fabrikam.test')] },
];
const owned = (...sids: (string | null)[]): DeviceRelations => ({
  registeredOwners: sids.map((s, i) => ({
    id: `u${i}`,
    userPrincipalName: `user${i}@x.test`,
    onPremisesSecurityIdentifier: s,
  })),
  registeredUsers: [],
});

describe('routing', () => {
  it('does not repeat an owner SID that is not a SID (a hostile or broken value from the cloud)', () => {
    const router = new Router(forests, { several: true });
    for (const sid of [
      'S-1-5-21-1-2-3-\u001b[2J',
      `S-1-5-21-${'9'.repeat(20_000)}`,
      'S-1-5-21-1-2-3-1104\u202e',
    ]) {
      const route = router.route(owned(sid));
      expect(route.forest).toBeNull();
      expect(route.reason).toMatch(
        /^unrouted: its registered owner's onPremisesSecurityIdentifier is not a domain account SID/,
      );
      expect(route.reason!.length).toBeLessThan(200);
      expect(route.reason).not.toMatch(/[\u001b\u202e]/);
    }
    // and the default forest takes it like any other device no forest holds
    const withDefault = new Router(forests, { several: true, defaultForest: 'corp' });
    expect(withDefault.route(owned('S-1-5-21-1-2-3-\u001b[2J'))).toEqual({ forest: 'corp', reason: null });
  });

  it('sends each device to the forest of its registered owner, any domain of it', () => {
    const router = new Router(forests, { several: true });
    expect(domainOfSid('S-1-5-21-1-2-3-1104')).toBe('S-1-5-21-1-2-3');
    expect(router.route(owned('S-1-5-21-1-2-3-1104'))).toEqual({ forest: 'corp', reason: null });
    expect(router.route(owned('S-1-5-21-7-8-9-500'))).toEqual({ forest: 'corp', reason: null });
    expect(router.route(owned('s-1-5-21-4-5-6-2001'))).toEqual({ forest: 'fabrikam', reason: null });
    // the first owner with an on-premises account decides
    expect(router.route(owned(null, 'S-1-5-21-4-5-6-2001'))).toEqual({ forest: 'fabrikam', reason: null });
  });

  it('a device nobody owns on premises is unrouted with the reason, or goes to the default forest', () => {
    const router = new Router(forests, { several: true });
    expect(router.route(owned(null)).reason).toBe(
      'unrouted: its registered owner user0@x.test has no on-premises account (a cloud-only user)',
    );
    expect(router.route(owned()).reason).toBe('unrouted: it has no registered owner');
    expect(router.route(null).reason).toMatch(/^unrouted: its registered owners could not be read/);
    expect(router.route(owned('S-1-5-21-99-99-99-1')).reason).toBe(
      "unrouted: its registered owner's domain S-1-5-21-99-99-99 is in none of the forests (corp, fabrikam)",
    );
    const withDefault = new Router(forests, { several: true, defaultForest: 'fabrikam' });
    expect(withDefault.route(owned(null))).toEqual({ forest: 'fabrikam', reason: null });
    expect(withDefault.route(owned('S-1-5-21-99-99-99-1'))).toEqual({ forest: 'fabrikam', reason: null });
  });

  it('does not send to the default forest a device whose owner may be in a forest not reached yet', () => {
    const router = new Router([forests[0]!, { name: 'fabrikam', domains: null }], {
      several: true,
      defaultForest: 'corp',
    });
    expect(router.route(owned('S-1-5-21-4-5-6-2001'))).toEqual({
      forest: null,
      reason:
        "unrouted: its registered owner's domain S-1-5-21-4-5-6 is in none of the forests reached so far (fabrikam not reached yet)",
    });
    expect(router.route(owned('S-1-5-21-1-2-3-1104'))).toEqual({ forest: 'corp', reason: null });
  });

  it('with one forest every device goes there, whoever owns it', () => {
    const router = new Router([{ name: 'default', domains: [] }], { several: false });
    expect(router.route(owned(null))).toEqual({ forest: 'default', reason: null });
    expect(router.route(null)).toEqual({ forest: 'default', reason: null });
  });

  it('two forests claiming the same domain SID is a configuration error', () => {
    expect(
      () =>
        new Router([forests[0]!, { name: 'copy', domains: [domain('S-1-5-21-1-2-3', 'corp.test')] }], {
          several: true,
        }),
    ).toThrow(expect.objectContaining({ code: 'DWB_FOREST_OVERLAP' }));
  });
});
