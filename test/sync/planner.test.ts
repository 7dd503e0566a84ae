import { describe, expect, it } from 'vitest';
import type { SchemaCapabilities, AttributeSchema } from '../../src/ad/discovery.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { sidToBytes } from '../../src/ad/sid.js';
import {
  cloudAnchor,
  decodeDeviceKey,
  desiredObject,
  encodeDeviceKey,
  fromFileTime,
  isProductAnchor,
  toFileTime,
  valuesHash,
  type AdValues,
} from '../../src/sync/attribute-flow.js';
import { mergeDevice, toLdif } from '../../src/sync/engine.js';
import { diffValues, planFull, type ActualObject } from '../../src/sync/planner.js';
import { sampleDevice } from '../support/fake-source.js';

const CONTAINER = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';

function schema(missing: string[] = []): SchemaCapabilities {
  const limits: Record<string, Partial<AttributeSchema>> = {
    displayName: { rangeUpper: 256 },
    'msDS-DeviceOSType': { rangeUpper: 1024 },
    'msDS-DeviceOSVersion': { rangeUpper: 512 },
    'msDS-DevicePhysicalIDs': { rangeLower: 1, rangeUpper: 1024 },
  };
  const names = [
    'msDS-DeviceID',
    'displayName',
    'msDS-IsEnabled',
    'altSecurityIdentities',
    'msDS-DeviceOSType',
    'msDS-DeviceOSVersion',
    'msDS-DevicePhysicalIDs',
    'msDS-IsManaged',
    'msDS-IsCompliant',
    'msDS-DeviceTrustType',
    'msDS-DeviceObjectVersion',
    'msDS-ApproximateLastLogonTimeStamp',
    'msDS-RegisteredOwner',
    'msDS-RegisteredUsers',
    'msDS-CloudAnchor',
  ].filter((n) => !missing.includes(n));
  const attributes = new Map(
    names.map((n) => [
      n.toLowerCase(),
      { name: n, syntax: '', singleValued: true, ...limits[n] } as AttributeSchema,
    ]),
  );
  return {
    classes: { 'msDS-Device': true, 'msDS-DeviceContainer': true, 'msDS-DeviceRegistrationService': true },
    attributes,
    hasDeviceClasses: true,
    missingOptionalAttributes: missing,
    has: (a) => attributes.has(a.toLowerCase()),
  };
}

const owner = (sid: string) => ({ id: 'u', userPrincipalName: null, onPremisesSecurityIdentifier: sid });

function desired(n: number, overrides = {}, s = schema()) {
  const r = desiredObject(
    sampleDevice(n, overrides),
    { registeredOwners: [owner('S-1-5-21-1-2-3-1104')], registeredUsers: [owner('S-1-5-21-1-2-3-1104')] },
    s,
  );
  if (!r.ok) throw new Error(r.message);
  return r.object;
}

function actualFrom(values: AdValues, cn: string): ActualObject {
  return { dn: `CN=${cn},${CONTAINER}`, cn, values: new Map(values) };
}

