// The claim preview as a pure function: values, the 2016-schema claims, disabled devices, users.
import { describe, expect, it } from 'vitest';
import type { SchemaCapabilities } from '../../src/ad/discovery.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { sidToBytes } from '../../src/ad/sid.js';
import { CLAIM_TYPES, previewClaims } from '../../src/claims/device-claims.js';
import { cloudAnchor, type ActualObject, type AdValues } from '../../src/ad/device-object.js';

const OWNER = 'S-1-5-21-1004336348-1177238915-682003330-1105';
const OTHER = 'S-1-5-21-1004336348-1177238915-682003330-1106';
const DEVICE_ID = '6f4c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b';

function schema(attributes: string[]): SchemaCapabilities {
  const set = new Set(attributes.map((a) => a.toLowerCase()));
  return {
    classes: { 'msDS-Device': true, 'msDS-DeviceContainer': true, 'msDS-DeviceRegistrationService': true },
    attributes: new Map(),
    hasDeviceClasses: true,
    missingOptionalAttributes: [],
    has: (a) => set.has(a.toLowerCase()),
  };
}
const BASE = [
  'msDS-DeviceID',
  'displayName',
  'msDS-IsEnabled',
  'altSecurityIdentities',
  'msDS-DeviceOSType',
  'msDS-DeviceOSVersion',
  'msDS-IsManaged',
  'msDS-RegisteredOwner',
  'msDS-RegisteredUsers',
  'msDS-ApproximateLastLogonTimeStamp',
  'msDS-CloudAnchor',
];
const schema2012 = schema(BASE);
const schema2016 = schema([...BASE, 'msDS-IsCompliant', 'msDS-DeviceTrustType']);

function device(extra: Record<string, Buffer[]> = {}, enabled = 'TRUE'): ActualObject {
  const values: AdValues = new Map(
    Object.entries({
      'msDS-DeviceID': [guidToBytes(DEVICE_ID)],
      displayName: [Buffer.from('Kiosk <7>')],
      'msDS-IsEnabled': [Buffer.from(enabled)],
      altSecurityIdentities: [Buffer.from('X509:<SHA1-TP-PUBKEY>…')],
      'msDS-DeviceOSType': [Buffer.from('Windows')],
      'msDS-IsManaged': [Buffer.from('TRUE')],
      'msDS-RegisteredOwner': [sidToBytes(OWNER)],
      'msDS-RegisteredUsers': [sidToBytes(OWNER), sidToBytes(OTHER)],
      'msDS-CloudAnchor': [cloudAnchor('00000000-0000-4000-8000-000000000001')],
      ...extra,
    }),
  );
  return {
    dn: `CN=${DEVICE_ID},CN=RegisteredDevices,DC=corp,DC=example,DC=test`,
    cn: DEVICE_ID,
    values,
    objectGuid: '40f50c9d-53f0-420c-b16d-fbe1df15ed4f',
  };
}

const byName = (p: ReturnType<typeof previewClaims>) => Object.fromEntries(p.claims.map((c) => [c.name, c]));

