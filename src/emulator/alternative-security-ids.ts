// Device certificates and the `alternativeSecurityIds` key Entra derives from them. A type-2 key is
// base64 of the UTF-16LE text `X509:<SHA1-TP-PUBKEY>` + the certificate's SHA-1 thumbprint (40 hex
// digits) + base64 of the SHA-256 hash of its public key; the writeback copies it to AD's
// `altSecurityIdentities`, where AD FS finds the device by the certificate it presents. "Its public
// key" is RFC 5280's subjectPublicKey (the BIT STRING contents inside SubjectPublicKeyInfo), which
// is what Windows hashes ([MS-DVRJ] 2.3.3) and what `claims` looks for first.
import { createHash, X509Certificate } from 'node:crypto';
import { createCertificate, createCertificateAuthority, type KeyedCertificate } from '../tls/certificates.js';
import * as der from '../tls/der.js';
import type { EmulatedAlternativeSecurityId } from './model.js';

export const X509_KEY_PREFIX = 'X509:<SHA1-TP-PUBKEY>';

/** The type of alternative security id that carries a device certificate key. */
export const ALT_SECURITY_ID_TYPE_X509 = 2;

/** Encodes the key text for a thumbprint (40 hex) and a base64 SHA-256 public-key hash. */
export function encodeX509Key(sha1Thumbprint: string, publicKeySha256Base64: string): string {
  if (!/^[0-9A-Fa-f]{40}$/.test(sha1Thumbprint)) throw new Error('a SHA-1 thumbprint is 40 hex digits');
  const text = `${X509_KEY_PREFIX}${sha1Thumbprint.toUpperCase()}${publicKeySha256Base64}`;
  return Buffer.from(text, 'utf16le').toString('base64');
}

/** The text inside a key, e.g. `X509:<SHA1-TP-PUBKEY>3F2A…` (for display and tests). */
export function decodeAlternativeSecurityIdKey(keyBase64: string): string {
  return Buffer.from(keyBase64, 'base64').toString('utf16le');
}

/** Thumbprint and public-key hash of a certificate, as they appear in the key. */
export function certificateKeyParts(certPem: string): {
  sha1Thumbprint: string;
  publicKeySha256Base64: string;
} {
  const cert = new X509Certificate(certPem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const bits = der.children(spki, der.readTlv(spki))[1];
  if (!bits) throw new Error('certificate without a subjectPublicKey');
  // The BIT STRING contents, without its unused-bits octet.
  const subjectPublicKey = spki.subarray(bits.valueStart + 1, bits.end);
  return {
    sha1Thumbprint: createHash('sha1').update(cert.raw).digest('hex').toUpperCase(),
    publicKeySha256Base64: createHash('sha256').update(subjectPublicKey).digest('base64'),
  };
}

/** The type-2 alternative security id Entra records for a device certificate. */
export function alternativeSecurityIdForCertificate(certPem: string): EmulatedAlternativeSecurityId {
  const parts = certificateKeyParts(certPem);
  return {
    type: ALT_SECURITY_ID_TYPE_X509,
    identityProvider: null,
    key: encodeX509Key(parts.sha1Thumbprint, parts.publicKeySha256Base64),
  };
}

let deviceIssuer: KeyedCertificate | undefined;

/**
 * A device certificate like the ones Entra issues at registration: subject `CN=<deviceId>`, issued
 * by an `MS-Organization-Access`-named CA (a local one; pass `issuer` to use your own).
 */
export function createDeviceCertificate(
  deviceId: string,
  options: { issuer?: KeyedCertificate } = {},
): KeyedCertificate {
  deviceIssuer ??= createCertificateAuthority({
    commonName: 'MS-Organization-Access',
    organization: 'device-writeback emulator',
    keyAlgorithm: 'rsa-2048',
  });
  return createCertificate({
    subject: { commonName: deviceId },
    issuer: options.issuer ?? deviceIssuer,
    keyAlgorithm: 'rsa-2048',
    validDays: 3650,
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
  });
}
