// The sync rule, for one batch of cloud devices: scope (which devices are written, and why not),
// join (the object each device has in the container, if any) and attribute flow (the desired
// object), then the plan for each device, handed to the export. The devices' cloud state is
// recorded in the state store on the way, with the reason of those not written, so that the next
// delta can merge partial records with it and every "not written" can be explained.
import { childDn } from '../ad/dn.js';
import { isGuid } from '../ad/guid.js';
import type { ActualObject } from '../ad/device-object.js';
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import type { DeviceWrite, NotWrittenReason, ObjectWrite } from '../state/store.js';
import { runBounded } from '../util/bounded.js';
import { desiredObject, valuesHash } from './attribute-flow.js';
import { exportOperations, type PendingOperation } from './export.js';
import type { Pass } from './pass.js';
import { type DeviceIssue, type Operation, planDevice, planRemoval } from './planner.js';

/** What a full pass's container scan knows about an object: enough to skip re-reading a match. */
export interface IndexedObject {
  dn: string;
  hash: string;
  managed: boolean;
  objectGuid?: string;
}

/** How a device is joined to its object: from the scan index, or by reading CN=<deviceId>. */
export interface Join {
  indexed: IndexedObject | undefined;
  read: () => Promise<ActualObject | undefined>;
  /** The device was never written: its object is presumed absent (an add that meets one re-plans). */
  presumedAbsent?: boolean;
}

export interface DeviceBatch {
  devices: CloudDevice[];
  /** The owners of the devices in scope, being read (see relationsFor). */
  relations: Promise<Map<string, DeviceRelations>>;
  /** Fingerprints the state store holds (a full pass reads them all at once). */
  storedFingerprints?: Map<string, number | null>;
  /** CNs claimed by the devices of this pass (for the full pass's sweep). */
  claimed: Set<string>;
  /** A full pass hears of devices out of scope (by CN), for the reasons of its sweep. */
  outOfScope?: (cn: string, reason: string) => void;
  join: (device: CloudDevice) => Join | undefined;
}

/** Starts reading the owners of the devices in scope; awaited later by syncDevices. */
export function relationsFor(
  pass: Pass,
  devices: readonly CloudDevice[],
): Promise<Map<string, DeviceRelations>> {
  const ids = devices.filter((d) => pass.scope.outOfScope(d) === undefined).map((d) => d.id);
  const pending =
    ids.length > 0
      ? pass.context.source.fetchRelations(ids)
      : Promise.resolve(new Map<string, DeviceRelations>());
  pending.catch(() => undefined); // awaited by the consumer; this only avoids an early unhandled rejection
  return pending;
}

/**
 * Records, plans and exports one batch. Returns the removals of devices that left the scope: in a
 * delta pass they are read here and returned, so that the deletion threshold applies to them (a
 * full pass's sweep removes them instead).
 */
