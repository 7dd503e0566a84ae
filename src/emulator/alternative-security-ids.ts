// Device certificates and the `alternativeSecurityIds` key Entra derives from them. A type-2 key is
// base64 of the UTF-16LE text `X509:<SHA1-TP-PUBKEY>` + the certificate's SHA-1 thumbprint (40 hex
// digits) + base64 of the SHA-256 hash of its public key; the writeback copies it to AD's
// `altSecurityIdentities`, where AD FS finds the device by the certificate it presents. "Its public
// key" is RFC 5280's subjectPublicKey (the BIT STRING contents inside SubjectPublicKeyInfo), which
// is what Windows hashes ([MS-DVRJ] 2.3.3) and what `claims` looks for first.
import { X509Certificate } from 'node:crypto';
import {
  certificateKeyParts as keyParts,
  DEVICE_KEY_TYPE,
  deviceKeyText,
  encodeDeviceKey,
  SHA1_TP_PUBKEY,
} from '../entra/device-key.js';
import { createCertificate, createCertificateAuthority, type KeyedCertificate } from '../tls/certificates.js';
import type { EmulatedAlternativeSecurityId } from './model.js';

// The key format is the Entra connector's (src/entra/device-key.ts); these are its emulator names.
export const X509_KEY_PREFIX = SHA1_TP_PUBKEY;

/** The type of alternative security id that carries a device certificate key. */
export const ALT_SECURITY_ID_TYPE_X509 = DEVICE_KEY_TYPE;

/** Encodes the key for a thumbprint (40 hex) and a base64 SHA-256 public-key hash. */
export function encodeX509Key(sha1Thumbprint: string, publicKeySha256Base64: string): string {
  return encodeDeviceKey(deviceKeyText(sha1Thumbprint, publicKeySha256Base64));
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
  const parts = keyParts(new X509Certificate(certPem));
  return { sha1Thumbprint: parts.thumbprint, publicKeySha256Base64: parts.publicKeyHash };
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
