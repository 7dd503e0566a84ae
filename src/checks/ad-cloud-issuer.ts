// ad.cloud-issuer: the Device Registration Service names the tenant's cloud DRS issuer, so that AD FS
// can accept the devices' certificates. AD FS validates that a device certificate was issued by the
// cloud Device Registration Service (the "IssuedByDrs" certificate validation of [MS-ADFSPIP]
// 2.2.2.15, 3.11.5.1) against the certificates in msDS-CloudIssuerPublicCertificates, with
// msDS-CloudIsEnabled TRUE — so the published documents indicate; see registration-service.ts.
// Lists each issuer with its subject, thumbprint and expiry; warns 30 days before one expires.
import {
  CLOUD_ENABLED_ATTRIBUTE,
  CLOUD_ISSUER_ATTRIBUTE,
  isTrue,
  type CloudIssuer,
} from '../ad/registration-service.js';
import type { ErrorCode } from '../errors.js';
import { ISSUER_EXPIRY_WARNING_DAYS } from '../prepare/cloud-issuer.js';
import { daysUntil, formatCertificateDate } from '../tls/x509.js';
import { deviceRegistration, requireDeviceSchema } from './ad-context.js';
import { CheckSkipped, initAdCommand, pass, warn } from './support.js';
import type { Check } from './types.js';

const HOW_TO_OBTAIN = 'docs/prepare-forest.md, "The cloud DRS issuer"';

function describe(issuer: CloudIssuer, now: Date): string {
  if (!issuer.facts) return issuer.problem ?? 'a value that is not a certificate';
  const { subject, thumbprint, notAfter } = issuer.facts;
  const days = daysUntil(notAfter, now);
  const state = days < 0 ? 'EXPIRED on' : 'expires';
  return `${subject}, thumbprint ${thumbprint}, ${state} ${formatCertificateDate(notAfter)}`;
}

export const adCloudIssuer: Check = {
  id: 'ad.cloud-issuer',
  title: 'AD FS can validate device certificates: the cloud DRS issuer on the Device Registration Service',
  async run(ctx) {
    await requireDeviceSchema(ctx);
    const { serviceDn, service, settings } = await deviceRegistration(ctx);
    if (!service || !settings)
      throw new CheckSkipped('no Device Registration Service object (see ad.drs-object)');
    const now = new Date();
    const command = `${initAdCommand(ctx)} --cloud-issuer <issuer.pem>`;
    const addIssuer = `Export the tenant's cloud DRS issuer certificate (MS-Organization-Access; ${HOW_TO_OBTAIN} says how), then run as an enterprise admin: ${command}`;
    const issuers = settings.cloudIssuers;
    const enabled = isTrue(settings.cloudIsEnabled);
    const enabledText = `${CLOUD_ENABLED_ATTRIBUTE} is ${settings.cloudIsEnabled ?? 'empty'}`;

    if (issuers.length === 0) {
      return warn(
        `${serviceDn} has no ${CLOUD_ISSUER_ATTRIBUTE}${enabled ? '' : ` and ${enabledText}`}: AD FS checks that a device certificate was issued by the cloud Device Registration Service ("IssuedByDrs") against these issuers, so it would refuse the certificate of every device written here and issue no device claims`,
        addIssuer,
        'DWB_AD_CLOUD_ISSUER_MISSING',
      );
    }
    const problems: string[] = [];
    const fixes: string[] = [];
    // With several problems, the code is that of the first (the one that refuses the most devices).
    const codes: ErrorCode[] = [];
    if (!enabled) {
      codes.push('DWB_AD_CLOUD_ISSUER_MISSING');
      problems.push(
        `${enabledText}, not TRUE: AD FS does not treat the cloud Device Registration Service as enabled and would refuse the certificates it issued`,
      );
      fixes.push(
        `To turn it on, run as an enterprise admin: ${command} (with the issuer's file: it adds nothing that is there already)`,
      );
    }
    const unreadable = issuers.filter((i) => !i.facts);
    if (unreadable.length > 0) {
      codes.push('DWB_AD_CLOUD_ISSUER_UNREADABLE');
      problems.push(
        `${unreadable.length} value${unreadable.length > 1 ? 's are' : ' is'} not a DER X.509 certificate, which AD FS cannot use`,
      );
      fixes.push(
        `Look at the values with ldapsearch (-b '${serviceDn}' -s base ${CLOUD_ISSUER_ATTRIBUTE}) and remove the one that is not a certificate with ldapmodify (init-ad never removes values).`,
      );
    }
    const expiring = issuers.filter(
      (i) => i.facts && daysUntil(i.facts.notAfter, now) < ISSUER_EXPIRY_WARNING_DAYS,
    );
    for (const issuer of expiring) {
      const days = daysUntil(issuer.facts!.notAfter, now);
      problems.push(
        days < 0
          ? `the issuer ${issuer.facts!.subject} (thumbprint ${issuer.facts!.thumbprint}) expired on ${formatCertificateDate(issuer.facts!.notAfter)}: AD FS refuses device certificates that chain only to it`
          : `the issuer ${issuer.facts!.subject} (thumbprint ${issuer.facts!.thumbprint}) expires in ${days} day${days === 1 ? '' : 's'}, on ${formatCertificateDate(issuer.facts!.notAfter)}`,
      );
    }
    if (expiring.length > 0) {
      codes.push('DWB_AD_CLOUD_ISSUER_EXPIRING');
      fixes.push(
        `Add the tenant's next issuer certificate before then: ${addIssuer} (the values there are kept).`,
      );
    }
    const listed = `${issuers.length} issuer${issuers.length > 1 ? 's' : ''}: ${issuers.map((i) => describe(i, now)).join('; ')}`;
    if (codes[0]) return warn(`${problems.join('; ')}. ${listed}`, fixes.join(' '), codes[0]);
    return pass(`${CLOUD_ENABLED_ATTRIBUTE} = TRUE; ${listed}`);
  },
};