describe('attribute flow', () => {
  it('maps every SPEC §2 attribute to its AD form', () => {
    const o = desired(1);
    const d = sampleDevice(1);
    expect(o.deviceId).toBe(d.deviceId);
    expect(o.values.get('msDS-DeviceID')![0]!.equals(guidToBytes(d.deviceId))).toBe(true);
    expect(o.values.get('msDS-IsEnabled')![0]!.toString()).toBe('TRUE');
    expect(o.values.get('msDS-IsManaged')![0]!.toString()).toBe('FALSE');
    expect(o.values.get('msDS-IsCompliant')![0]!.toString()).toBe('TRUE');
    expect(o.values.get('msDS-DeviceTrustType')![0]!.toString()).toBe('0');
    expect(o.values.get('msDS-DeviceObjectVersion')![0]!.toString()).toBe('2');
    expect(o.values.get('msDS-RegisteredOwner')![0]!.equals(sidToBytes('S-1-5-21-1-2-3-1104'))).toBe(true);
    expect(o.values.get('msDS-CloudAnchor')![0]!.toString()).toBe(`Device_${d.id}`);
    expect(o.values.get('altSecurityIdentities')![0]!.toString()).toMatch(
      /^X509:<SHA1-TP-PUBKEY>[0-9A-F]{40}/,
    );
  });

  it('skips attributes the schema lacks instead of failing', () => {
    const o = desired(1, {}, schema(['msDS-IsCompliant', 'msDS-DeviceTrustType']));
    expect(o.values.has('msDS-IsCompliant')).toBe(false);
    expect(o.values.has('msDS-DeviceTrustType')).toBe(false);
  });

  it('FILETIME matches the documented epoch', () => {
    expect(toFileTime('1601-01-01T00:00:00Z')).toBe('0');
    expect(toFileTime('1970-01-01T00:00:00Z')).toBe('116444736000000000');
    expect(fromFileTime(toFileTime('2026-11-20T08:15:30.000Z')).toISOString()).toBe(
      '2026-11-20T08:15:30.000Z',
    );
  });

  it('decodes device keys and refuses malformed ones', () => {
    const text = `X509:<SHA1-TP-PUBKEY>${'A1'.repeat(20)}${'b'.repeat(43)}=`;
    expect(decodeDeviceKey(encodeDeviceKey(text))).toBe(text);
    expect(() => decodeDeviceKey('!!!')).toThrow(/base64/);
    expect(() => decodeDeviceKey(encodeDeviceKey('hello'))).toThrow(/X509:</);
    expect(() => decodeDeviceKey(encodeDeviceKey('X509:<SHA1-TP-PUBKEY>short'))).toThrow(/40-hex/);
  });

  it.each([
    [{ deviceId: 'nope' }, 'DWB_DEVICE_BAD_ID'],
    [{ displayName: '' }, 'DWB_DEVICE_MISSING_VALUE'],
    [{ displayName: 'x'.repeat(257) }, 'DWB_DEVICE_VALUE_TOO_LONG'],
    [{ displayName: 'nul\u0000' }, 'DWB_DEVICE_BAD_VALUE'],
    [{ accountEnabled: null }, 'DWB_DEVICE_MISSING_VALUE'],
    [{ alternativeSecurityIds: [] }, 'DWB_DEVICE_NO_KEY'],
    [{ alternativeSecurityIds: [{ type: 1, identityProvider: null, key: 'AAAA' }] }, 'DWB_DEVICE_NO_KEY'],
    [{ approximateLastSignInDateTime: 'yesterday' }, 'DWB_DEVICE_BAD_VALUE'],
    [{ deviceVersion: 1.5 }, 'DWB_DEVICE_BAD_VALUE'],
  ])('quarantines %j with %s', (overrides, code) => {
    const r = desiredObject(sampleDevice(1, overrides as never), null, schema());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe(code);
  });

  it('a bad owner SID quarantines with DWB_DEVICE_BAD_SID', () => {
    const r = desiredObject(
      sampleDevice(1),
      { registeredOwners: [owner('S-1-x')], registeredUsers: [] },
      schema(),
    );
    expect(r.ok ? 'ok' : r.code).toBe('DWB_DEVICE_BAD_SID');
  });

  it('recognises only its own anchors', () => {
    expect(isProductAnchor(cloudAnchor('0b7c6a2e-1111-4222-8333-944455556666'))).toBe(true);
    expect(isProductAnchor(Buffer.from('User_123'))).toBe(false);
    expect(isProductAnchor(undefined)).toBe(false);
  });

  it('hashes ignore multi-value order', () => {
    const a: AdValues = new Map([['altSecurityIdentities', [Buffer.from('a'), Buffer.from('b')]]]);
    const b: AdValues = new Map([['altSecurityIdentities', [Buffer.from('b'), Buffer.from('a')]]]);
    expect(valuesHash(a)).toBe(valuesHash(b));
  });
});

