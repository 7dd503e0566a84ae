// The settings of the forest's Device Registration Service object that decide what AD FS does with
// the devices we write, read in one place for init-ad, the checks and `claims`:
//
// - msDS-MaximumRegistrationInactivityPeriod (integer, days): when it is not zero, AD FS's stale
//   device cleanup deletes every msDS-Device whose msDS-ApproximateLastLogonTimeStamp is older
//   ([MS-DVRE] 3.1.5, StaleDeviceCleanup; Set-AdfsDeviceRegistration -MaximumInactiveDays).
// - msDS-CloudIssuerPublicCertificates (multi-valued octet string, 1..65536 bytes a value): "the
//   public keys used by the cloud DRS to sign certificates" ([MS-ADA2] 2.290). No document gives its
//   value format; each value is one DER X.509 certificate — the format [MS-DVRJ] 2.3.2 gives its
//   on-premises twin msDS-IssuerPublicCertificates, and the way Microsoft's AD FS diagnostics
//   (ADFS-tracing.ps1, GetDRSConfig) load the first value, as the bytes of an X509Certificate2.
// - msDS-CloudIsEnabled (boolean): whether the cloud DRS is enabled (IsEnabledInCloud of
//   Get-AdfsDeviceRegistration).
// All three arrived with the Windows Server 2012 R2 schema, with the class itself.
import { X509Certificate } from 'node:crypto';
import { certificateFacts, type CertificateFacts } from '../tls/x509.js';
import { type AdConnection, type AdEntry, bufs, str } from './connection.js';

export const CLOUD_ISSUER_ATTRIBUTE = 'msDS-CloudIssuerPublicCertificates';
export const CLOUD_ENABLED_ATTRIBUTE = 'msDS-CloudIsEnabled';
export const INACTIVITY_PERIOD_ATTRIBUTE = 'msDS-MaximumRegistrationInactivityPeriod';

/** The schema's rangeUpper of msDS-CloudIssuerPublicCertificates: bytes a value may hold. */
export const CLOUD_ISSUER_MAX_BYTES = 65536;

/** What init-ad, the checks and `claims` read of the Device Registration Service object. */
export const REGISTRATION_SERVICE_ATTRIBUTES = [
  'objectClass',
  'msDS-DeviceLocation',
  'msDS-IsEnabled',
  INACTIVITY_PERIOD_ATTRIBUTE,
  CLOUD_ENABLED_ATTRIBUTE,
  CLOUD_ISSUER_ATTRIBUTE,
  // Set by AD FS (Initialize-ADDeviceRegistration), never by Azure AD Connect or this product.
  'msDS-RegistrationQuota',
  'msDS-IssuerPublicCertificates',
];

/** One value of msDS-CloudIssuerPublicCertificates, decoded when it is a certificate. */
export interface CloudIssuer {
  der: Buffer;
  certificate?: X509Certificate;
  facts?: CertificateFacts;
  /** Why the value is not a usable certificate. */
  problem?: string;
}

export function decodeCloudIssuer(der: Buffer): CloudIssuer {
  try {
    const certificate = new X509Certificate(der);
    return { der, certificate, facts: certificateFacts(certificate) };
  } catch {
    return { der, problem: `a value of ${der.length} bytes that is not a DER X.509 certificate` };
  }
}

export interface RegistrationServiceSettings {
  deviceLocation?: string;
  isEnabled?: string;
  /** The raw text of msDS-MaximumRegistrationInactivityPeriod; undefined when it has no value. */
  inactivityPeriod?: string;
  /** The raw text of msDS-CloudIsEnabled (TRUE/FALSE); undefined when it has no value. */
  cloudIsEnabled?: string;
  cloudIssuers: CloudIssuer[];
  /** The object carries settings only AD FS writes: it was made by Initialize-ADDeviceRegistration. */
  madeByAdfs: boolean;
}

export function registrationServiceSettings(entry: AdEntry): RegistrationServiceSettings {
  return {
    deviceLocation: str(entry, 'msDS-DeviceLocation'),
    isEnabled: str(entry, 'msDS-IsEnabled'),
    inactivityPeriod: str(entry, INACTIVITY_PERIOD_ATTRIBUTE),
    cloudIsEnabled: str(entry, CLOUD_ENABLED_ATTRIBUTE),
    cloudIssuers: bufs(entry, CLOUD_ISSUER_ATTRIBUTE).map(decodeCloudIssuer),
    madeByAdfs:
      str(entry, 'msDS-RegistrationQuota') !== undefined ||
      bufs(entry, 'msDS-IssuerPublicCertificates').length > 0,
  };
}

/** The settings of the service object at `serviceDn`; undefined when it does not exist. */
export async function readRegistrationService(
  conn: AdConnection,
  serviceDn: string,
): Promise<RegistrationServiceSettings | undefined> {
  const entry = await conn.read(serviceDn, REGISTRATION_SERVICE_ATTRIBUTES);
  return entry ? registrationServiceSettings(entry) : undefined;
}

/** msDS-CloudIsEnabled is TRUE (LDAP booleans are the texts TRUE and FALSE). */
export function isTrue(value: string | undefined): boolean {
  return (value ?? '').toUpperCase() === 'TRUE';
}

/** The stale-device cleanup period in days; null without a value, NaN for a value that is not a number. */
export function inactivityDays(
  settings: Pick<RegistrationServiceSettings, 'inactivityPeriod'>,
): number | null {
  const text = settings.inactivityPeriod;
  if (text === undefined) return null;
  return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
}

/** Why a non-zero stale-device cleanup period matters, as one clause for messages. */
export function staleCleanupEffect(days: string | number): string {
  return `AD FS's stale-device cleanup would delete every msDS-Device, written ones included, whose msDS-ApproximateLastLogonTimeStamp is older than ${days} days, and the next full reconcile would write them again, in a loop`;
}
