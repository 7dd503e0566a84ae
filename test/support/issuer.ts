// Cloud DRS issuer CAs and the device certificates they issue, for the --cloud-issuer, ad.cloud-issuer
// and `claims --cert` tests: made with src/tls/certificates.ts (chaining, from another issuer,
// expired, not a CA), written to PEM files the way an administrator would hand them to the CLI.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  certificateThumbprint,
  createCertificate,
  ExtendedKeyUsage,
  type KeyAlgorithm,
  type KeyedCertificate,
} from '../../src/tls/certificates.js';

const DAY_MS = 86_400_000;

export interface TestCertificateFile extends KeyedCertificate {
  file: string;
  der: Buffer;
  thumbprint: string;
}

let dir: string | undefined;
function folder(): string {
  dir ??= mkdtempSync(path.join(os.tmpdir(), 'dwb-issuer-'));
  return dir;
}

function written(name: string, cert: KeyedCertificate): TestCertificateFile {
  const file = path.join(folder(), `${name}.pem`);
  writeFileSync(file, cert.certPem);
  return {
    ...cert,
    file,
    der: Buffer.from(new X509Certificate(cert.certPem).raw),
    thumbprint: certificateThumbprint(cert.certPem),
  };
}

export interface Validity {
  /** Days of validity from notBefore. */
  validDays?: number;
  /** How many days ago the certificate became valid (negative: in the future). */
  startedDaysAgo?: number;
}

function notBefore(v: Validity): Date {
  return new Date(Date.now() - (v.startedDaysAgo ?? 1 / 24) * DAY_MS);
}

/** An MS-Organization-Access-like issuer CA (self-signed, basicConstraints CA, keyCertSign). */
export function makeIssuer(
  name: string,
  v: Validity & { tenant?: string; keyAlgorithm?: KeyAlgorithm } = {},
): TestCertificateFile {
  return written(
    name,
    createCertificate({
      subject: {
        commonName: 'MS-Organization-Access',
        organizationalUnit: `test tenant ${v.tenant ?? name}`,
      },
      certificateAuthority: true,
      // EC by default: RSA key generation costs a second a key on a busy machine.
      keyAlgorithm: v.keyAlgorithm ?? 'ec-p256',
      notBefore: notBefore(v),
      validDays: v.validDays ?? 3650,
    }),
  );
}

/** A device certificate (CN=<deviceId>, clientAuth, not a CA) issued by `issuer`. */
export function makeDeviceCertificate(
  name: string,
  issuer: KeyedCertificate,
  options: Validity & { commonName?: string; keyAlgorithm?: KeyAlgorithm } = {},
): TestCertificateFile {
  return written(
    name,
    createCertificate({
      subject: { commonName: options.commonName ?? name },
      issuer,
      keyAlgorithm: options.keyAlgorithm ?? 'ec-p256',
      notBefore: notBefore(options),
      validDays: options.validDays ?? 3650,
      extendedKeyUsages: [ExtendedKeyUsage.clientAuth],
    }),
  );
}

/** Writes any text to a file of the test folder (a file that is not a certificate, say). */
export function writeTestFile(name: string, content: string | Buffer): string {
  const file = path.join(folder(), name);
  writeFileSync(file, content);
  return file;
}