describe('previewClaims', () => {
  it('issues every claim it has a value for, with its claim type, and says why the others are absent', () => {
    const p = previewClaims(device(), schema2012);
    expect(p).toMatchObject({
      authenticated: true,
      enabled: true,
      managedByWriteback: true,
      deviceId: DEVICE_ID,
      registeredOwner: OWNER,
    });
    const c = byName(p);
    expect(Object.keys(c)).toEqual(Object.keys(CLAIM_TYPES));
    expect(c.identifier).toMatchObject({
      type: CLAIM_TYPES.identifier,
      value: DEVICE_ID,
      absentReason: null,
    });
    expect(c.displayname!.value).toBe('Kiosk <7>');
    expect(c.ismanaged!.value).toBe('true');
    expect(c.isknown!.value).toBe('true');
    expect(c.registrationid!.value).toBe('40f50c9d-53f0-420c-b16d-fbe1df15ed4f');
    expect(c.osversion).toMatchObject({
      value: null,
      absentReason:
        'msDS-DeviceOSVersion has no value on the object (Entra ID reported no operatingSystemVersion)',
    });
    expect(c.iscompliant!.absentReason).toContain('the forest schema has no msDS-IsCompliant');
    expect(c.trusttype!.absentReason).toContain('the forest schema has no msDS-DeviceTrustType');
    expect(c.isregistereduser!.absentReason).toContain('--user');
    expect(c.deviceusagetime).toMatchObject({
      type: 'http://schemas.microsoft.com/2014/02/deviceusagetime',
      value: null,
      absentReason:
        'msDS-ApproximateLastLogonTimeStamp has no value on the object (Entra ID reported no approximateLastSignInDateTime)',
    });
    expect(c.userowner).toMatchObject({
      type: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/userowner',
      value: OWNER,
      source: 'msDS-RegisteredOwner (the SID of the user who registered the device)',
      documented: false,
    });
    expect(p.claims.filter((claim) => !claim.documented).map((claim) => claim.name)).toEqual(['userowner']);
    expect(p.verdict).toBe('AD FS authenticates the device and issues 7 device claims.');
  });

  it('deviceusagetime from msDS-ApproximateLastLogonTimeStamp (FILETIME), marked approximate', () => {
    const c = byName(
      previewClaims(
        device({ 'msDS-ApproximateLastLogonTimeStamp': [Buffer.from('134083665300000000')] }),
        schema2012,
      ),
    );
    expect(c.deviceusagetime).toMatchObject({
      value: '2025-11-23T10:15:30.000Z',
      source: 'msDS-ApproximateLastLogonTimeStamp',
      documented: true,
      note: expect.stringContaining('approximate'),
    });
    const never = byName(
      previewClaims(device({ 'msDS-ApproximateLastLogonTimeStamp': [Buffer.from('0')] }), schema2012),
    );
    expect(never.deviceusagetime!.value).toBeNull();
  });

  it('userowner is absent without msDS-RegisteredOwner', () => {
    const noOwner = device();
    noOwner.values.delete('msDS-RegisteredOwner');
    expect(byName(previewClaims(noOwner, schema2012)).userowner!.absentReason).toContain(
      'msDS-RegisteredOwner has no value on the object',
    );
  });

  it('a refused certificate: no claim at all, each saying why, and the verdict says AD FS refuses it', () => {
    const p = previewClaims(device(), schema2012, undefined, {
      certificateRefusal: 'this certificate expired on 2020-01-01 00:00 UTC',
    });
    expect(p.authenticated).toBe(false);
    expect(p.claims.every((c) => c.value === null && c.absentReason!.includes('expired'))).toBe(true);
    expect(p.verdict).toBe(
      "AD FS refuses the device's certificate, so it issues no device claims: this certificate expired on 2020-01-01 00:00 UTC.",
    );
  });

  it('with the 2016 schema: iscompliant and trusttype', () => {
    const c = byName(
      previewClaims(
        device({ 'msDS-IsCompliant': [Buffer.from('FALSE')], 'msDS-DeviceTrustType': [Buffer.from('2')] }),
        schema2016,
      ),
    );
    expect(c.iscompliant!.value).toBe('false');
    expect(c.trusttype).toMatchObject({ value: '2', note: 'ServerAd (hybrid joined)' });
    const empty = byName(previewClaims(device(), schema2016));
    expect(empty.iscompliant!.absentReason).toBe(
      'msDS-IsCompliant has no value on the object (Entra ID reported no isCompliant)',
    );
  });

  it('isregistereduser compares the user with msDS-RegisteredOwner', () => {
    const owner = previewClaims(device(), schema2012, { input: 'alice@corp', sid: OWNER.toLowerCase() });
    expect(byName(owner).isregistereduser!.value).toBe('true');
    expect(owner.user).toMatchObject({ isRegisteredOwner: true, isRegisteredUser: true });
    const other = previewClaims(device(), schema2012, { input: OTHER, sid: OTHER });
    expect(byName(other).isregistereduser!.value).toBe('false');
    expect(other.user).toMatchObject({ isRegisteredOwner: false, isRegisteredUser: true });
    const noOwner = device();
    noOwner.values.delete('msDS-RegisteredOwner');
    expect(
      byName(previewClaims(noOwner, schema2012, { input: OWNER, sid: OWNER })).isregistereduser,
    ).toMatchObject({
      value: 'false',
      note: expect.stringContaining('no user is the registered owner'),
    });
  });

  it('a disabled device gets no claims at all, each saying why', () => {
    const p = previewClaims(device({}, 'FALSE'), schema2012);
    expect(p.authenticated).toBe(false);
    expect(p.claims.every((c) => c.value === null && c.absentReason!.includes('disabled'))).toBe(true);
    expect(p.verdict).toContain('issues no device claims');
  });
});
