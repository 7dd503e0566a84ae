// The sync rule's attribute flow (SPEC §2): every attribute in the form AD stores, schema gaps
// skipped, and each value that cannot be converted quarantining its device with a stable code.
import { describe, expect, it } from 'vitest';
import type { AdValues } from '../../src/ad/device-object.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { sidToBytes } from '../../src/ad/sid.js';
import { desiredObject, valuesHash } from '../../src/sync/attribute-flow.js';
import { sampleDevice } from '../support/fake-source.js';
import { fakeSchema as schema } from '../support/schema.js';

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

  it('hashes ignore multi-value order', () => {
    const a: AdValues = new Map([['altSecurityIdentities', [Buffer.from('a'), Buffer.from('b')]]]);
    const b: AdValues = new Map([['altSecurityIdentities', [Buffer.from('b'), Buffer.from('a')]]]);
    expect(valuesHash(a)).toBe(valuesHash(b));
  });
});
