// X.509 certificates in pure Node: keys and signatures from node:crypto, the certificate itself
// written with our own DER writer (RFC 5280). The emulator uses it for its CA and HTTPS
// certificate, tests use it for client-credential certificates and device certificates, and no
// `openssl` binary is needed on any operating system.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import * as der from './der.js';

export type KeyAlgorithm = 'ec-p256' | 'rsa-2048';

/** A certificate with its private key, both PEM. */
export interface KeyedCertificate {
  certPem: string;
  keyPem: string;
}

/** Relative distinguished name parts, most significant first (as written in a subject, reversed). */
export interface DistinguishedName {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
}

export interface CertificateRequest {
  subject: DistinguishedName;
  /** The issuer; omitted for a self-signed certificate. */
  issuer?: KeyedCertificate;
  keyAlgorithm?: KeyAlgorithm;
  /** Use this key pair instead of generating one (PEM, PKCS#8). */
  keyPem?: string;
  validDays?: number;
  notBefore?: Date;
  certificateAuthority?: boolean;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Extended key usages by OID; see {@link ExtendedKeyUsage}. */
  extendedKeyUsages?: string[];
}

export const ExtendedKeyUsage = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const Oid = {
  commonName: '2.5.4.3',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
} as const;

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KeyUsageBit = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

const DAY_MS = 86_400_000;

export function generateKey(algorithm: KeyAlgorithm = 'ec-p256'): KeyObject {
  if (algorithm === 'rsa-2048') return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function encodeName(name: DistinguishedName): Buffer {
  const rdn = (oid: string, value: Buffer): Buffer => der.set(der.sequence(der.objectIdentifier(oid), value));
  const parts: Buffer[] = [];
  if (name.country) parts.push(rdn(Oid.country, der.printableString(name.country)));
  if (name.organization) parts.push(rdn(Oid.organization, der.utf8String(name.organization)));
  if (name.organizationalUnit)
    parts.push(rdn(Oid.organizationalUnit, der.utf8String(name.organizationalUnit)));
  parts.push(rdn(Oid.commonName, der.utf8String(name.commonName)));
  return der.sequence(...parts);
}

/** The subject Name of a certificate, byte for byte, so that a child's issuer matches exactly. */
function subjectNameOf(certDer: Buffer): Buffer {
  const certificate = der.readTlv(certDer);
  const [tbs] = der.children(certDer, certificate);
  if (!tbs) throw new Error('certificate has no tbsCertificate');
  const fields = der.children(certDer, tbs);
  // version [0] is present in v3 certificates; subject follows serial, signature, issuer, validity.
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject) throw new Error('certificate has no subject');
  return certDer.subarray(subject.start, subject.end);
}

/** The subjectPublicKey bits of a SubjectPublicKeyInfo, hashed for key identifiers (RFC 5280 §4.2.1.2). */
function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(der.subjectPublicKey(spki)).digest();
}

function signatureAlgorithm(key: KeyObject): { identifier: Buffer; sign: (data: Buffer) => Buffer } {
  if (key.asymmetricKeyType === 'ec') {
    return {
      identifier: der.sequence(der.objectIdentifier(Oid.ecdsaWithSha256)),
      sign: (data) => sign('sha256', data, { key, dsaEncoding: 'der' }),
    };
  }
  if (key.asymmetricKeyType === 'rsa') {
    return {
      identifier: der.sequence(der.objectIdentifier(Oid.sha256WithRsa), der.nullValue()),
      sign: (data) => sign('sha256', data, key),
    };
  }
  throw new Error(`unsupported issuer key type ${String(key.asymmetricKeyType)}`);
}