export async function syncDevices(
  pass: Pass,
  batch: DeviceBatch,
  mode: 'full' | 'delta',
): Promise<Operation[]> {
  const { devices } = batch;
  if (devices.length === 0) return [];
  pass.devicesRead += devices.length;
  pass.progress('reading');
  let inScope: CloudDevice[] = [];
  const notWritten = new Map<string, NotWrittenReason>();
  for (const d of devices) {
    const why = pass.scope.outOfScope(d);
    if (why) notWritten.set(d.id, why);
    else inScope.push(d);
  }
  await pass.loadQuarantineKeys();
  const relations = await relationsOf(pass, inScope, await batch.relations);
  if (pass.scope.needsOwners) {
    // The owner rule, now that the owners of the devices that passed the others are known.
    inScope = inScope.filter((d) => {
      const why = pass.scope.ownerOutOfScope(relations.get(d.id));
      if (why) notWritten.set(d.id, why);
      return !why;
    });
  }
  const outOfScope = devices.filter((d) => notWritten.has(d.id));
  for (const d of outOfScope) {
    const why = notWritten.get(d.id)!;
    pass.countOutOfScope(why.rule);
    if (typeof d.deviceId === 'string') batch.outOfScope?.(d.deviceId.toLowerCase(), why.reason);
  }
  if (!pass.dryRun) {
    const now = new Date().toISOString();
    const writes: DeviceWrite[] = devices.map((device) => {
      const stored = batch.storedFingerprints?.get(device.id);
      batch.storedFingerprints?.delete(device.id);
      return {
        device,
        relations: relations.get(device.id) ?? null,
        notWritten: notWritten.get(device.id) ?? null,
        storedFingerprint: stored,
      };
    });
    await pass.store.putDevices(writes, now);
    await pass.release(outOfScope.map((d) => d.id));
  }

  const operations: PendingOperation[] = [];
  const unchanged: ObjectWrite[] = [];
  const issues: DeviceIssue[] = [];
  await runBounded(inScope, 8, async (device) => {
    const flow = desiredObject(device, relations.get(device.id) ?? null, pass.context.container.schema);
    const cn = flow.ok ? flow.object.deviceId : device.deviceId?.toLowerCase?.();
    if (cn) batch.claimed.add(cn);
    const join = batch.join(device);
    let actual: ActualObject | undefined;
    if (join) {
      const desiredHash = flow.ok ? valuesHash(flow.object.values) : undefined;
      const indexed = join.indexed;
      if (indexed && indexed.managed && desiredHash === indexed.hash) {
        pass.counters.unchanged++;
        unchanged.push(objectWrite(device, indexed.dn, desiredHash, indexed.objectGuid));
        return;
      }
      if (!join.presumedAbsent) actual = await join.read();
    }
    const identity = {
      graphId: device.id,
      deviceId: device.deviceId ?? null,
      displayName: device.displayName,
    };
    const plan = planDevice(flow, identity, actual, pass.containerDn, { adopt: pass.options.adopt ?? false });
    if (plan.kind === 'issue') issues.push(plan.issue);
    else if (plan.kind === 'unchanged') {
      pass.counters.unchanged++;
      unchanged.push(objectWrite(device, actual!.dn, valuesHash(actual!.values), actual!.objectGuid));
    } else {
      operations.push({
        op: plan.operation,
        device,
        hash: flow.ok ? valuesHash(flow.object.values) : undefined,
      });
    }
  });
  await pass.quarantine(issues);
  if (!pass.dryRun && unchanged.length > 0) {
    await pass.store.putObjects(unchanged);
    await pass.release(unchanged.map((u) => u.graphId));
  }
  await exportOperations(pass, operations);

  // Out of scope: a managed object of ours leaves AD (the scope rule it fails is its reason).
  const removals: Operation[] = [];
  if (mode === 'delta') {
    await runBounded(outOfScope, pass.context.directory.slots, async (device) => {
      const actual = await batch.join(device)?.read();
      const op = actual ? planRemoval(actual, device.id, notWritten.get(device.id)!.reason) : undefined;
      if (op) removals.push(op);
    });
  }
  return removals;
}

/**
 * The owners of the devices in scope. The connector leaves out a device whose owners could not be
 * read: it keeps its last known ones rather than being written without an owner.
 */
async function relationsOf(
  pass: Pass,
  inScope: readonly CloudDevice[],
  fetched: Map<string, DeviceRelations>,
): Promise<Map<string, DeviceRelations>> {
  const relations = new Map<string, DeviceRelations>();
  const missing: string[] = [];
  for (const d of inScope) {
    const r = fetched.get(d.id);
    if (r) relations.set(d.id, r);
    else missing.push(d.id);
  }
  if (missing.length > 0) {
    for (const [id, stored] of await pass.store.getDevices(missing))
      if (stored.relations) relations.set(id, stored.relations);
  }
  return relations;
}

function objectWrite(device: CloudDevice, dn: string, hash: string, objectGuid?: string): ObjectWrite {
  return {
    deviceId: device.deviceId.toLowerCase(),
    graphId: device.id,
    dn,
    objectGuid: objectGuid ?? null,
    hash,
  };
}

/** The join of a delta pass: CN=<deviceId> under the container, presumed absent if never written. */
export function deltaJoin(
  pass: Pass,
  written: ReadonlySet<string>,
): (device: CloudDevice) => Join | undefined {
  return (device) => {
    const cn = device.deviceId?.toLowerCase?.() ?? '';
    if (!isGuid(cn)) return undefined;
    const dn = childDnOf(pass, cn);
    // A device we never wrote is simply added: an object already there turns the add into a read
    // and a modify (or a conflict), so the common case costs one round trip, not two.
    return {
      indexed: undefined,
      read: () => pass.context.directory.readObject(0, dn),
      presumedAbsent: !written.has(cn),
    };
  };
}

export function childDnOf(pass: Pass, cn: string): string {
  return childDn('CN', cn, pass.containerDn);
}
