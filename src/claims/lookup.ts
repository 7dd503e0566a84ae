// Finds a device the way AD FS does: under the device container that the forest's
// DeviceRegistrationService names, by the altSecurityIdentities value of the certificate the device
// presents (or, for an administrator's question, by msDS-DeviceID); and resolves the signing-in user
// to the SID that isregistereduser compares with msDS-RegisteredOwner.
import type { AdConnection } from '../ad/connection.js';
import { bufs, str } from '../ad/connection.js';
import { DEVICE_READ_ATTRIBUTES, toActualObject, type ActualObject } from '../ad/device-object.js';
import { allOf, binaryEquals, equals, escapeFilterValue, filter } from '../ad/filter.js';
import { guidToBytes, isGuid } from '../ad/guid.js';
import { bytesToSid, isSid, sidToBytes } from '../ad/sid.js';
import { DwbError } from '../errors.js';
import { SHA1_TP_PUBKEY } from '../entra/device-key.js';
import type { DeviceCertificate } from './certificate.js';
import type { ClaimsUser } from './device-claims.js';

export type DeviceLookup =
  { by: 'certificate'; certificate: DeviceCertificate } | { by: 'deviceId'; deviceId: string };

export interface LookupResult {
  outcome: 'found' | 'not-found' | 'ambiguous';
  objects: ActualObject[];
  /** Which value matched: the public-key hash AD FS computes, its SubjectPublicKeyInfo variant, or the deviceId. */
  matchedBy: 'publicKey' | 'subjectPublicKeyInfo' | 'deviceId' | null;
  /** Objects that carry the certificate's thumbprint with another public-key hash. */
  nearMisses: { dn: string; value: string }[];
}

const ATTRIBUTES = [...DEVICE_READ_ATTRIBUTES];

export async function findDevice(
  conn: AdConnection,
  containerDn: string,
  lookup: DeviceLookup,
): Promise<LookupResult> {
  if (lookup.by === 'deviceId') {
    if (!isGuid(lookup.deviceId)) {
      throw new DwbError(
        'DWB_USAGE',
        `--device ${JSON.stringify(lookup.deviceId)} is not a deviceId (a GUID such as 6f4c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b).`,
      );
    }
    const entries = await conn.search(containerDn, {
      scope: 'sub',
      // msDS-DeviceID is binary: the value goes in as raw bytes, never as \hh escapes (see ad/filter.ts).
      filter: allOf(
        equals('objectClass', 'msDS-Device'),
        binaryEquals('msDS-DeviceID', guidToBytes(lookup.deviceId)),
      ),
      attributes: ATTRIBUTES,
    });
    return result(entries.map(toActualObject), 'deviceId', []);
  }
  const cert = lookup.certificate;
  const entries = await conn.search(containerDn, {
    scope: 'sub',
    filter: filter`(&(objectClass=msDS-Device)(|(altSecurityIdentities=${cert.altSecurityIdentity})(altSecurityIdentities=${cert.altSecurityIdentitySpki})))`,
    attributes: ATTRIBUTES,
  });
  // The directory matches case-insensitively; base64 is not, so keep exact matches only.
  const exact = (value: string) => (o: ActualObject) =>
    (o.values.get('altSecurityIdentities') ?? []).some((b) => b.toString('utf8') === value);
  const objects = entries.map(toActualObject);
  const byKey = objects.filter(exact(cert.altSecurityIdentity));
  const bySpki = objects.filter((o) => !byKey.includes(o) && exact(cert.altSecurityIdentitySpki)(o));
  if (byKey.length > 0 || bySpki.length > 0) {
    return result([...byKey, ...bySpki], byKey.length > 0 ? 'publicKey' : 'subjectPublicKeyInfo', []);
  }
  const prefix = `${SHA1_TP_PUBKEY}${cert.thumbprint}`;
  const near = await conn.search(containerDn, {
    scope: 'sub',
    filter: `(&(objectClass=msDS-Device)(altSecurityIdentities=${escapeFilterValue(prefix)}*))`,
    attributes: ['altSecurityIdentities'],
  });
  const nearMisses = near.flatMap((e) =>
    bufs(e, 'altSecurityIdentities')
      .map((b) => b.toString('utf8'))
      .filter((value) => value.toUpperCase().startsWith(prefix.toUpperCase()))
      .map((value) => ({ dn: e.dn, value })),
  );
  return result([], null, nearMisses);
}

function result(
  objects: ActualObject[],
  matchedBy: LookupResult['matchedBy'],
  nearMisses: LookupResult['nearMisses'],
): LookupResult {
  return {
    outcome: objects.length === 0 ? 'not-found' : objects.length > 1 ? 'ambiguous' : 'found',
    objects,
    matchedBy: objects.length > 0 ? matchedBy : null,
    nearMisses,
  };
}

/**
 * Resolves `--user`: a UPN, a SID, DOMAIN\name or a sAMAccountName, searched in the domain. A SID
 * that names no account here is still compared as given (it may belong to another domain).
 */
export async function resolveUser(conn: AdConnection, domainDn: string, input: string): Promise<ClaimsUser> {
  const given = input.trim();
  const person = equals('objectCategory', 'person');
  let query;
  let described: string;
  if (isSid(given)) {
    query = allOf(person, binaryEquals('objectSid', sidToBytes(given)));
    described = `objectSid ${given}`;
  } else if (given.includes('@')) {
    query = filter`(&(objectCategory=person)(userPrincipalName=${given}))`;
    described = `userPrincipalName ${given}`;
  } else {
    const name = given.includes('\\') ? given.slice(given.indexOf('\\') + 1) : given;
    query = filter`(&(objectCategory=person)(sAMAccountName=${name}))`;
    described = `sAMAccountName ${name}`;
  }
  const entries = await conn.search(domainDn, {
    scope: 'sub',
    filter: query,
    attributes: ['objectSid', 'userPrincipalName'],
  });
  if (entries.length > 1) {
    throw new DwbError(
      'DWB_NOT_FOUND',
      `--user ${given}: ${entries.length} accounts have ${described} (${entries.map((e) => e.dn).join('; ')}).`,
      {
        fix: 'Give the user as a UPN or a SID, which name exactly one account.',
      },
    );
  }
  const entry = entries[0];
  if (!entry) {
    if (isSid(given)) return { input: given, sid: given.toUpperCase() };
    throw new DwbError('DWB_NOT_FOUND', `--user ${given}: no account in ${domainDn} has ${described}.`, {
      fix: 'Check the spelling, or give the user as a SID (S-1-5-21-…).',
    });
  }
  const sidBytes = bufs(entry, 'objectSid')[0];
  if (!sidBytes)
    throw new DwbError(
      'DWB_NOT_FOUND',
      `--user ${given}: ${entry.dn} has no objectSid the connector can read.`,
    );
  return {
    input: given,
    sid: bytesToSid(sidBytes),
    dn: entry.dn,
    userPrincipalName: str(entry, 'userPrincipalName'),
  };
}