describe('planner', () => {
  it('adds missing devices as direct children named CN=<deviceId>', () => {
    const plan = planFull(
      [{ flow: { ok: true, object: desired(1) }, graphId: 'g1', deviceId: null, displayName: null }],
      [],
      CONTAINER,
      { adopt: false },
    );
    expect(plan.operations).toHaveLength(1);
    expect(plan.operations[0]).toMatchObject({
      kind: 'add',
      dn: `CN=${sampleDevice(1).deviceId},${CONTAINER}`,
    });
  });

  it('modifies only the attributes that differ', () => {
    const o = desired(1);
    const actual = new Map(o.values);
    actual.set('displayName', [Buffer.from('old')]);
    actual.delete('msDS-DeviceOSVersion');
    actual.set('msDS-IsCompliant', [Buffer.from('FALSE')]);
    const changes = diffValues(o.values, actual);
    expect(changes.map((c) => `${c.operation}:${c.attribute}`).sort()).toEqual([
      'replace:displayName',
      'replace:msDS-DeviceOSVersion',
      'replace:msDS-IsCompliant',
    ]);
    const gone = desired(1, { operatingSystemVersion: null });
    expect(diffValues(gone.values, o.values)).toEqual([
      { operation: 'delete', attribute: 'msDS-DeviceOSVersion', values: [] },
    ]);
  });

  it('counts identical objects as unchanged', () => {
    const o = desired(1);
    const plan = planFull(
      [{ flow: { ok: true, object: o }, graphId: 'g', deviceId: null, displayName: null }],
      [actualFrom(o.values, o.deviceId)],
      CONTAINER,
      { adopt: false },
    );
    expect(plan).toMatchObject({ operations: [], unchanged: 1 });
  });

  it('never modifies or deletes unmanaged objects; a taken CN is a conflict', () => {
    const o = desired(1);
    const foreign = new Map(o.values);
    foreign.delete('msDS-CloudAnchor');
    foreign.set('displayName', [Buffer.from('theirs')]);
    const stranger = actualFrom(new Map([['displayName', [Buffer.from('x')]]]), 'someone-else');
    const plan = planFull(
      [{ flow: { ok: true, object: o }, graphId: 'g', deviceId: null, displayName: null }],
      [actualFrom(foreign, o.deviceId), stranger],
      CONTAINER,
      { adopt: false },
    );
    expect(plan.operations).toEqual([]);
    expect(plan.issues[0]!.code).toBe('DWB_DEVICE_CONFLICT');
    expect(plan.unmanaged).toHaveLength(2);
  });

  it('adopts an unmanaged object with the same msDS-DeviceID only with --adopt', () => {
    const o = desired(1);
    const foreign = new Map(o.values);
    foreign.delete('msDS-CloudAnchor');
    const plan = planFull(
      [{ flow: { ok: true, object: o }, graphId: 'g', deviceId: null, displayName: null }],
      [actualFrom(foreign, o.deviceId)],
      CONTAINER,
      { adopt: true },
    );
    expect(plan.operations[0]).toMatchObject({ kind: 'modify', adopt: true });
    expect(
      (plan.operations[0] as { changes: { attribute: string }[] }).changes.map((c) => c.attribute),
    ).toEqual(['msDS-CloudAnchor']);
  });

  it('deletes managed objects without a desired device, and keeps quarantined devices objects', () => {
    const gone = desired(2);
    const kept = desired(3);
    const plan = planFull(
      [
        {
          flow: { ok: false, code: 'DWB_DEVICE_BAD_KEY', message: 'bad' },
          graphId: 'g3',
          deviceId: kept.deviceId,
          displayName: null,
        },
      ],
      [actualFrom(gone.values, gone.deviceId), actualFrom(kept.values, kept.deviceId)],
      CONTAINER,
      { adopt: false },
    );
    expect(plan.operations).toEqual([expect.objectContaining({ kind: 'delete', deviceId: gone.deviceId })]);
    expect(plan.issues.map((i) => i.code)).toEqual(['DWB_DEVICE_BAD_KEY']);
  });

  it('renders LDIF for dry runs', () => {
    const o = desired(1);
    const plan = planFull(
      [{ flow: { ok: true, object: o }, graphId: 'g', deviceId: null, displayName: null }],
      [],
      CONTAINER,
      { adopt: false },
    );
    const ldif = toLdif(plan.operations[0]!);
    expect(ldif).toContain(`dn: CN=${o.deviceId},${CONTAINER}\nchangetype: add\nobjectClass: msDS-Device`);
    expect(ldif).toContain(`msDS-DeviceID:: ${guidToBytes(o.deviceId).toString('base64')}`);
  });
});

describe('delta merge', () => {
  it('keeps properties a partial record does not carry, and takes explicit nulls', () => {
    const full = sampleDevice(1);
    const merged = mergeDevice(full, { id: full.id, displayName: 'new' });
    expect(merged).toEqual({ ...full, displayName: 'new' });
    expect(
      mergeDevice(full, { id: full.id, operatingSystemVersion: null }).operatingSystemVersion,
    ).toBeNull();
    const fresh = mergeDevice(undefined, { id: 'x', displayName: 'only' });
    expect(fresh.physicalIds).toEqual([]);
    expect(fresh.displayName).toBe('only');
  });
});
