// The planner: pure, desired devices and actual objects in, operations out (adds, modifies of what
// differs, deletes of managed objects only, conflicts for unmanaged ones), the full pass's sweep,
// and the LDIF of a dry run.
import { describe, expect, it } from 'vitest';
import type { ActualObject, AdValues } from '../../src/ad/device-object.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { desiredObject } from '../../src/sync/attribute-flow.js';
import {
  diffValues,
  operationLdif,
  planDevice,
  planSweep,
  type ScannedObject,
} from '../../src/sync/planner.js';
import { sampleDevice } from '../support/fake-source.js';
import { fakeSchema as schema } from '../support/schema.js';

const CONTAINER = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';

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

const identity = (graphId: string) => ({ graphId, deviceId: null, displayName: null });

describe('planner', () => {
  it('adds missing devices as direct children named CN=<deviceId>', () => {
    const plan = planDevice({ ok: true, object: desired(1) }, identity('g1'), undefined, CONTAINER, {
      adopt: false,
    });
    expect(plan).toMatchObject({
      kind: 'operation',
      operation: { kind: 'add', dn: `CN=${sampleDevice(1).deviceId},${CONTAINER}` },
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
    const plan = planDevice(
      { ok: true, object: o },
      identity('g'),
      actualFrom(actual, o.deviceId),
      CONTAINER,
      {
        adopt: false,
      },
    );
    expect(plan).toMatchObject({ kind: 'operation', operation: { kind: 'modify', adopt: false } });
  });

  it('counts identical objects as unchanged', () => {
    const o = desired(1);
    const plan = planDevice(
      { ok: true, object: o },
      identity('g'),
      actualFrom(o.values, o.deviceId),
      CONTAINER,
      {
        adopt: false,
      },
    );
    expect(plan.kind).toBe('unchanged');
  });

  it('never modifies unmanaged objects; a taken CN is a conflict', () => {
    const o = desired(1);
    const foreign = new Map(o.values);
    foreign.delete('msDS-CloudAnchor');
    foreign.set('displayName', [Buffer.from('theirs')]);
    const plan = planDevice(
      { ok: true, object: o },
      identity('g'),
      actualFrom(foreign, o.deviceId),
      CONTAINER,
      {
        adopt: false,
      },
    );
    expect(plan.kind === 'issue' && plan.issue.code).toBe('DWB_DEVICE_CONFLICT');
    const other = new Map(foreign);
    other.set('msDS-DeviceID', [guidToBytes(sampleDevice(9).deviceId)]);
    const taken = planDevice(
      { ok: true, object: o },
      identity('g'),
      actualFrom(other, o.deviceId),
      CONTAINER,
      {
        adopt: true,
      },
    );
    expect(taken.kind === 'issue' && taken.issue.message).toMatch(/different msDS-DeviceID/);
  });

  it('adopts an unmanaged object with the same msDS-DeviceID only with --adopt', () => {
    const o = desired(1);
    const foreign = new Map(o.values);
    foreign.delete('msDS-CloudAnchor');
    const plan = planDevice(
      { ok: true, object: o },
      identity('g'),
      actualFrom(foreign, o.deviceId),
      CONTAINER,
      {
        adopt: true,
      },
    );
    expect(plan).toMatchObject({ kind: 'operation', operation: { kind: 'modify', adopt: true } });
    if (plan.kind === 'operation' && plan.operation.kind === 'modify')
      expect(plan.operation.changes.map((c) => c.attribute)).toEqual(['msDS-CloudAnchor']);
  });

  it('a device whose attribute flow failed is an issue of that device', () => {
    const plan = planDevice(
      { ok: false, code: 'DWB_DEVICE_BAD_KEY', message: 'bad' },
      identity('g3'),
      undefined,
      CONTAINER,
      {
        adopt: false,
      },
    );
    expect(plan).toMatchObject({ kind: 'issue', issue: { key: 'g3', code: 'DWB_DEVICE_BAD_KEY' } });
  });

  it('sweeps managed objects no device claimed, and never unmanaged ones', () => {
    const scanned = new Map<string, ScannedObject>([
      ['gone', { dn: `CN=gone,${CONTAINER}`, managed: true }],
      ['kept', { dn: `CN=kept,${CONTAINER}`, managed: true }],
      ['foreign', { dn: `CN=foreign,${CONTAINER}`, managed: false }],
    ]);
    const deletions = planSweep(scanned, new Set(['kept']), (cn) => (cn === 'gone' ? 'g-gone' : null));
    expect(deletions).toEqual([
      expect.objectContaining({
        kind: 'delete',
        deviceId: 'gone',
        graphId: 'g-gone',
        dn: `CN=gone,${CONTAINER}`,
      }),
    ]);
  });

  it('renders LDIF for dry runs', () => {
    const o = desired(1);
    const plan = planDevice({ ok: true, object: o }, identity('g'), undefined, CONTAINER, { adopt: false });
    if (plan.kind !== 'operation') throw new Error('expected an add');
    const ldif = operationLdif(plan.operation);
    expect(ldif).toContain(`dn: CN=${o.deviceId},${CONTAINER}\nchangetype: add\nobjectClass: msDS-Device`);
    expect(ldif).toContain(`msDS-DeviceID:: ${guidToBytes(o.deviceId).toString('base64')}`);
    expect(ldif).toContain(`msDS-CloudAnchor: Device_${sampleDevice(1).id}`);
    // text from the cloud that is not printable ASCII goes base64, never raw to a terminal
    const hostile = desired(2, { displayName: 'evil\u001b[2J\u202ename' });
    const add = planDevice({ ok: true, object: hostile }, identity('g2'), undefined, CONTAINER, {
      adopt: false,
    });
    if (add.kind !== 'operation') throw new Error('expected an add');
    const text = operationLdif(add.operation);
    expect(text).not.toMatch(/[\u001b\u202e]/);
    expect(text).toContain(`displayName:: ${Buffer.from('evil\u001b[2J\u202ename').toString('base64')}`);
  });
});
