// Seeded directories: deterministic (same seed, same devices, on every machine; a smaller count is
// a prefix of a larger one), realistic (platforms, trust types, keys and physical ids in Entra's
// formats), owners by domain SID or by real SIDs; devices from certificates; seed files.
import { describe, expect, it } from 'vitest';
import { readDeviceCertificate } from '../../src/claims/certificate.js';
import {
  alternativeSecurityIdForCertificate,
  applySeedFile,
  certificateKeyParts,
  createDeviceCertificate,
  createDeviceFromCertificate,
  decodeAlternativeSecurityIdKey,
  DirectoryStore,
  seededDevice,
  seededUser,
} from '../../src/emulator/index.js';

const KEY_TEXT = /^X509:<SHA1-TP-PUBKEY>[0-9A-F]{40}[A-Za-z0-9+/]{43}=$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function seededStore(count: number, options: Parameters<DirectoryStore['seed']>[1] = {}): DirectoryStore {
  const store = new DirectoryStore();
  store.seed(count, options);
  return store;
}

describe('seeded devices', () => {
  it('are the same for the same seed, and a smaller count is a prefix of a larger one', () => {
    const a = seededStore(50).listDevices();
    const b = seededStore(50).listDevices();
    expect(b).toEqual(a);
    expect(seededStore(20).listDevices()).toEqual(a.slice(0, 20));
    expect(seededStore(5, { seed: 'other' }).listDevices()[0]?.id).not.toBe(a[0]?.id);
    // Golden values: the generator must not drift between versions or machines.
    expect(seededDevice(0).device).toMatchObject({
      id: 'fc0875c0-5a12-4680-8a13-0c58f675782e',
      deviceId: 'b31af24d-62f5-4b76-943e-3352dc20cc45',
      displayName: 'LAPTOP-SNUAMEG',
      operatingSystem: 'Windows',
      trustType: 'AzureAd',
    });
    expect(seededUser(0).userPrincipalName).toBe('lee.hansen0@contoso.example');
    expect(seededDevice(0).device).toEqual(seededStore(1).listDevices()[0]);
  });

  it('look like Entra devices', () => {
    const devices = seededStore(400).listDevices();
    const platforms = new Set(devices.map((d) => d.operatingSystem));
    expect([...platforms].sort()).toEqual(['Android', 'MacOS', 'Windows', 'iOS']);
    expect(new Set(devices.map((d) => d.trustType))).toEqual(new Set(['Workplace', 'AzureAd', 'ServerAd']));
    for (const device of devices) {
      expect(device.id).toMatch(GUID);
      expect(device.deviceId).toMatch(GUID);
      expect(device.alternativeSecurityIds).toHaveLength(1);
      expect(device.alternativeSecurityIds[0]?.type).toBe(2);
      expect(decodeAlternativeSecurityIdKey(device.alternativeSecurityIds[0]?.key ?? '')).toMatch(KEY_TEXT);
      expect(device.physicalIds.some((p) => /^\[GID\]:g:\d{16}$/.test(p))).toBe(true);
      expect(device.approximateLastSignInDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(device.deviceVersion).toBe(2);
      if (device.operatingSystem === 'Windows') {
        expect(device.operatingSystemVersion).toMatch(/^10\.0\.\d{5}\.\d+$/);
        expect(device.physicalIds.some((p) => /^\[HWID\]:h:\d{16}$/.test(p))).toBe(true);
      }
    }
    const windowsOwned = devices.find((d) => d.operatingSystem === 'Windows' && d.trustType !== 'ServerAd');
    expect(windowsOwned?.physicalIds.some((p) => /^\[USER-GID\]:[0-9a-f-]{36}:\d{16}$/.test(p))).toBe(true);
  });

  it('give owners SIDs in the given domain; hybrid-joined (ServerAd) devices have no owner', () => {
    const domainSid = 'S-1-5-21-1111111111-2222222222-3333333333';
    const store = seededStore(60, { domainSid });
    for (const device of store.listDevices()) {
      const owners = store.relation(device.id, 'registeredOwners');
      if (device.trustType === 'ServerAd') {
        expect(owners).toEqual([]);
        continue;
      }
      expect(owners).toHaveLength(1);
      expect(owners[0]?.onPremisesSecurityIdentifier).toMatch(new RegExp(`^${domainSid}-\\d+$`));
      expect(store.relation(device.id, 'registeredUsers')).toEqual(owners);
    }
  });

  it('can be owned by a list of real SIDs, in turn', () => {
    const ownerSids = ['S-1-5-21-1-2-3-1105', 'S-1-5-21-1-2-3-1106'];
    const store = seededStore(12, { ownerSids });
    expect(store.listUsers().map((u) => u.onPremisesSecurityIdentifier)).toEqual(ownerSids);
    const ownerSidsSeen = new Set(
      store
        .listDevices()
        .flatMap((d) => store.relation(d.id, 'registeredOwners'))
        .map((u) => u.onPremisesSecurityIdentifier),
    );
    expect(ownerSidsSeen).toEqual(new Set(ownerSids));
  });

  it('seeding again with a larger count adds only the missing devices', () => {
    const store = seededStore(10);
    expect(store.seed(10)).toEqual({ devicesAdded: 0, usersAdded: 0 });
    const added = store.seed(15);
    expect(added.devicesAdded).toBe(5);
    expect(store.listDevices()).toEqual(seededStore(15).listDevices());
  });
});

describe('devices from certificates', () => {
  it('derive the type-2 key from the certificate thumbprint and public key', () => {
    const deviceId = '6f1c3b1e-2a4d-4c5e-8f90-123456789abc';
    const certificate = createDeviceCertificate(deviceId);
    const parts = certificateKeyParts(certificate.certPem);
    const altId = alternativeSecurityIdForCertificate(certificate.certPem);
    expect(decodeAlternativeSecurityIdKey(altId.key)).toBe(
      `X509:<SHA1-TP-PUBKEY>${parts.sha1Thumbprint}${parts.publicKeySha256Base64}`,
    );
    expect(decodeAlternativeSecurityIdKey(altId.key)).toMatch(KEY_TEXT);
    // The same value the claims command computes for AD FS's lookup.
    expect(decodeAlternativeSecurityIdKey(altId.key)).toBe(
      readDeviceCertificate(certificate.certPem).altSecurityIdentity,
    );

    const store = new DirectoryStore();
    const user = store.createUser({
      userPrincipalName: 'alice@contoso.example',
      onPremisesSecurityIdentifier: 'S-1-5-21-1-2-3-1105',
    });
    const device = createDeviceFromCertificate(store, certificate.certPem, {
      registeredOwners: [user.userPrincipalName],
    });
    expect(device.deviceId).toBe(deviceId);
    expect(device.alternativeSecurityIds).toEqual([altId]);
    expect(store.relation(device.id, 'registeredOwners').map((u) => u.id)).toEqual([user.id]);
  });
});

describe('seed files', () => {
  it('add users and devices once, resolving owners by UPN', () => {
    const certificate = createDeviceCertificate('0a0b0c0d-1111-4222-8333-444455556666');
    const content = {
      users: [
        {
          userPrincipalName: 'bob@contoso.example',
          displayName: 'Bob',
          onPremisesSecurityIdentifier: 'S-1-5-21-1-2-3-1200',
        },
      ],
      devices: [
        {
          certificatePem: certificate.certPem,
          displayName: 'BOB-LAPTOP',
          registeredOwners: ['bob@contoso.example'],
        },
        { deviceId: 'not-a-guid', displayName: 'Broken on purpose', alternativeSecurityIds: [] },
      ],
    };
    const store = new DirectoryStore();
    expect(applySeedFile(store, content)).toEqual({ users: 1, devices: 2 });
    expect(applySeedFile(store, content)).toEqual({ users: 0, devices: 0 });
    const laptop = store.listDevices().find((d) => d.displayName === 'BOB-LAPTOP');
    expect(laptop?.deviceId).toBe('0a0b0c0d-1111-4222-8333-444455556666');
    expect(store.relation(laptop?.id ?? '', 'registeredOwners')[0]?.onPremisesSecurityIdentifier).toBe(
      'S-1-5-21-1-2-3-1200',
    );
    expect(() => applySeedFile(store, { gadgets: [] })).toThrow(/seed file/);
  });
});
