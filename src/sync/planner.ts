// The planner: a pure function from desired devices and actual objects in the device container to
// LDAP operations. Adds, modifies (only the attributes that differ, compared in AD form) and deletes
// (managed objects only); anything else is an issue for that one device. No I/O here.
import { childDn } from '../ad/dn.js';
import {
  type AdValues,
  type DesiredObject,
  type DeviceErrorCode,
  type FlowResult,
  MANAGED_ATTRIBUTES,
  isProductAnchor,
} from './attribute-flow.js';

/** An object found in the device container. */
export interface ActualObject {
  dn: string;
  /** The CN (for our objects, the deviceId). */
  cn: string;
  /** Managed attributes as AD returned them. */
  values: AdValues;
  objectGuid?: string;
}

export interface AttributeChange {
  operation: 'replace' | 'delete';
  attribute: string;
  values: Buffer[];
}

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

export function isManaged(actual: ActualObject): boolean {
  return isProductAnchor(actual.values.get('msDS-CloudAnchor')?.[0]);
}

function sameValues(a: Buffer[] | undefined, b: Buffer[] | undefined): boolean {
  const x = (a ?? []).map((v) => v.toString('hex')).sort();
  const y = (b ?? []).map((v) => v.toString('hex')).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The attribute changes that turn `actual` into `desired` (only what differs). */
export function diffValues(desired: AdValues, actual: AdValues): AttributeChange[] {
  const changes: AttributeChange[] = [];
  for (const attribute of MANAGED_ATTRIBUTES) {
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

export interface DesiredEntry {
  flow: FlowResult;
  graphId: string;
  deviceId: string | null;
  displayName: string | null;
}

export interface Plan {
  operations: Operation[];
  issues: DeviceIssue[];
  unchanged: number;
  /** Objects in the container that are not ours. */
  unmanaged: ActualObject[];
}

/**
 * The whole-container plan of a full reconcile: every desired device against every actual object;
 * managed objects with no desired device are deleted.
 */
export function planFull(
  desired: DesiredEntry[],
  actual: ActualObject[],
  containerDn: string,
  options: { adopt: boolean },
): Plan {
  const byCn = new Map(actual.map((a) => [a.cn.toLowerCase(), a]));
  const claimed = new Set<string>();
  const plan: Plan = {
    operations: [],
    issues: [],
    unchanged: 0,
    unmanaged: actual.filter((a) => !isManaged(a)),
  };
  for (const entry of desired) {
    const cn = entry.flow.ok ? entry.flow.object.deviceId : entry.deviceId?.toLowerCase();
    const found = cn ? byCn.get(cn) : undefined;
    if (cn) claimed.add(cn);
    const result = planDevice(entry.flow, entry, found, containerDn, options);
    if (result.kind === 'operation') plan.operations.push(result.operation);
    else if (result.kind === 'unchanged') plan.unchanged++;
    else plan.issues.push(result.issue);
  }
  for (const a of actual) {
    if (claimed.has(a.cn.toLowerCase())) continue;
    const op = planRemoval(a, null, 'the device no longer exists in Entra ID or is out of scope');
    if (op) plan.operations.push(op);
  }
  return plan;
}
