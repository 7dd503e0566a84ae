// The issuer certificates of `init-ad --cloud-issuer <pem-file>`: each file read (with a ceiling),
// every certificate in it parsed and judged before anything is planned. What is written to
// msDS-CloudIssuerPublicCertificates must be the issuer of the tenant's device certificates, so a
// file that holds no certificate, a certificate that is not a CA (a device certificate given by
// mistake) or one outside its validity period is refused with its own code, and nothing is written.
import type { X509Certificate } from 'node:crypto';
import { CLOUD_ISSUER_MAX_BYTES } from '../ad/registration-service.js';
import { DwbError, causeText } from '../errors.js';
import {
  certificateFacts,
  daysUntil,
  formatCertificateDate,
  parseCertificates,
  type CertificateFacts,
} from '../tls/x509.js';
import { readSmallFile, SmallFileError } from '../util/small-file.js';

/** A PEM file of a few certificates is a few kilobytes; this is far above any real one. */
const MAX_FILE_BYTES = 1024 * 1024;

/** init-ad warns when an issuer it is given expires within this many days. */
export const ISSUER_EXPIRY_WARNING_DAYS = 30;

/** An issuer certificate to write, judged fit. */
export interface CloudIssuerCertificate {
  /** The file it came from, for messages. */
  file: string;
  /** The DER bytes: one value of msDS-CloudIssuerPublicCertificates. */
  der: Buffer;
  facts: CertificateFacts;
}

function describe(facts: CertificateFacts): string {
  return `${facts.subject} (thumbprint ${facts.thumbprint})`;
}

/** Refuses a certificate that cannot be a cloud DRS issuer today; returns it judged fit. */
export function judgeCloudIssuer(
  cert: X509Certificate,
  file: string,
  now: Date = new Date(),
): CloudIssuerCertificate {
  const facts = certificateFacts(cert);
  const where = `--cloud-issuer ${file}: the certificate ${describe(facts)}`;
  if (!facts.isCa) {
    throw new DwbError(
      'DWB_CLOUD_ISSUER_NOT_CA',
      `${where} is not a CA certificate (its basicConstraints do not say cA), so it cannot have issued device certificates${facts.issuer !== facts.subject ? `; its issuer ${facts.issuer} may be the certificate you want` : ''}. init-ad did not change anything.`,
    );
  }
  // RFC 5280 §6.1.4 (n): a CA certificate without keyUsage may sign; one with keyUsage needs keyCertSign.
  if (facts.keyCertSign === false) {
    throw new DwbError(
      'DWB_CLOUD_ISSUER_NOT_CA',
      `${where} is a CA certificate whose keyUsage does not allow signing certificates (no keyCertSign), so it cannot have issued device certificates. init-ad did not change anything.`,
    );
  }
  if (facts.notAfter.getTime() < now.getTime()) {
    throw new DwbError(
      'DWB_CLOUD_ISSUER_EXPIRED',
      `${where} expired on ${formatCertificateDate(facts.notAfter)}: AD FS would accept no device certificate through it. init-ad did not change anything.`,
    );
  }
  if (facts.notBefore.getTime() > now.getTime()) {
    throw new DwbError(
      'DWB_CLOUD_ISSUER_EXPIRED',
      `${where} is not valid until ${formatCertificateDate(facts.notBefore)}. init-ad did not change anything.`,
      {
        fix: 'Check the clock of this machine, or wait until the certificate is valid and run init-ad again.',
      },
    );
  }
  if (cert.raw.length > CLOUD_ISSUER_MAX_BYTES) {
    throw new DwbError(
      'DWB_CLOUD_ISSUER_INVALID',
      `${where} is ${cert.raw.length} bytes; a value of msDS-CloudIssuerPublicCertificates holds at most ${CLOUD_ISSUER_MAX_BYTES}. init-ad did not change anything.`,
    );
  }
  return { file, der: Buffer.from(cert.raw), facts };
}

/** Reads every --cloud-issuer file; each certificate in them once, in the order given. */
export function readCloudIssuerFiles(
  files: readonly string[],
  now: Date = new Date(),
): CloudIssuerCertificate[] {
  const issuers: CloudIssuerCertificate[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      // A regular file only: /dev/zero or a named pipe given by mistake must not be read (or waited on).
      data = readSmallFile(file, MAX_FILE_BYTES).data;
    } catch (err) {
      throw new DwbError(
        'DWB_CLOUD_ISSUER_INVALID',
        err instanceof SmallFileError && err.problem !== 'unreadable'
          ? `--cloud-issuer ${err.message}: it is not a certificate file. init-ad did not change anything.`
          : `cannot read --cloud-issuer ${file}: ${err instanceof SmallFileError ? err.errno : causeText(err)}. init-ad did not change anything.`,
      );
    }
    let certificates: X509Certificate[];
    try {
      certificates = parseCertificates(data);
    } catch (err) {
      throw new DwbError(
        'DWB_CLOUD_ISSUER_INVALID',
        `--cloud-issuer ${file} is not an X.509 certificate: ${causeText(err)}. init-ad did not change anything.`,
      );
    }
    for (const cert of certificates) {
      const judged = judgeCloudIssuer(cert, file, now);
      if (!issuers.some((i) => i.der.equals(judged.der))) issuers.push(judged);
    }
  }
  return issuers;
}

/** Warnings for issuers that expire soon (init-ad writes them all the same). */
export function expiryWarnings(issuers: readonly CloudIssuerCertificate[], now: Date = new Date()): string[] {
  return issuers.flatMap((i) => {
    const days = daysUntil(i.facts.notAfter, now);
    return days < ISSUER_EXPIRY_WARNING_DAYS
      ? [
          `the cloud issuer ${describe(i.facts)} from ${i.file} expires on ${formatCertificateDate(i.facts.notAfter)} (in ${days} day${days === 1 ? '' : 's'}): add the tenant's next issuer certificate with init-ad --cloud-issuer before then.`,
        ]
      : [];
  });
}
