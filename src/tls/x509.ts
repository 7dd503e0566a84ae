// Reading X.509 certificates that someone else made: the certificates of a PEM file (or one DER
// certificate), and the facts a trust decision needs — names, SHA-1 thumbprint, validity period,
// basicConstraints and the keyCertSign bit of keyUsage (RFC 5280 §4.2.1.3, §4.2.1.9). node:crypto
// parses the certificate but does not expose keyUsage, so that one extension is read from the DER.
import { createHash, X509Certificate } from 'node:crypto';
import { children, objectIdentifier, readTlv, type TlvSpan } from './der.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** The encoded value of the keyUsage OID (2.5.29.15), to compare extension ids byte for byte. */
const KEY_USAGE_OID = objectIdentifier('2.5.29.15');

/** keyCertSign is bit 5 of the KeyUsage BIT STRING: 0x04 of its first octet. */
const KEY_CERT_SIGN = 0x04;

/**
 * Every certificate of a PEM text (in file order), or the one DER certificate the bytes are.
 * Throws when there is none, or when a PEM block or the DER does not parse; the message says which.
 */
export function parseCertificates(data: Buffer): X509Certificate[] {
  const text = data.toString('latin1');
  const blocks = [...text.matchAll(PEM_CERTIFICATE)];
  if (blocks.length === 0) {
    if (/-----BEGIN /.test(text)) {
      const label = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1] ?? 'unknown';
      throw new Error(`it holds PEM data (${label}) but no CERTIFICATE block`);
    }
    try {
      return [new X509Certificate(data)];
    } catch {
      throw new Error('it is neither a PEM certificate nor a DER certificate');
    }
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(Buffer.from((block[1] ?? '').replace(/\s+/g, ''), 'base64'));
    } catch {
      throw new Error(`its PEM CERTIFICATE block ${i + 1} is not a valid certificate`);
    }
  });
}

export interface CertificateFacts {
  /** RFC 4514-like, most significant first, as node:crypto renders it (control characters escaped). */
  subject: string;
  issuer: string;
  serialNumber: string;
  /** SHA-1 of the certificate DER, 40 upper-case hex digits (what Windows calls the thumbprint). */
  thumbprint: string;
  notBefore: Date;
  notAfter: Date;
  /** basicConstraints cA is TRUE. */
  isCa: boolean;
  /** keyUsage has keyCertSign; null when the certificate has no keyUsage extension. */
  keyCertSign: boolean | null;
}

/** A name as one line: node:crypto puts one RDN per line. */
function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

export function certificateFacts(cert: X509Certificate): CertificateFacts {
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    serialNumber: cert.serialNumber,
    thumbprint: createHash('sha1').update(cert.raw).digest('hex').toUpperCase(),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    isCa: cert.ca,
    keyCertSign: keyCertSign(cert.raw),
  };
}

/** The extensions of a certificate: tbsCertificate's [3] EXPLICIT SEQUENCE OF Extension. */
function extensions(der: Buffer): TlvSpan[] {
  const [tbs] = children(der, readTlv(der));
  if (!tbs) return [];
  const wrapper = children(der, tbs).find((field) => field.tag === 0xa3);
  if (!wrapper) return [];
  const [list] = children(der, wrapper);
  return list ? children(der, list) : [];
}

/** Whether keyUsage allows signing certificates; null without a keyUsage extension. */
export function keyCertSign(der: Buffer): boolean | null {
  for (const extension of extensions(der)) {
    const fields = children(der, extension);
    const id = fields[0];
    if (!id || !der.subarray(id.start, id.end).equals(KEY_USAGE_OID)) continue;
    // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const value = fields[fields.length - 1];
    if (!value || value.tag !== 0x04) return false;
    const bits = readTlv(der, value.valueStart);
    if (bits.tag !== 0x03 || bits.end - bits.valueStart < 2) return false;
    return ((der[bits.valueStart + 1] ?? 0) & KEY_CERT_SIGN) !== 0;
  }
  return null;
}

/** Whole days from `now` until `date` (negative when it is past). */
export function daysUntil(date: Date, now: Date): number {
  return Math.floor((date.getTime() - now.getTime()) / 86_400_000);
}

/** A date as YYYY-MM-DD HH:MM UTC, the way the product prints certificate dates. */
export function formatCertificateDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
