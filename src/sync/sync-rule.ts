// The sync rule for a batch of cloud devices: scope (which devices are written), then routing
// (which forest each goes to, with several forests). Each device's cloud state is recorded in the
// state store on the way, with where it goes or why it is not written, so that the next delta can
// merge partial records with it and every "not written" has its reason. The join, the attribute
// flow and the export happen per forest (forest-sync.ts).
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import type { DeviceWrite } from '../state/store.js';
import type { Pass } from './pass.js';
import type { Route, Router } from './routing.js';

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
  /** Devices not written (out of scope, unrouted): Graph id → the reason. */
  notWritten: Map<string, string>;
  relations: Map<string, DeviceRelations>;
}

/** Starts reading the owners of the devices in scope; awaited later by routeBatch. */
export function relationsFor(
  pass: Pass,
  devices: readonly CloudDevice[],
): Promise<Map<string, DeviceRelations>> {
  const ids = devices.filter((d) => pass.scope.includes(d)).map((d) => d.id);
  const pending =
    ids.length > 0
      ? pass.context.source.fetchRelations(ids)
      : Promise.resolve(new Map<string, DeviceRelations>());
  pending.catch(() => undefined); // awaited by the consumer; this only avoids an early unhandled rejection
  return pending;
}

/** Scope and routing for a batch; records the devices (and where they go) in the state store. */
export async function routeBatch(pass: Pass, router: Router, batch: DeviceBatch): Promise<RoutedBatch> {
  const { devices } = batch;
  const routed: RoutedBatch = { byForest: new Map(), notWritten: new Map(), relations: new Map() };
  if (devices.length === 0) return routed;
  pass.devicesRead += devices.length;
  pass.progress('reading');
  await pass.loadQuarantineKeys();
  const inScope = devices.filter((d) => pass.scope.includes(d));
  routed.relations = await relationsOf(pass, inScope, await batch.relations);
  const writes: DeviceWrite[] = [];
  for (const device of devices) {
    const outOfScope = pass.scope.reason(device);
    const relations = outOfScope ? null : (routed.relations.get(device.id) ?? null);
    const route: Route = outOfScope ? { forest: null, reason: outOfScope } : router.route(relations);
    if (route.forest !== null) {
      const list = routed.byForest.get(route.forest) ?? [];
      list.push(device);
      routed.byForest.set(route.forest, list);
    } else {
      routed.notWritten.set(device.id, route.reason);
      if (!outOfScope) pass.unrouted++;
    }
    const storedFingerprint = batch.storedFingerprints?.get(device.id);
    batch.storedFingerprints?.delete(device.id);
    writes.push({ device, relations, storedFingerprint, forest: route.forest, reason: route.reason });
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
