// The emulator's cloud DRS: an MS-Organization-Access issuer CA shaped like real tenants' (the
// multi-valued RDN, CA:TRUE, keyCertSign), device certificates it issues (CN=<deviceId>, chained to
// it), and type-2 keys that are exactly what `claims --cert` computes from those certificates; all
// of it deterministic for a seed, for seeded and registered devices alike.
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readDeviceCertificate } from '../../src/claims/certificate.js';
import {
  CloudDrs,
  DirectoryStore,
  DRS_ISSUER_OU,
  seededDevice,
  seededDevices,
  seedDrs,
} from '../../src/emulator/index.js';
import { decodeDeviceKey } from '../../src/entra/device-key.js';
import * as der from '../../src/tls/der.js';

const ISSUER = `DC=net + DC=windows + CN=MS-Organization-Access + OU=${DRS_ISSUER_OU}`;

/** The extensions of a certificate by OID: [critical, value]. */
function extensions(cert: X509Certificate): Map<string, { critical: boolean; value: Buffer }> {
  const raw = cert.raw;
  const [tbs] = der.children(raw, der.readTlv(raw));
  const fields = der.children(raw, tbs!);
  const wrapper = fields.find((f) => f.tag === 0xa3)!;
  const list = der.children(raw, der.readTlv(raw, wrapper.valueStart));
  const out = new Map<string, { critical: boolean; value: Buffer }>();
  for (const ext of list) {
    const parts = der.children(raw, ext);
    const oidTlv = parts[0]!;
    const oid = decodeOid(raw.subarray(oidTlv.valueStart, oidTlv.end));
    const critical = parts.length === 3 && raw[parts[1]!.valueStart] === 0xff;
    const valueTlv = parts[parts.length - 1]!;
    out.set(oid, { critical, value: raw.subarray(valueTlv.valueStart, valueTlv.end) });
  }
  return out;
}

function decodeOid(bytes: Buffer): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift()!;
  return [
    Math.min(2, Math.floor(first / 40)),
    first - 40 * Math.min(2, Math.floor(first / 40)),
    ...arcs,
  ].join('.');
}