/** IPv4 or IPv6 text to the 4 or 16 bytes of an iPAddress GeneralName. */
export function ipAddressBytes(address: string): Buffer {
  const version = isIP(address);
  if (version === 4) return Buffer.from(address.split('.').map(Number));
  if (version !== 6) throw new Error(`not an IP address: ${address}`);
  let text = address.replace(/%.*$/, '');
  const embedded = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (embedded?.[1]) {
    const v4 = embedded[1].split('.').map(Number);
    text =
      text.slice(0, -embedded[1].length) +
      `${(((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16)}:${(((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? der.sequence(der.objectIdentifier(oid), der.boolean(true), der.octetString(value))
    : der.sequence(der.objectIdentifier(oid), der.octetString(value));
}

function toPem(label: string, body: Buffer): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Issues (or self-signs) a certificate for the request; returns it with its private key. */
export function createCertificate(request: CertificateRequest): KeyedCertificate {
  const subjectKey = request.keyPem ? createPrivateKey(request.keyPem) : generateKey(request.keyAlgorithm);
  const spki = createPublicKey(subjectKey).export({ type: 'spki', format: 'der' });
  const issuerKey = request.issuer ? createPrivateKey(request.issuer.keyPem) : subjectKey;
  const issuerCertDer = request.issuer ? new X509Certificate(request.issuer.certPem).raw : undefined;
  const issuerName = issuerCertDer ? subjectNameOf(issuerCertDer) : encodeName(request.subject);
  const issuerSpki = issuerCertDer
    ? new X509Certificate(issuerCertDer).publicKey.export({ type: 'spki', format: 'der' })
    : spki;
  const algorithm = signatureAlgorithm(issuerKey);

  const notBefore = request.notBefore ?? new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = new Date(notBefore.getTime() + (request.validDays ?? 365) * DAY_MS);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive, 16 bytes, within RFC 5280's 20-octet limit

  const isCa = request.certificateAuthority === true;
  const usage = isCa
    ? [KeyUsageBit.digitalSignature, KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign]
    : subjectKey.asymmetricKeyType === 'rsa'
      ? [KeyUsageBit.digitalSignature, KeyUsageBit.keyEncipherment]
      : [KeyUsageBit.digitalSignature];
  const extensions: Buffer[] = [
    extension(
      Oid.basicConstraints,
      true,
      isCa ? der.sequence(der.boolean(true), der.integer(0)) : der.sequence(),
    ),
    extension(Oid.keyUsage, true, der.namedBits(usage)),
    extension(Oid.subjectKeyIdentifier, false, der.octetString(keyIdentifier(spki))),
    extension(
      Oid.authorityKeyIdentifier,
      false,
      der.sequence(der.implicitPrimitive(0, keyIdentifier(issuerSpki))),
    ),
  ];
  if (request.extendedKeyUsages?.length) {
    extensions.push(
      extension(
        Oid.extendedKeyUsage,
        false,
        der.sequence(...request.extendedKeyUsages.map((oid) => der.objectIdentifier(oid))),
      ),
    );
  }
  const altNames = [
    ...(request.dnsNames ?? []).map((name) => der.implicitPrimitive(2, Buffer.from(name, 'ascii'))),
    ...(request.ipAddresses ?? []).map((ip) => der.implicitPrimitive(7, ipAddressBytes(ip))),
  ];
  if (altNames.length > 0) extensions.push(extension(Oid.subjectAltName, false, der.sequence(...altNames)));

  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(serial),
    algorithm.identifier,
    issuerName,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    encodeName(request.subject),
    spki,
    der.explicit(3, der.sequence(...extensions)),
  );
  const certificate = der.sequence(tbs, algorithm.identifier, der.bitString(algorithm.sign(tbs)));
  return {
    certPem: toPem('CERTIFICATE', certificate),
    keyPem: subjectKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function createCertificateAuthority(
  options: {
    commonName?: string;
    organization?: string;
    validDays?: number;
    keyAlgorithm?: KeyAlgorithm;
  } = {},
): KeyedCertificate {
  return createCertificate({
    subject: {
      commonName: options.commonName ?? 'device-writeback emulator CA',
      organization: options.organization ?? 'device-writeback',
    },
    certificateAuthority: true,
    validDays: options.validDays ?? 3650,
    keyAlgorithm: options.keyAlgorithm ?? 'ec-p256',
  });
}

/** Names every server certificate of the emulator covers, plus the extra ones asked for. */
export const defaultServerNames = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] } as const;

export function issueServerCertificate(
  ca: KeyedCertificate,
  options: {
    dnsNames?: string[];
    ipAddresses?: string[];
    validDays?: number;
    keyAlgorithm?: KeyAlgorithm;
  } = {},
): KeyedCertificate {
  const dnsNames = unique([...defaultServerNames.dnsNames, ...(options.dnsNames ?? [])]);
  const ipAddresses = unique([...defaultServerNames.ipAddresses, ...(options.ipAddresses ?? [])]);
  return createCertificate({
    subject: { commonName: dnsNames[0] ?? 'localhost', organization: 'device-writeback' },
    issuer: ca,
    // 397 days: the longest validity that browsers and Apple platforms accept for TLS servers.
    validDays: options.validDays ?? 397,
    keyAlgorithm: options.keyAlgorithm ?? 'ec-p256',
    dnsNames,
    ipAddresses,
    extendedKeyUsages: [ExtendedKeyUsage.serverAuth],
  });
}

/** A client-authentication certificate (app credential or device certificate), self-signed or issued. */
export function issueClientCertificate(options: {
  commonName: string;
  issuer?: KeyedCertificate;
  validDays?: number;
  keyAlgorithm?: KeyAlgorithm;
}): KeyedCertificate {
  return createCertificate({
    subject: { commonName: options.commonName },
    issuer: options.issuer,
    validDays: options.validDays ?? 365,
    keyAlgorithm: options.keyAlgorithm ?? 'rsa-2048',
    extendedKeyUsages: [ExtendedKeyUsage.clientAuth],
  });
}

function unique(values: string[]): string[] {
  return [...new Set(values.map((v) => v.trim()).filter(Boolean))];
}

/** The emulator's TLS files in its data folder. */
export interface TlsMaterial {
  caFile: string;
  caPem: string;
  certFile: string;
  certPem: string;
  keyPem: string;
}

const RENEW_BEFORE_MS = 30 * DAY_MS;

function stillGood(
  certPem: string,
  names: { dnsNames: string[]; ipAddresses: string[] },
  ca?: string,
): boolean {
  const cert = new X509Certificate(certPem);
  if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
  if (ca && !cert.checkIssued(new X509Certificate(ca))) return false;
  return (
    names.dnsNames.every((name) => cert.checkHost(name, { wildcards: false }) !== undefined) &&
    names.ipAddresses.every((ip) => cert.checkIP(ip) !== undefined)
  );
}

function writePrivate(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * Loads the CA and server certificate from `dir`, creating or renewing what is missing, expiring or
 * does not cover the requested names; the CA survives restarts so that clients keep trusting it.
 */
export function ensureTlsMaterial(
  dir: string,
  names: { dnsNames?: string[]; ipAddresses?: string[] } = {},
): TlsMaterial {
  mkdirSync(dir, { recursive: true });
  const caFile = path.join(dir, 'emulator-ca.pem');
  const caKeyFile = path.join(dir, 'emulator-ca.key');
  const certFile = path.join(dir, 'emulator-server.pem');
  const keyFile = path.join(dir, 'emulator-server.key');
  const wanted = {
    dnsNames: unique([...defaultServerNames.dnsNames, ...(names.dnsNames ?? [])]),
    ipAddresses: unique([...defaultServerNames.ipAddresses, ...(names.ipAddresses ?? [])]),
  };

  let ca: KeyedCertificate | undefined;
  if (existsSync(caFile) && existsSync(caKeyFile)) {
    const loaded = { certPem: readFileSync(caFile, 'utf8'), keyPem: readFileSync(caKeyFile, 'utf8') };
    if (Date.parse(new X509Certificate(loaded.certPem).validTo) - Date.now() > RENEW_BEFORE_MS) ca = loaded;
  }
  let caRenewed = false;
  if (!ca) {
    ca = createCertificateAuthority();
    writeFileSync(caFile, ca.certPem);
    writePrivate(caKeyFile, ca.keyPem);
    caRenewed = true;
  }

  let server: KeyedCertificate | undefined;
  if (!caRenewed && existsSync(certFile) && existsSync(keyFile)) {
    const loaded = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
    if (stillGood(loaded.certPem, wanted, ca.certPem)) server = loaded;
  }
  if (!server) {
    server = issueServerCertificate(ca, wanted);
    writeFileSync(certFile, server.certPem);
    writePrivate(keyFile, server.keyPem);
  }
  return { caFile, caPem: ca.certPem, certFile, certPem: server.certPem, keyPem: server.keyPem };
}

/** SHA-1 thumbprint of a certificate as 40 upper-case hex digits (what Windows shows). */
export function certificateThumbprint(certPem: string, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  return createHash(algorithm).update(new X509Certificate(certPem).raw).digest('hex').toUpperCase();
}
