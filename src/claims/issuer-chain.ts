// Would AD FS accept this device certificate at all? Before it looks the device up, AD FS validates
// the client certificate with "IssuedByDrs" ([MS-ADFSPIP] 2.2.2.15, 3.11.5.1: the certificate
// SHOULD have been issued by one of the device certificate issuers), which for a device registered
// in Entra ID are the cloud DRS issuers of msDS-CloudIssuerPublicCertificates, with
// msDS-CloudIsEnabled TRUE — so the published documents indicate (see ad/registration-service.ts).
// Here: issued by (names match, and the signature verifies with the issuer's key), both inside
// their validity period, cloud DRS enabled. Pure.
import type { X509Certificate } from 'node:crypto';
import {
  CLOUD_ENABLED_ATTRIBUTE,
  CLOUD_ISSUER_ATTRIBUTE,
  isTrue,
  type CloudIssuer,
  type RegistrationServiceSettings,
} from '../ad/registration-service.js';
import { certificateFacts, formatCertificateDate } from '../tls/x509.js';

export type TrustOutcome =
  | 'issued-by-drs'
  | 'no-registration-service'
  | 'no-cloud-issuer'
  | 'other-issuer'
  | 'expired'
  | 'not-yet-valid'
  | 'issuer-expired'
  | 'cloud-disabled';

export interface IssuerSummary {
  subject: string;
  thumbprint: string;
  notAfter: string;
}

export interface CertificateTrust {
  outcome: TrustOutcome;
  /** AD FS accepts the certificate as issued by the cloud DRS. */
  accepted: boolean;
  /** The cloud issuer that signed the certificate, when one did. */
  issuedBy: IssuerSummary | null;
  /** Why AD FS refuses the certificate, as a clause; null when it accepts it. */
  reason: string | null;
  /** One or two sentences: what AD FS does with the certificate. */
  verdict: string;
}

/** The Device Registration Service as `claims` read it: its DN, and its settings when it exists. */
export interface RegistrationServiceView {
  serviceDn: string;
  settings?: RegistrationServiceSettings;
}

export function summarizeIssuer(issuer: CloudIssuer): IssuerSummary | null {
  if (!issuer.facts) return null;
  return {
    subject: issuer.facts.subject,
    thumbprint: issuer.facts.thumbprint,
    notAfter: issuer.facts.notAfter.toISOString(),
  };
}

/**
 * The issuer of `device` among the cloud issuers: it issued it (names and key identifiers match,
 * checkIssued) and its key verifies the signature. `namedOnly` is a cloud issuer whose name the
 * certificate carries although it did not sign it (a look-alike CA).
 */
function findIssuer(
  device: X509Certificate,
  issuers: readonly CloudIssuer[],
): { signedBy?: CloudIssuer; namedOnly?: CloudIssuer } {
  let namedOnly: CloudIssuer | undefined;
  for (const issuer of issuers) {
    const cert = issuer.certificate;
    if (!cert) continue;
    if (device.checkIssued(cert) && device.verify(cert.publicKey)) return { signedBy: issuer };
    if (device.issuer === cert.subject) namedOnly ??= issuer;
  }
  return { namedOnly };
}

const REFUSED =
  'AD FS would refuse it at the TLS client-certificate step (certificate validation "IssuedByDrs") and issue no device claims, whatever the device object says';

export function judgeDeviceCertificate(
  device: X509Certificate,
  registration: RegistrationServiceView,
  now: Date = new Date(),
): CertificateTrust {
  const refuse = (
    outcome: TrustOutcome,
    reason: string,
    issuedBy: IssuerSummary | null = null,
    then = REFUSED,
  ) => ({
    outcome,
    accepted: false,
    issuedBy,
    reason,
    verdict: `${reason[0]!.toUpperCase()}${reason.slice(1)}: ${then}.`,
  });
  const { serviceDn, settings } = registration;
  if (!settings) {
    return refuse(
      'no-registration-service',
      `the forest has no Device Registration Service object (${serviceDn}), so AD FS has no cloud issuer to validate device certificates against`,
    );
  }
  const issuers = settings.cloudIssuers;
  if (issuers.length === 0) {
    return refuse(
      'no-cloud-issuer',
      `${serviceDn} has no ${CLOUD_ISSUER_ATTRIBUTE}, so AD FS has no cloud issuer to validate this certificate against (add it with init-ad --cloud-issuer)`,
    );
  }
  const facts = certificateFacts(device);
  const { signedBy, namedOnly } = findIssuer(device, issuers);
  if (!signedBy) {
    const known = issuers.map((i) => i.facts?.subject ?? 'a value that is not a certificate').join('; ');
    return refuse(
      'other-issuer',
      namedOnly
        ? `this certificate names ${facts.issuer} as its issuer, but its signature does not verify with the key of that cloud issuer (thumbprint ${namedOnly.facts!.thumbprint}): it was not issued by it`
        : `this certificate was issued by ${facts.issuer}, which is none of the ${issuers.length} cloud issuer${issuers.length > 1 ? 's' : ''} in ${CLOUD_ISSUER_ATTRIBUTE} (${known})`,
    );
  }
  const issuedBy = summarizeIssuer(signedBy);
  const issuerFacts = signedBy.facts!;
  if (facts.notAfter.getTime() < now.getTime()) {
    return refuse(
      'expired',
      `this certificate expired on ${formatCertificateDate(facts.notAfter)}`,
      issuedBy,
      'AD FS refuses an expired client certificate and issues no device claims; the device gets a new certificate when it registers again',
    );
  }
  if (facts.notBefore.getTime() > now.getTime()) {
    return refuse(
      'not-yet-valid',
      `this certificate is not valid until ${formatCertificateDate(facts.notBefore)}`,
      issuedBy,
      'AD FS refuses it until then and issues no device claims; check the clocks of the device and of this machine',
    );
  }
  if (issuerFacts.notAfter.getTime() < now.getTime()) {
    return refuse(
      'issuer-expired',
      `this certificate was issued by ${issuerFacts.subject}, whose certificate expired on ${formatCertificateDate(issuerFacts.notAfter)}`,
      issuedBy,
    );
  }
  if (!isTrue(settings.cloudIsEnabled)) {
    return refuse(
      'cloud-disabled',
      `this certificate was issued by the cloud issuer ${issuerFacts.subject}, but ${CLOUD_ENABLED_ATTRIBUTE} is ${settings.cloudIsEnabled ?? 'empty'}, not TRUE, so AD FS does not treat the cloud Device Registration Service as enabled`,
      issuedBy,
    );
  }
  return {
    outcome: 'issued-by-drs',
    accepted: true,
    issuedBy,
    reason: null,
    verdict: `Issued by the cloud DRS issuer ${issuerFacts.subject} (thumbprint ${issuerFacts.thumbprint}) and valid until ${formatCertificateDate(facts.notAfter)}: AD FS accepts it as a device certificate.`,
  };
}
