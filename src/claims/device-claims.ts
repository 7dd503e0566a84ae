// The device claims AD FS issues from an msDS-Device object once it has found it (by the
// certificate the device presents): each claim with its claim-type URI, its value, the attribute
// it comes from, and, when it is not issued, why. Pure: the object's values in, the preview out.
//
// What is documented and what is our reading: Microsoft lists the claim types of AD FS device
// authentication (windows-server docs, "Plan Device-based Conditional Access on-Premises", the
// complete list of AD FS 2016 and device claims) — every type below except `userowner`, which
// appears only in Microsoft's IdentityModel claim type mapping. No Microsoft document says which
// msDS-Device attribute each claim comes from: every `source` here is this product's reading of the
// attribute descriptions of [MS-ADA2] and the Device Registration technical reference.
import type { SchemaCapabilities } from '../ad/discovery.js';
import { fromFileTime } from '../ad/filetime.js';
import { bytesToGuid } from '../ad/guid.js';
import { bytesToSid } from '../ad/sid.js';
import { isProductAnchor, type ActualObject } from '../ad/device-object.js';

export const CLAIM_TYPES = {
  identifier: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/identifier',
  displayname: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/displayname',
  ostype: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/ostype',
  osversion: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/osversion',
  ismanaged: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/ismanaged',
  isregistereduser: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/isregistereduser',
  registrationid: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/registrationid',
  isknown: 'http://schemas.microsoft.com/2014/02/devicecontext/claims/isknown',
  iscompliant: 'http://schemas.microsoft.com/2014/09/devicecontext/claims/iscompliant',
  trusttype: 'http://schemas.microsoft.com/2014/09/devicecontext/claims/trusttype',
  deviceusagetime: 'http://schemas.microsoft.com/2014/02/deviceusagetime',
  userowner: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/userowner',
} as const;

export type ClaimName = keyof typeof CLAIM_TYPES;

/** Claim types that are not in Microsoft's published list of AD FS device claims. */
const UNLISTED_CLAIM_TYPES: ReadonlySet<ClaimName> = new Set(['userowner']);

/** The claim type is in Microsoft's published list of AD FS device claims. */
export function isDocumentedClaimType(name: ClaimName): boolean {
  return !UNLISTED_CLAIM_TYPES.has(name);
}

export interface DeviceClaim {
  name: ClaimName;
  type: string;
  /** The value AD FS would issue; null when the claim is not issued. */
  value: string | null;
  /** Where the value comes from (always this product's reading; see the header). */
  source: string;
  /** The claim type is in Microsoft's published list of AD FS device claims. */
  documented: boolean;
  /** Why the claim is not issued (null when it is). */
  absentReason: string | null;
  /** Extra explanation for an issued value (e.g. the meaning of a trust type). */
  note?: string;
}

/** The signing-in user, resolved in AD (or just a SID). */
export interface ClaimsUser {
  /** As given on the command line / in the form. */
  input: string;
  sid: string;
  dn?: string;
  userPrincipalName?: string;
}

export interface ClaimsPreview {
  dn: string;
  deviceId: string | null;
  displayName: string | null;
  enabled: boolean | null;
  /** Written by device-writeback (carries its msDS-CloudAnchor). */
  managedByWriteback: boolean;
  /** AD FS authenticates the device and issues device claims. */
  authenticated: boolean;
  /** One sentence: what AD FS concludes. */
  verdict: string;
  claims: DeviceClaim[];
  registeredOwner: string | null;
  registeredUsers: string[];
  user?: ClaimsUser & { isRegisteredOwner: boolean; isRegisteredUser: boolean };
}

/** msDS-DeviceTrustType values as the attribute flow writes them. */
const TRUST_TYPES: Record<string, string> = {
  '0': 'Workplace (registered device)',
  '1': 'AzureAd (Microsoft Entra joined)',
  '2': 'ServerAd (hybrid joined)',
};

const text = (values: Buffer[] | undefined): string | null => values?.[0]?.toString('utf8') ?? null;

function sidText(value: Buffer | undefined): string | null {
  if (!value) return null;
  try {
    return bytesToSid(value);
  } catch {
    return null;
  }
}

