// The planner: a pure function from desired devices and actual objects in the device container to
// LDAP operations. Adds, modifies (only the attributes that differ, compared in AD form) and deletes
// (managed objects only); anything else is an issue for that one device. No I/O here.
import { DEVICE_ATTRIBUTES } from '../ad/device-attributes.js';
import { isManaged, type ActualObject, type AdValues, type AttributeChange } from '../ad/device-object.js';
import { childDn } from '../ad/dn.js';
import { deviceLdifLine, ldifAdd, ldifDelete, ldifModify } from '../ad/ldif.js';
import type { DesiredObject, DeviceErrorCode, FlowResult } from './attribute-flow.js';

export type Operation =
  | { kind: 'add'; deviceId: string; graphId: string; displayName: string; dn: string; values: AdValues }
  | {
      kind: 'modify';
      deviceId: string;
      graphId: string;
      displayName: string;
      dn: string;
      changes: AttributeChange[];
      /** Taking over an unmanaged object (sync --adopt). */
      adopt: boolean;
    }
  | { kind: 'delete'; deviceId: string; graphId: string | null; dn: string; reason: string };

export interface DeviceIssue {
  /** Graph id when known, otherwise the deviceId. */
  key: string;
  /** The forest the problem was met in (null or absent: the cloud record itself). */
  forest?: string | null;
  graphId: string | null;
  deviceId: string | null;
  displayName: string | null;
  code: DeviceErrorCode;
  message: string;
}

export type DevicePlan =
  | { kind: 'operation'; operation: Operation }
  | { kind: 'unchanged'; deviceId: string; graphId: string }
  | { kind: 'issue'; issue: DeviceIssue };

function sameValues(a: Buffer[] | undefined, b: Buffer[] | undefined): boolean {
  const x = (a ?? []).map((v) => v.toString('hex')).sort();
  const y = (b ?? []).map((v) => v.toString('hex')).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The attribute changes that turn `actual` into `desired` (only what differs). */
export function diffValues(desired: AdValues, actual: AdValues): AttributeChange[] {
  const changes: AttributeChange[] = [];
  for (const attribute of DEVICE_ATTRIBUTES) {
    const want = desired.get(attribute);
    const have = actual.get(attribute);
    if (sameValues(want, have)) continue;
    if (!want || want.length === 0) changes.push({ operation: 'delete', attribute, values: [] });
    else changes.push({ operation: 'replace', attribute, values: want });
  }
  return changes;
}

/**
 * Plans one in-scope device. `flow` is the attribute flow's result for it, `actual` the object at
 * CN=<deviceId> in the container, if any.
 */
export function planDevice(
  flow: FlowResult,
  identity: { graphId: string; deviceId: string | null; displayName: string | null },
  actual: ActualObject | undefined,
  containerDn: string,
  options: { adopt: boolean },
): DevicePlan {
  if (!flow.ok) {
    return {
      kind: 'issue',
      issue: {
        key: identity.graphId,
        graphId: identity.graphId,
        deviceId: identity.deviceId,
        displayName: identity.displayName,
        code: flow.code,
        message: flow.message,
      },
    };
  }
  const desired: DesiredObject = flow.object;
  const base = { deviceId: desired.deviceId, graphId: desired.graphId, displayName: desired.displayName };
  if (!actual) {
    return {
      kind: 'operation',
      operation: {
        kind: 'add',
        ...base,
        dn: childDn('CN', desired.deviceId, containerDn),
        values: desired.values,
      },
    };
  }
  const managed = isManaged(actual);
  let adopt = false;
  if (!managed) {
    const sameDevice = sameValues(actual.values.get('msDS-DeviceID'), desired.values.get('msDS-DeviceID'));
    if (!(options.adopt && sameDevice)) {
      return {
        kind: 'issue',
        issue: {
          key: desired.graphId,
          graphId: desired.graphId,
          deviceId: desired.deviceId,
          displayName: desired.displayName,
          code: 'DWB_DEVICE_CONFLICT',
          message: sameDevice
            ? `${actual.dn} already exists and was not written by device-writeback (no msDS-CloudAnchor of ours); it is left alone. Run "sync --adopt" to take it over (migration from Azure AD Connect).`
            : `${actual.dn} is taken by an object that was not written by device-writeback and has a different msDS-DeviceID; it is left alone. Move or delete it by hand if it is stale.`,
        },
      };
    }
    adopt = true;
  }
  const changes = diffValues(desired.values, actual.values);
  if (changes.length === 0)
    return { kind: 'unchanged', deviceId: desired.deviceId, graphId: desired.graphId };
  return { kind: 'operation', operation: { kind: 'modify', ...base, dn: actual.dn, changes, adopt } };
}

/** Plans the removal of an object whose device left the cloud or the scope; unmanaged objects stay. */
export function planRemoval(
  actual: ActualObject,
  graphId: string | null,
  reason: string,
): Operation | undefined {
  if (!isManaged(actual)) return undefined;
  return { kind: 'delete', deviceId: actual.cn.toLowerCase(), graphId, dn: actual.dn, reason };
}

/** What a full pass's container scan knows about one object, to plan without re-reading it. */
export interface ScannedObject {
  dn: string;
  managed: boolean;
}

/**
 * The deletion sweep of a full reconcile: every managed object in the container that no in-scope
 * cloud device claimed leaves AD. `scanned` is keyed by lower-case CN, `claimed` holds the CNs the
 * pass's devices claimed, `graphIdOf` names the device an object was written for, when known, and
 * `reasonOf` why a device still in Entra ID is no longer written here (out of scope, unrouted, moved
 * to another forest); otherwise it is gone from Entra ID.
 */
export function planSweep(
  scanned: ReadonlyMap<string, ScannedObject>,
  claimed: ReadonlySet<string>,
  graphIdOf: (cn: string) => string | null,
  /** Objects kept although unclaimed: devices moving to a forest that has not written them yet. */
  kept: ReadonlySet<string> = new Set(),
  reasonOf: (cn: string) => string | undefined = () => undefined,
): Operation[] {
  const deletions: Operation[] = [];
  for (const [cn, object] of scanned) {
    if (claimed.has(cn) || kept.has(cn) || !object.managed) continue;
    deletions.push({
      kind: 'delete',
      deviceId: cn,
      graphId: graphIdOf(cn),
      dn: object.dn,
      reason: reasonOf(cn) ?? 'the device no longer exists in Entra ID',
    });
  }
  return deletions;
}

/** An operation as LDIF, as ldapmodify would take it (for `sync --dry-run`). */
export function operationLdif(op: Operation): string {
  if (op.kind === 'add') {
    return ldifAdd(op.dn, [['objectClass', ['msDS-Device']], ...op.values], deviceLdifLine);
  }
  if (op.kind === 'delete') return ldifDelete(op.dn);
  return ldifModify(op.dn, op.changes, deviceLdifLine);
}

/** A record Graph sent that failed validation (the connector says why): that one device is quarantined. */
export function invalidRecordIssue(change: { id?: string; deviceId?: string; reason: string }): DeviceIssue {
  return {
    key: change.id ?? change.deviceId ?? 'unknown',
    graphId: change.id ?? null,
    deviceId: change.deviceId ?? null,
    displayName: null,
    code: 'DWB_DEVICE_INVALID',
    message: change.reason,
  };
}