describe('the issuer CA', () => {
  it('is named and constrained like a tenant MS-Organization-Access issuer', () => {
    const ca = new X509Certificate(CloudDrs.forSeed('drs-test').issuerCertificatePem);
    expect(ca.subject.replace(/\n/g, ', ')).toBe(ISSUER);
    expect(ca.issuer.replace(/\n/g, ', ')).toBe(ISSUER);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    const ext = extensions(ca);
    // basicConstraints CA:TRUE, critical
    expect(ext.get('2.5.29.19')).toEqual({ critical: true, value: Buffer.from('30030101ff', 'hex') });
    // keyUsage: digitalSignature, keyCertSign, cRLSign (bits 0, 5, 6), critical
    expect(ext.get('2.5.29.15')).toEqual({ critical: true, value: Buffer.from('03020186', 'hex') });
    expect(ext.has('2.5.29.14')).toBe(true);
    expect(Date.parse(ca.validTo)).toBeGreaterThan(Date.parse('2040-01-01T00:00:00Z'));
  });

  it('is the same for the same seed, another for another seed, and kept by its secret', () => {
    const a = CloudDrs.forSeed('drs-test');
    expect(CloudDrs.forSeed('drs-test').issuerCertificatePem).toBe(a.issuerCertificatePem);
    expect(CloudDrs.fromSecret(a.secret).issuerCertificatePem).toBe(a.issuerCertificatePem);
    expect(CloudDrs.fromSecret(a.secret).issuerKeyPem).toBe(a.issuerKeyPem);
    expect(CloudDrs.forSeed('another seed').issuerCertificatePem).not.toBe(a.issuerCertificatePem);
    expect(a.issuerThumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(() => CloudDrs.fromSecret('c2hvcnQ=')).toThrow(/32 bytes/);
  });
});

describe('device certificates', () => {
  const drs = CloudDrs.forSeed('drs-test');
  const deviceId = '0b6a2d1e-8f3c-4e5a-9b7d-2c4e6f8a0b1c';
  const registered = new Date('2024-11-05T09:08:07.654Z');

  it('name the device, chain to the issuer and carry the device id extension', () => {
    const certificate = drs.deviceCertificate(deviceId, registered);
    const cert = new X509Certificate(certificate.certificatePem);
    const ca = new X509Certificate(drs.issuerCertificatePem);
    expect(cert.subject).toBe(`CN=${deviceId}`);
    expect(cert.issuer.replace(/\n/g, ', ')).toBe(ISSUER);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(new Date(cert.validFrom).toISOString()).toBe('2024-11-05T09:08:07.000Z');
    expect(new Date(cert.validTo).toISOString()).toBe('2034-11-05T09:08:07.000Z');
    expect(certificate.notBefore).toBe('2024-11-05T09:08:07.000Z');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const ext = extensions(cert);
    // The DRS device id extension holds the GUID in its binary (little-endian groups) form.
    expect(ext.get('1.2.840.113556.1.5.284.2')?.value.toString('hex')).toBe(
      '1e2d6a0b3c8f5a4e9b7d2c4e6f8a0b1c',
    );
    expect(ext.get('2.5.29.15')?.critical).toBe(true);
    expect(ext.get('2.5.29.35')?.value.subarray(4)).toEqual(
      extensions(ca).get('2.5.29.14')?.value.subarray(2),
    );
  });

  it("come with their private key, which matches the certificate's public key", () => {
    const certificate = drs.deviceCertificate(deviceId, registered);
    const key = createPrivateKey(certificate.privateKeyPem);
    expect(key.asymmetricKeyType).toBe('ec');
    const signature = sign('sha256', Buffer.from('nonce'), key);
    expect(
      verify(
        'sha256',
        Buffer.from('nonce'),
        new X509Certificate(certificate.certificatePem).publicKey,
        signature,
      ),
    ).toBe(true);
    expect(createPublicKey(key).export({ format: 'jwk' })).toMatchObject({ crv: 'P-256' });
  });

  it('give the key that claims --cert computes from the certificate', () => {
    const certificate = drs.deviceCertificate(deviceId, registered);
    const seen = readDeviceCertificate(certificate.certificatePem);
    expect(decodeDeviceKey(certificate.alternativeSecurityIdKey)).toBe(seen.altSecurityIdentity);
    expect(seen.thumbprint).toBe(certificate.thumbprint);
    expect(seen.publicKeyHash).toBe(certificate.publicKeyHash);
    expect(drs.deviceKey(deviceId, registered)).toBe(certificate.alternativeSecurityIdKey);
  });

  it('are the same every time, and differ from device to device', () => {
    const a = drs.deviceCertificate(deviceId, registered);
    const again = CloudDrs.fromSecret(drs.secret).deviceCertificate(deviceId, registered);
    expect(again.certificatePem).toBe(a.certificatePem);
    expect(again.privateKeyPem).toBe(a.privateKeyPem);
    const other = drs.deviceCertificate('9f9a8b7c-6d5e-4f3a-8b1c-0d9e8f7a6b5c', registered);
    expect(other.publicKeyHash).not.toBe(a.publicKeyHash);
    expect(other.thumbprint).not.toBe(a.thumbprint);
    expect(new X509Certificate(other.certificatePem).serialNumber).not.toBe(
      new X509Certificate(a.certificatePem).serialNumber,
    );
  });

  it('are written field by field for unusual device ids and times, and still verify', () => {
    const ca = new X509Certificate(drs.issuerCertificatePem);
    for (const [id, at] of [
      ['not-a-guid', registered],
      ['{0B6A2D1E-8F3C-4E5A-9B7D-2C4E6F8A0B1C}', registered],
      [deviceId.toUpperCase(), new Date('2045-03-01T00:00:00Z')],
    ] as const) {
      const certificate = drs.deviceCertificate(id, at);
      const cert = new X509Certificate(certificate.certificatePem);
      expect(cert.subject).toBe(`CN=${id}`);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(readDeviceCertificate(certificate.certificatePem).altSecurityIdentity).toBe(
        decodeDeviceKey(certificate.alternativeSecurityIdKey),
      );
    }
  });

  it('are issued in batches with the same keys as one by one', () => {
    const devices = Array.from({ length: 450 }, (_, i) => ({
      deviceId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      registered: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000),
    }));
    const keys = drs.deviceKeys(devices);
    expect(keys).toHaveLength(450);
    devices.forEach((device, i) => expect(keys[i]).toBe(drs.deviceKey(device.deviceId, device.registered)));
  });
});

