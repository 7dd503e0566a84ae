// The device claims AD FS issues from an msDS-Device object once it has found it (by the
// certificate the device presents): each claim with its claim-type URI, its value, the attribute
// it comes from, and, when it is not issued, why. Pure: the object's values in, the preview out.
import type { SchemaCapabilities } from '../ad/discovery.js';
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
} as const;

export type ClaimName = keyof typeof CLAIM_TYPES;

export interface DeviceClaim {
  name: ClaimName;
  type: string;
  /** The value AD FS would issue; null when the claim is not issued. */
  value: string | null;
  /** Where the value comes from. */
  source: string;
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

/** Computes what AD FS would issue for this object (and, if given, this user). */
export function previewClaims(
  object: ActualObject,
  schema: SchemaCapabilities,
  user?: ClaimsUser,
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
  const authenticated = enabled === true && deviceId !== null;
  const refusal =
    enabled === false
      ? 'the device is disabled (msDS-IsEnabled is FALSE): AD FS refuses its certificate and issues no device claims'
      : enabled === null
        ? 'msDS-IsEnabled has no value: AD FS does not treat the object as an enabled device'
        : deviceId === null
          ? 'msDS-DeviceID is missing or not 16 bytes: the object is not a usable device'
          : null;

  const claims: DeviceClaim[] = [];
  const add = (
    name: ClaimName,
    source: string,
    value: string | null,
    missing: string,
    note?: string,
  ): void => {
    if (refusal) {
      claims.push({ name, type: CLAIM_TYPES[name], value: null, source, absentReason: refusal });
      return;
    }
    claims.push({
      name,
      type: CLAIM_TYPES[name],
      value,
      source,
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

  const preview: ClaimsPreview = {
    dn: object.dn,
    deviceId,
    displayName,
    enabled,
    managedByWriteback: isProductAnchor(v.get('msDS-CloudAnchor')?.[0]),
    authenticated,
    verdict: refusal
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