/** A FILETIME text as an ISO 8601 time; null for no value, 0 (never) or text that is not a FILETIME. */
function fileTimeText(values: Buffer[] | undefined): string | null {
  const t = text(values)?.trim();
  if (!t || !/^\d+$/.test(t) || t === '0') return null;
  const date = fromFileTime(t);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export interface PreviewOptions {
  /**
   * Why AD FS refuses the device's certificate before it looks at the object (it was not issued by
   * a cloud DRS issuer, or it expired); no claim is issued then.
   */
  certificateRefusal?: string;
}

/** Computes what AD FS would issue for this object (and, if given, this user). */
export function previewClaims(
  object: ActualObject,
  schema: SchemaCapabilities,
  user?: ClaimsUser,
  options: PreviewOptions = {},
): ClaimsPreview {
  const v = object.values;
  const idBytes = v.get('msDS-DeviceID')?.[0];
  const deviceId = idBytes && idBytes.length === 16 ? bytesToGuid(idBytes) : null;
  const displayName = text(v.get('displayName'));
  const enabledText = text(v.get('msDS-IsEnabled'));
  const enabled = enabledText === null ? null : enabledText.toUpperCase() === 'TRUE';
  const owner = sidText(v.get('msDS-RegisteredOwner')?.[0]);
  const users = (v.get('msDS-RegisteredUsers') ?? [])
    .map((b) => sidText(b))
    .filter((s): s is string => s !== null);
  const certificateRefusal = options.certificateRefusal ?? null;
  const authenticated = enabled === true && deviceId !== null && certificateRefusal === null;
  const refusal =
    certificateRefusal ??
    (enabled === false
      ? 'the device is disabled (msDS-IsEnabled is FALSE): AD FS refuses its certificate and issues no device claims'
      : enabled === null
        ? 'msDS-IsEnabled has no value: AD FS does not treat the object as an enabled device'
        : deviceId === null
          ? 'msDS-DeviceID is missing or not 16 bytes: the object is not a usable device'
          : null);

  const claims: DeviceClaim[] = [];
  const add = (
    name: ClaimName,
    source: string,
    value: string | null,
    missing: string,
    note?: string,
  ): void => {
    const documented = isDocumentedClaimType(name);
    if (refusal) {
      claims.push({ name, type: CLAIM_TYPES[name], value: null, source, documented, absentReason: refusal });
      return;
    }
    claims.push({
      name,
      type: CLAIM_TYPES[name],
      value,
      source,
      documented,
      absentReason: value === null ? missing : null,
      ...(note && value !== null ? { note } : {}),
    });
  };
  /** Why an attribute-backed claim is absent: the schema lacks the attribute, or the object has no value. */
  const missing = (attribute: string, graphProperty: string, schemaNote = ''): string =>
    schema.has(attribute)
      ? `${attribute} has no value on the object (Entra ID reported no ${graphProperty})`
      : `the forest schema has no ${attribute}${schemaNote}, so there is nothing to issue it from`;
  const bool = (attribute: string): string | null => {
    const t = text(v.get(attribute));
    return t === null ? null : t.toUpperCase() === 'TRUE' ? 'true' : 'false';
  };

  add('identifier', 'msDS-DeviceID', deviceId, 'msDS-DeviceID is missing');
  add('displayname', 'displayName', displayName, 'displayName has no value on the object');
  add(
    'ostype',
    'msDS-DeviceOSType',
    text(v.get('msDS-DeviceOSType')),
    missing('msDS-DeviceOSType', 'operatingSystem'),
  );
  add(
    'osversion',
    'msDS-DeviceOSVersion',
    text(v.get('msDS-DeviceOSVersion')),
    missing('msDS-DeviceOSVersion', 'operatingSystemVersion'),
  );
  add('ismanaged', 'msDS-IsManaged', bool('msDS-IsManaged'), missing('msDS-IsManaged', 'isManaged'));
  let registered: string | null = null;
  let registeredMissing = 'depends on who signs in: give a user (--user <UPN or SID>) to see it';
  if (user) {
    registered = owner !== null && owner.toUpperCase() === user.sid.toUpperCase() ? 'true' : 'false';
  } else if (!schema.has('msDS-RegisteredOwner')) {
    registeredMissing =
      'the forest schema has no msDS-RegisteredOwner, so AD FS cannot tell who registered the device';
  }
  add(
    'isregistereduser',
    'msDS-RegisteredOwner compared with the signing-in user’s SID',
    registered,
    registeredMissing,
    registered === 'false' && owner === null
      ? 'msDS-RegisteredOwner has no value, so no user is the registered owner'
      : undefined,
  );
  add(
    'registrationid',
    'objectGUID of the device object',
    object.objectGuid ?? null,
    'the object has no objectGUID',
  );
  add('isknown', 'found by its certificate and enabled', 'true', '');
  add(
    'iscompliant',
    'msDS-IsCompliant',
    bool('msDS-IsCompliant'),
    missing('msDS-IsCompliant', 'isCompliant', ' (Windows Server 2016 schema)'),
  );
  const trust = text(v.get('msDS-DeviceTrustType'));
  add(
    'trusttype',
    'msDS-DeviceTrustType',
    trust,
    missing('msDS-DeviceTrustType', 'trustType', ' (Windows Server 2016 schema)'),
    trust !== null ? TRUST_TYPES[trust] : undefined,
  );
  add(
    'deviceusagetime',
    'msDS-ApproximateLastLogonTimeStamp',
    fileTimeText(v.get('msDS-ApproximateLastLogonTimeStamp')),
    missing('msDS-ApproximateLastLogonTimeStamp', 'approximateLastSignInDateTime'),
    "approximate: Entra ID's approximateLastSignInDateTime as last written, which Entra ID refreshes about every 14 days",
  );
  add(
    'userowner',
    'msDS-RegisteredOwner (the SID of the user who registered the device)',
    owner,
    schema.has('msDS-RegisteredOwner')
      ? 'msDS-RegisteredOwner has no value on the object (the registered owner has no onPremisesSecurityIdentifier, or Entra ID reported none)'
      : 'the forest schema has no msDS-RegisteredOwner, so there is nothing to issue it from',
    'not in Microsoft’s list of AD FS device claims: our reading',
  );

  const preview: ClaimsPreview = {
    dn: object.dn,
    deviceId,
    displayName,
    enabled,
    managedByWriteback: isProductAnchor(v.get('msDS-CloudAnchor')?.[0]),
    authenticated,
    verdict: certificateRefusal
      ? `AD FS refuses the device's certificate, so it issues no device claims: ${certificateRefusal}.`
      : refusal
        ? `AD FS finds the object but issues no device claims: ${refusal}.`
        : `AD FS authenticates the device and issues ${claims.filter((c) => c.value !== null).length} device claims.`,
    claims,
    registeredOwner: owner,
    registeredUsers: users,
  };
  if (user) {
    const sid = user.sid.toUpperCase();
    preview.user = {
      ...user,
      isRegisteredOwner: owner !== null && owner.toUpperCase() === sid,
      isRegisteredUser: users.some((u) => u.toUpperCase() === sid),
    };
  }
  return preview;
}