describe('seeded and registered devices', () => {
  it('carry the key of the certificate the seed DRS issued them', () => {
    const { device } = seededDevice(3, { seed: 'drs-test' });
    const certificate = seedDrs({ seed: 'drs-test' }).deviceCertificate(
      device.deviceId,
      new Date(device.registrationDateTime ?? ''),
    );
    expect(device.alternativeSecurityIds).toEqual([
      { type: 2, identityProvider: null, key: certificate.alternativeSecurityIdKey },
    ]);
    expect(seededDevices(0, 5, { seed: 'drs-test' }).map((d) => d.device)).toEqual(
      [0, 1, 2, 3, 4].map((i) => seededDevice(i, { seed: 'drs-test' }).device),
    );
    // A store seeded with that seed (and no DRS of its own) has the same devices, keys included.
    const store = new DirectoryStore();
    store.seed(5, { seed: 'drs-test' });
    expect(store.listDevices()).toEqual(
      [0, 1, 2, 3, 4].map((i) => seededDevice(i, { seed: 'drs-test' }).device),
    );
    expect(store.drs.issuerCertificatePem).toBe(CloudDrs.forSeed('drs-test').issuerCertificatePem);
  });

  it('hand out their certificate from the store, which matches the key AD FS will look for', () => {
    const store = new DirectoryStore(undefined, { drs: CloudDrs.forSeed('drs-test') });
    store.seed(20, { seed: 'drs-test' });
    for (const device of store.listDevices()) {
      const certificate = store.deviceCertificate(device.id);
      expect(certificate, device.id).toBeDefined();
      expect(store.deviceCertificate(device.deviceId)?.certificatePem).toBe(certificate?.certificatePem);
      expect(readDeviceCertificate(certificate!.certificatePem).altSecurityIdentity).toBe(
        decodeDeviceKey(device.alternativeSecurityIds[0]!.key),
      );
    }
    // A device created with a key of its own has no certificate of the DRS.
    const own = store.createDevice({
      deviceId: '11111111-2222-4333-8444-555555555555',
      displayName: 'BYO-KEY',
      alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'QUJD' }],
    });
    expect(store.deviceCertificate(own.id)).toBeUndefined();
    // Nor does a seeded device whose key was changed.
    const changed = store.listDevices()[0]!;
    store.updateDevice(changed.id, {
      alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'QUJD' }],
    });
    expect(store.deviceCertificate(changed.id)).toBeUndefined();
  });

  it('registers a device with a new certificate, owners and all', () => {
    const store = new DirectoryStore(undefined, { drs: CloudDrs.forSeed('drs-test') });
    const owner = store.createUser({ userPrincipalName: 'ines@contoso.example' });
    const { device, certificate } = store.registerDevice(
      { displayName: 'INES-LAPTOP', trustType: 'AzureAd' },
      { registeredOwners: [owner.id] },
    );
    expect(device.displayName).toBe('INES-LAPTOP');
    expect(new X509Certificate(certificate.certificatePem).subject).toBe(`CN=${device.deviceId}`);
    expect(device.alternativeSecurityIds[0]?.key).toBe(certificate.alternativeSecurityIdKey);
    expect(store.deviceCertificate(device.id)?.certificatePem).toBe(certificate.certificatePem);
    expect(store.relation(device.id, 'registeredOwners').map((u) => u.id)).toEqual([owner.id]);
    expect(device.registrationDateTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });
});
