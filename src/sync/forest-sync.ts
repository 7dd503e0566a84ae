// The sync rule's join and attribute flow in one forest, for the devices routed there: each device
// is joined to its object (CN=<deviceId> in the forest's device container: from a full pass's scan
// index, or read), its desired object computed, and the plan handed to the export. Returns which
// devices the forest holds afterwards (written, or found unchanged): a device moving from another
// forest leaves that one only once it is here.
import type { ActualObject } from '../ad/device-object.js';
import { childDn } from '../ad/dn.js';
import { isGuid } from '../ad/guid.js';
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import type { ObjectWrite } from '../state/store.js';
import { runBounded } from '../util/bounded.js';
import { Breather } from '../util/breather.js';
import { desiredObject, valuesHash } from './attribute-flow.js';
import { exportOperations, type PendingOperation } from './export.js';
import type { ForestRun } from './pass.js';
import { type DeviceIssue, planDevice } from './planner.js';
import type { RoutedBatch } from './sync-rule.js';

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
  /** The device was never written here: its object is presumed absent (an add that meets one re-plans). */
  presumedAbsent?: boolean;
}

export type Joiner = (device: CloudDevice) => Join | undefined;

/** The join of a full pass: the forest's container, scanned and indexed by CN. */
export function indexJoin(run: ForestRun, index: ReadonlyMap<string, IndexedObject>): Joiner {
  return (device) => {
    const entry = index.get(device.deviceId?.toLowerCase?.() ?? '');
    return entry ? { indexed: entry, read: () => run.directory.readObject(entry.dn) } : undefined;
  };
}

/** The join of a delta pass: CN=<deviceId> under the container, presumed absent if never written. */
export function readJoin(run: ForestRun, written: ReadonlySet<string>): Joiner {
  return (device) => {
    const cn = device.deviceId?.toLowerCase?.() ?? '';
    if (!isGuid(cn)) return undefined;
    const dn = childDn('CN', cn, run.containerDn);
    // A device we never wrote is simply added: an object already there turns the add into a read
    // and a modify (or a conflict), so the common case costs one round trip, not two.
    return {
      indexed: undefined,
      read: () => run.directory.readObject(dn),
      presumedAbsent: !written.has(cn),
    };
  };
}

/** A forest's part of a batch, planned: the operations to export, and the devices it holds already. */
export interface ForestPlan {
  run: ForestRun;
  operations: PendingOperation[];
  /** Graph ids of the devices whose object is already as it should be. */
  present: Set<string>;
}

/**
 * Plans the devices routed to one forest (joins them, computes their objects, records the ones
 * already in place and quarantines the ones that cannot be written). `claimed` collects the CNs
 * they claim (for the full pass's sweep). Nothing is written to AD: see writeForestPlan.
 */
async function planForestDevices(
  run: ForestRun,
  devices: readonly CloudDevice[],
  relations: ReadonlyMap<string, DeviceRelations>,
  join: Joiner,
  claimed: Set<string>,
): Promise<ForestPlan> {
  const present = new Set<string>();
  const operations: PendingOperation[] = [];
  if (devices.length === 0) return { run, operations, present };
  const pass = run.pass;
  const schema = run.target!.container.schema;
  const unchanged: ObjectWrite[] = [];
  const issues: DeviceIssue[] = [];
  const breather = new Breather();
  await runBounded(devices, 8, async (device) => {
    await breather.breathe(); // the writes in flight go on while a large batch is planned
    const flow = desiredObject(device, relations.get(device.id) ?? null, schema);
    const cn = flow.ok ? flow.object.deviceId : device.deviceId?.toLowerCase?.();
    if (cn) claimed.add(cn);
    const joined = join(device);
    const desiredHash = flow.ok ? valuesHash(flow.object.values) : undefined;
    let actual: ActualObject | undefined;
    if (joined) {
      const indexed = joined.indexed;
      if (indexed && indexed.managed && desiredHash === indexed.hash) {
        run.counters.unchanged++;
        unchanged.push(objectWrite(run, device, indexed.dn, desiredHash, indexed.objectGuid));
        return;
      }
      if (!joined.presumedAbsent) actual = await joined.read();
    }
    const identity = {
      graphId: device.id,
      deviceId: device.deviceId ?? null,
      displayName: device.displayName,
    };
    const plan = planDevice(flow, identity, actual, run.containerDn, { adopt: pass.options.adopt ?? false });
    if (plan.kind === 'issue') issues.push({ ...plan.issue, forest: run.name });
    else if (plan.kind === 'unchanged') {
      run.counters.unchanged++;
      unchanged.push(objectWrite(run, device, actual!.dn, valuesHash(actual!.values), actual!.objectGuid));
    } else {
      operations.push({ op: plan.operation, device, hash: desiredHash });
    }
  });
  await pass.quarantine(issues);
  for (const u of unchanged) present.add(u.graphId);
  if (!pass.dryRun && unchanged.length > 0) {
    await pass.store.putObjects(unchanged);
    await pass.release(unchanged.map((u) => u.graphId));
  }
  return { run, operations, present };
}

