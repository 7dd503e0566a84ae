// The device certificate as AD FS sees it: the altSecurityIdentities value it searches for,
// "X509:<SHA1-TP-PUBKEY>" + the certificate's SHA-1 thumbprint (40 upper-case hex digits) + the
// base64 SHA-256 hash of the certificate's public key ([MS-DVRJ] 2.3.3, [MS-DVRE] 2.3.3).
//
// "The public key" is RFC 5280's subjectPublicKey: the contents of the BIT STRING inside
// SubjectPublicKeyInfo (for RSA, the PKCS#1 RSAPublicKey), which is what .NET's
// X509Certificate.GetPublicKey() returns and what Windows clients hash. The hash of the whole
// SubjectPublicKeyInfo DER is computed too, because some tools write that variant; the lookup
// accepts either and says which one matched.
import { X509Certificate } from 'node:crypto';
import { certificateKeyParts, deviceKeyText } from '../entra/device-key.js';
import { DwbError } from '../errors.js';

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
  /** The certificate itself, for the issuer check. */
  x509: X509Certificate;
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
  const { thumbprint, publicKeyHash, subjectPublicKeyInfoHash, text } = certificateKeyParts(cert);
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    serialNumber: cert.serialNumber,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    thumbprint,
    publicKeyHash,
    subjectPublicKeyInfoHash,
    altSecurityIdentity: text,
    altSecurityIdentitySpki: deviceKeyText(thumbprint, subjectPublicKeyInfoHash),
    x509: cert,
  };
}
