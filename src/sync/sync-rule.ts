// The sync rule for a batch of cloud devices: scope (which devices are written, and why not), then
// routing (which forest each goes to, with several forests). Each device's cloud state is recorded
// in the state store on the way, with where it goes or why it is not written (the rule and the
// words: "out of scope: …", "unrouted: …"), so that the next delta can merge partial records with
// it and every "not written" has its reason. The join, the attribute flow and the export happen per
// forest (forest-sync.ts).
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import type { DeviceWrite, NotWrittenReason } from '../state/store.js';
import type { Pass } from './pass.js';
import { UNROUTED_RULE, type Router } from './routing.js';

export interface DeviceBatch {
  devices: CloudDevice[];
  /** The owners of the devices in scope, being read (see relationsFor). */
  relations: Promise<Map<string, DeviceRelations>>;
  /** Fingerprints the state store holds (a full pass reads them all at once). */
  storedFingerprints?: Map<string, number | null>;
}

/** Where a batch's devices go. */
export interface RoutedBatch {
  /** Forest name → the devices routed there. */
  byForest: Map<string, CloudDevice[]>;
  /** Devices not written (out of scope, unrouted): Graph id → why. */
  notWritten: Map<string, NotWrittenReason>;
  relations: Map<string, DeviceRelations>;
}

/**
 * Starts reading the owners of the devices that pass the scope rules needing only the device (the
 * owner rule and the routing need them); awaited later by routeBatch.
 */
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
 * Scope and routing for a batch; records the devices (and where they go, or why not) in the state
 * store. A device out of scope is out whatever forest it would go to.
 */
export async function routeBatch(pass: Pass, router: Router, batch: DeviceBatch): Promise<RoutedBatch> {
  const { devices } = batch;
  const routed: RoutedBatch = { byForest: new Map(), notWritten: new Map(), relations: new Map() };
  if (devices.length === 0) return routed;
  pass.devicesRead += devices.length;
  pass.progress('reading');
  await pass.loadQuarantineKeys();
  const outOfScope = new Map<string, NotWrittenReason>();
  const passing: CloudDevice[] = [];
  for (const d of devices) {
    const why = pass.scope.outOfScope(d);
    if (why) outOfScope.set(d.id, why);
    else passing.push(d);
  }
  routed.relations = await relationsOf(pass, passing, await batch.relations);
  const writes: DeviceWrite[] = [];
  for (const device of devices) {
    const relations = routed.relations.get(device.id) ?? null;
    // The owner rule, once the owners of the devices that passed the others are known.
    let why = outOfScope.get(device.id) ?? pass.scope.ownerOutOfScope(relations);
    let forest: string | null = null;
    if (why) pass.countOutOfScope(why.rule);
    else {
      const route = router.route(relations);
      if (route.forest !== null) forest = route.forest;
      else {
        why = { rule: UNROUTED_RULE, reason: route.reason };
        pass.unrouted++;
      }
    }
    if (forest !== null) {
      const list = routed.byForest.get(forest) ?? [];
      list.push(device);
      routed.byForest.set(forest, list);
    } else routed.notWritten.set(device.id, why!);
    const storedFingerprint = batch.storedFingerprints?.get(device.id);
    batch.storedFingerprints?.delete(device.id);
    writes.push({
      device,
      relations,
      storedFingerprint,
      forest,
      reason: why?.reason ?? null,
      rule: why?.rule ?? null,
    });
  }
  if (!pass.dryRun) {
    await pass.store.putDevices(writes, new Date().toISOString());
    await pass.release([...routed.notWritten.keys()]);
  }
  return routed;
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