/** Exports a forest's plan. Returns the Graph ids of the devices the forest holds afterwards. */
async function writeForestPlan(plan: ForestPlan): Promise<Set<string>> {
  for (const id of await exportOperations(plan.run, plan.operations)) plan.present.add(id);
  return plan.present;
}

/**
 * Plans each forest's part of a routed batch (a forest with nothing routed there, or failed, has
 * none). A forest whose planning fails is recorded as failed and left out; the others go on.
 */
export async function planRoutedBatch(
  runs: readonly ForestRun[],
  routed: RoutedBatch,
  join: (run: ForestRun, devices: readonly CloudDevice[]) => Joiner,
  claimed: (run: ForestRun) => Set<string>,
): Promise<ForestPlan[]> {
  const plans = await Promise.all(
    runs.map(async (run) => {
      const mine = routed.byForest.get(run.name) ?? [];
      if (mine.length === 0 || run.failed) return undefined;
      try {
        return await planForestDevices(run, mine, routed.relations, join(run, mine), claimed(run));
      } catch (err) {
        run.fail(err);
        return undefined;
      }
    }),
  );
  return plans.filter((p): p is ForestPlan => p !== undefined);
}

/**
 * Writes a pass's planned batches, each forest at its own pace: a forest's part of a batch is
 * written once its part of the previous batch is, without waiting for the other forests (a slow or
 * larger forest does not hold back the others at every batch). A forest whose export fails is
 * recorded as failed; its later parts are skipped. The planning stays at most `lookAhead` batches
 * ahead of the slowest forest (see ready), so that a slow forest holds only a few planned batches.
 */
export class BatchWriter {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly queued: Promise<void>[] = [];

  constructor(private readonly lookAhead = 2) {}

  /** Waits until fewer than `lookAhead` batches are queued or being written. */
  async ready(): Promise<void> {
    while (this.queued.length >= this.lookAhead) await this.queued.shift();
  }

  /**
   * Queues a planned batch. Once every forest has written its part, `done` is told, for each forest
   * written, the Graph ids of the devices it holds afterwards.
   */
  write(plans: readonly ForestPlan[], done: (present: ReadonlyMap<string, Set<string>>) => void): void {
    const present = new Map<string, Set<string>>();
    const parts = plans.map((plan) => {
      const name = plan.run.name;
      const part = (this.tails.get(name) ?? Promise.resolve()).then(async () => {
        if (plan.run.failed) return;
        try {
          present.set(name, await writeForestPlan(plan));
        } catch (err) {
          plan.run.fail(err);
        }
      });
      this.tails.set(name, part);
      return part;
    });
    this.queued.push(Promise.all(parts).then(() => done(present)));
  }

  /** Waits for every queued batch to be written (all of them, even when one's `done` threw). */
  async drain(): Promise<void> {
    const results = await Promise.allSettled(this.queued.splice(0));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }
}

/**
 * Plans and exports the devices routed to one forest. Returns the Graph ids of the devices the
 * forest holds afterwards (written, or found unchanged): a device moving from another forest
 * leaves that one only once it is here.
 */
export async function syncForestDevices(
  run: ForestRun,
  devices: readonly CloudDevice[],
  relations: ReadonlyMap<string, DeviceRelations>,
  join: Joiner,
  claimed: Set<string>,
): Promise<Set<string>> {
  return writeForestPlan(await planForestDevices(run, devices, relations, join, claimed));
}

function objectWrite(
  run: ForestRun,
  device: CloudDevice,
  dn: string,
  hash: string,
  objectGuid?: string,
): ObjectWrite {
  return {
    forest: run.name,
    deviceId: device.deviceId.toLowerCase(),
    graphId: device.id,
    dn,
    objectGuid: objectGuid ?? null,
    hash,
  };
}
