// The altSecurityIdentities value of a certificate, checked against openssl's own numbers.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readDeviceCertificate } from '../../src/claims/certificate.js';
import { subjectPublicKey } from '../../src/tls/der.js';
import { isDwbError } from '../../src/errors.js';
import { decodeDeviceKey, encodeDeviceKey } from '../../src/entra/device-key.js';
import { makeCertificate, opensslView } from './support.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('base64');

describe('device certificate', () => {
  it('RSA: thumbprint and public-key hash as openssl computes them', () => {
    const cert = makeCertificate('6f4c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b');
    const view = opensslView(cert);
    const c = readDeviceCertificate(cert.pem);
    expect(c.thumbprint).toBe(view.thumbprint);
    expect(c.thumbprint).toMatch(/^[0-9A-F]{40}$/);
    // the public key: PKCS#1 RSAPublicKey, i.e. the subjectPublicKey BIT STRING contents
    expect(c.publicKeyHash).toBe(sha256(view.rsaPublicKeyDer!));
    expect(c.subjectPublicKeyInfoHash).toBe(sha256(view.spkiDer));
    expect(c.altSecurityIdentity).toBe(
      `X509:<SHA1-TP-PUBKEY>${view.thumbprint}${sha256(view.rsaPublicKeyDer!)}`,
    );
    expect(c.subject).toContain('CN=6f4c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b');
    // it is a value the attribute flow accepts from Graph
    expect(decodeDeviceKey(encodeDeviceKey(c.altSecurityIdentity))).toBe(c.altSecurityIdentity);
  });

  it('EC: the public key is the EC point inside the BIT STRING', () => {
    const cert = makeCertificate('ec-device', 'ec');
    const view = opensslView(cert);
    const point = subjectPublicKey(view.spkiDer);
    expect(point[0]).toBe(0x04); // uncompressed point
    expect(point.length).toBe(65);
    const c = readDeviceCertificate(cert.pem);
    expect(c.publicKeyHash).toBe(sha256(point));
    expect(decodeDeviceKey(encodeDeviceKey(c.altSecurityIdentity))).toBe(c.altSecurityIdentity);
  });

  it('reads DER and PEM bundles; refuses what is not a certificate', () => {
    const cert = makeCertificate('bundle');
    const der = Buffer.from(cert.pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(readDeviceCertificate(der).thumbprint).toBe(readDeviceCertificate(cert.pem).thumbprint);
    expect(readDeviceCertificate(`junk before\n${cert.pem}\nmore`).thumbprint).toBe(
      readDeviceCertificate(cert.pem).thumbprint,
    );
    try {
      readDeviceCertificate('not a certificate', '--cert x.pem');
      expect.unreachable();
    } catch (err) {
      expect(isDwbError(err) && err.code).toBe('DWB_USAGE');
      expect((err as Error).message).toContain('--cert x.pem');
    }
  });
});
