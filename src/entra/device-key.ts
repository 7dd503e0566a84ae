// The device key, one fact in one place. Entra records a device certificate as an
// `alternativeSecurityIds` entry of type 2 whose key is base64 of the UTF-16LE text
// `X509:<SHA1-TP-PUBKEY>` + the certificate's SHA-1 thumbprint (40 upper-case hex digits) + base64
// of the SHA-256 hash of its public key ([MS-DVRJ] 2.3.3, [MS-DVRE] 2.3.3). The writeback copies the
// text to AD's altSecurityIdentities, where AD FS finds the device by the certificate it presents.
//
// "Its public key" is RFC 5280's subjectPublicKey: the contents of the BIT STRING inside
// SubjectPublicKeyInfo (for RSA, the PKCS#1 RSAPublicKey), which is what .NET's
// X509Certificate.GetPublicKey() returns and what Windows clients hash. The hash of the whole
// SubjectPublicKeyInfo DER is computed too, because some tools write that variant.
import { createHash, type X509Certificate } from 'node:crypto';
import { subjectPublicKey } from '../tls/der.js';

export const SHA1_TP_PUBKEY = 'X509:<SHA1-TP-PUBKEY>';

/** The alternativeSecurityIds type that carries a device certificate key. */
export const DEVICE_KEY_TYPE = 2;

const DEVICE_KEY_TEXT = /^X509:<SHA1-TP-PUBKEY>[0-9A-Fa-f]{40}[A-Za-z0-9+/]{43}=$/;

/** The key text for a thumbprint (40 hex) and a base64 SHA-256 public-key hash. */
export function deviceKeyText(sha1Thumbprint: string, publicKeySha256Base64: string): string {
  if (!/^[0-9A-Fa-f]{40}$/.test(sha1Thumbprint)) throw new TypeError('a SHA-1 thumbprint is 40 hex digits');
  return `${SHA1_TP_PUBKEY}${sha1Thumbprint.toUpperCase()}${publicKeySha256Base64}`;
}

/** Decodes a type-2 key (base64 of UTF-16LE text) to its altSecurityIdentities value; throws why not. */
export function decodeDeviceKey(base64: string): string {
  // Graph's own examples are sometimes unpadded; the alphabet is what matters.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.replace(/=+$/, '').length % 4 === 1) {
    throw new TypeError('the key is not base64');
  }
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length % 2 !== 0) throw new TypeError('the key is not UTF-16LE text (odd length)');
  const text = bytes.toString('utf16le').replace(/\u0000+$/, '');
  if (!text.startsWith('X509:<'))
    throw new TypeError(`the key does not start with "X509:<" (got ${JSON.stringify(text.slice(0, 24))})`);
  if (/[^\x20-\x7e]/.test(text)) throw new TypeError('the key contains non-printable characters');
  if (text.startsWith(SHA1_TP_PUBKEY) && !DEVICE_KEY_TEXT.test(text)) {
    throw new TypeError(
      'the key is not X509:<SHA1-TP-PUBKEY> followed by a 40-hex thumbprint and a base64 SHA-256 hash',
    );
  }
  return text;
}

/** The inverse: altSecurityIdentities text -> Graph key. */
export function encodeDeviceKey(text: string): string {
  return Buffer.from(text, 'utf16le').toString('base64');
}

/** What a certificate contributes to its device key. */
export interface CertificateKeyParts {
  /** SHA-1 of the certificate DER, upper-case hex. */
  thumbprint: string;
  /** Base64 SHA-256 of subjectPublicKey (the BIT STRING contents). */
  publicKeyHash: string;
  /** Base64 SHA-256 of the SubjectPublicKeyInfo DER (the variant some tools write). */
  subjectPublicKeyInfoHash: string;
  /** The key text (altSecurityIdentities value) Windows and AD FS use. */
  text: string;
}

export function certificateKeyParts(cert: X509Certificate): CertificateKeyParts {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const thumbprint = createHash('sha1').update(cert.raw).digest('hex').toUpperCase();
  const publicKeyHash = createHash('sha256').update(subjectPublicKey(spki)).digest('base64');
  const subjectPublicKeyInfoHash = createHash('sha256').update(spki).digest('base64');
  return {
    thumbprint,
    publicKeyHash,
    subjectPublicKeyInfoHash,
    text: deviceKeyText(thumbprint, publicKeyHash),
  };
}
