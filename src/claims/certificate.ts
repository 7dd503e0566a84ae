// The device certificate as AD FS sees it: the altSecurityIdentities value it searches for,
// "X509:<SHA1-TP-PUBKEY>" + the certificate's SHA-1 thumbprint (40 upper-case hex digits) + the
// base64 SHA-256 hash of the certificate's public key ([MS-DVRJ] 2.3.3, [MS-DVRE] 2.3.3).
//
// "The public key" is RFC 5280's subjectPublicKey: the contents of the BIT STRING inside
// SubjectPublicKeyInfo (for RSA, the PKCS#1 RSAPublicKey), which is what .NET's
// X509Certificate.GetPublicKey() returns and what Windows clients hash. The hash of the whole
// SubjectPublicKeyInfo DER is computed too, because some tools write that variant; the lookup
// accepts either and says which one matched.
import { createHash, X509Certificate } from 'node:crypto';
import { DwbError } from '../errors.js';

export const SHA1_TP_PUBKEY = 'X509:<SHA1-TP-PUBKEY>';

export interface DeviceCertificate {
  subject: string;
  issuer: string;
  serialNumber: string;
  validFrom: string;
  validTo: string;
  /** SHA-1 of the certificate DER, upper-case hex. */
  thumbprint: string;
  /** Base64 SHA-256 of subjectPublicKey (the BIT STRING contents). */
  publicKeyHash: string;
  /** Base64 SHA-256 of the SubjectPublicKeyInfo DER (the variant some tools write). */
  subjectPublicKeyInfoHash: string;
  /** The altSecurityIdentities value AD FS looks for. */
  altSecurityIdentity: string;
  /** The same with the SubjectPublicKeyInfo hash. */
  altSecurityIdentitySpki: string;
}

/** One DER element: where its contents start and end. */
function element(der: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = der[offset];
  let length = der[offset + 1];
  if (tag === undefined || length === undefined) throw new TypeError('truncated DER');
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new TypeError('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = der[start + i];
      if (byte === undefined) throw new TypeError('truncated DER');
      length = length * 256 + byte;
    }
    start += count;
  }
  const end = start + length;
  if (end > der.length) throw new TypeError('truncated DER');
  return { tag, start, end };
}

/** subjectPublicKey from a SubjectPublicKeyInfo DER: SEQUENCE { AlgorithmIdentifier, BIT STRING }. */
export function subjectPublicKey(spki: Buffer): Buffer {
  const outer = element(spki, 0);
  if (outer.tag !== 0x30) throw new TypeError('SubjectPublicKeyInfo is not a SEQUENCE');
  const algorithm = element(spki, outer.start);
  if (algorithm.tag !== 0x30) throw new TypeError('AlgorithmIdentifier is not a SEQUENCE');
  const bits = element(spki, algorithm.end);
  if (bits.tag !== 0x03) throw new TypeError('subjectPublicKey is not a BIT STRING');
  if (spki[bits.start] !== 0) throw new TypeError('subjectPublicKey has unused bits');
  return spki.subarray(bits.start + 1, bits.end);
}

export function altSecurityIdentityFor(thumbprint: string, publicKeyHash: string): string {
  return `${SHA1_TP_PUBKEY}${thumbprint.toUpperCase()}${publicKeyHash}`;
}

/** Reads a PEM (or DER) certificate; the first certificate of a PEM bundle is the device's. */
export function readDeviceCertificate(data: Buffer | string, source = 'the certificate'): DeviceCertificate {
  let cert: X509Certificate;
  try {
    const text = Buffer.isBuffer(data) ? data.toString('latin1') : data;
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
    cert = new X509Certificate(pem ?? (Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1')));
  } catch (err) {
    throw new DwbError(
      'DWB_USAGE',
      `${source} is not an X.509 certificate (PEM or DER): ${(err as Error).message}`,
      {
        fix: 'Pass the device certificate (the one the device presents to AD FS) as a PEM file, e.g. exported from the MS-Organization-Access certificate of the device.',
      },
    );
  }
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const thumbprint = createHash('sha1').update(cert.raw).digest('hex').toUpperCase();
  const publicKeyHash = createHash('sha256').update(subjectPublicKey(spki)).digest('base64');
  const subjectPublicKeyInfoHash = createHash('sha256').update(spki).digest('base64');
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serialNumber: cert.serialNumber,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    thumbprint,
    publicKeyHash,
    subjectPublicKeyInfoHash,
    altSecurityIdentity: altSecurityIdentityFor(thumbprint, publicKeyHash),
    altSecurityIdentitySpki: altSecurityIdentityFor(thumbprint, subjectPublicKeyInfoHash),
  };
}
