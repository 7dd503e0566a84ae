// A full pass (full reconcile): every cloud device against every object in each forest's device
// container. Drift is repaired, objects whose device left Entra ID, the scope or the forest are
// swept (planner.planSweep), the state store forgets devices the read no longer returns, and the
// watermark is the read's new delta link. The scope groups' membership (writeback.scope.groups) is
// read beside the container scans, before any device is judged.
//
// The Graph read starts at once (token, first page, the owners of its first few devices) and runs
// while the containers are read from AD: neither waits for the other. One batch of look-ahead after
// that: while a batch is written to AD, the next one is read from Graph and its owners are
// fetched, so the slower side (usually the DC) sets the pace. A batch is a page, except that the
// first page is cut into small batches first (util/ramp.ts). A forest that fails is left out of
// the rest of the pass; the others go on.
import { isManaged } from '../ad/device-object.js';
import { bytesToGuid } from '../ad/guid.js';
import type { CloudChange, CloudDevice, CloudReadEvent, DeviceRelations } from '../entra/types.js';
import type { UnmanagedObject } from '../state/store.js';
import { lookahead } from '../util/lookahead.js';
import { rampSlices, WARM_UP } from '../util/ramp.js';
import { valuesHash } from './attribute-flow.js';
import { exportDeletions } from './export.js';
import { BatchWriter, indexJoin, planRoutedBatch, type IndexedObject } from './forest-sync.js';
import { collectGarbage, heapGuard } from './heap.js';
import type { ForestRun, Pass } from './pass.js';
import { invalidRecordIssue, planSweep } from './planner.js';
import type { Router } from './routing.js';
import { relationsFor, routeBatch, type RoutedBatch } from './sync-rule.js';

/** A page of the Graph read: its whole devices in scope, and their owners being fetched. */
interface PreparedPage {
  event: CloudReadEvent;
  /** Removals and invalid records (the devices are in `devices`). */
  others: CloudChange[];
  devices: CloudDevice[];
  relations: Promise<Map<string, DeviceRelations>>;
  /** The devices of the page out of scope (already recorded): their CN and why, for the sweeps. */
  outOfScope: { cn: string; reason: string }[];
}

/** One forest's part of a full reconcile: its scanned container and what the pass claimed. */
export interface ForestReconcile {
  run: ForestRun;
  index: Map<string, IndexedObject>;
  claimed: Set<string>;
  /**
   * Why a managed object of this forest that no device claims leaves it, when its device is still
   * in Entra ID (out of scope, unrouted, moved to another forest): kept only for the objects the
   * container holds, so it is as small as the sweep.
   */
  reasons: Map<string, string>;
}

/** Records, for each forest's sweep, why the devices of a batch no longer go there. */
function noteRouted(
  forests: readonly ForestReconcile[],
  devices: readonly CloudDevice[],
  routed: RoutedBatch,
): void {
  const targetOf = new Map<string, string>();
  for (const [name, list] of routed.byForest) for (const d of list) targetOf.set(d.id, name);
  for (const d of devices) {
    const cn = d.deviceId?.toLowerCase?.();
    if (!cn) continue;
    const why = routed.notWritten.get(d.id)?.reason;
    const target = targetOf.get(d.id);
    for (const forest of forests) {
      if (why) noteLeaving(forest, cn, why);
      else if (target && target !== forest.run.name)
        noteLeaving(forest, cn, `the device moved to forest ${target} (its registered owner's forest)`);
    }
  }
}

/** Records why the device of a managed object of the forest no longer goes there. */
export function noteLeaving(forest: ForestReconcile, cn: string, reason: string): void {
  if (forest.index.get(cn)?.managed) forest.reasons.set(cn, reason);
}

/** Returns the read's delta link (undefined when the pass stopped early). */
export async function fullImport(
  pass: Pass,
  router: Router,
  forests: readonly ForestRun[],
): Promise<string | undefined> {
  pass.startGroupRead();
  await pass.loadQuarantineKeys();
  // What the state store holds: each device the read returns is taken out; what is left at the end
  // are devices Entra ID no longer has. Out-of-scope devices are recorded as their page arrives,
  // which needs these first.
  const storedFingerprints = pass.dryRun ? undefined : pass.store.deviceFingerprints();
  storedFingerprints?.catch(() => undefined); // awaited by the first page, or below
  const pages = lookahead(
    prepared(pass, router, pass.context.source.readDevices(undefined, noLastKnown), storedFingerprints),
  );
  const first = pages.next();
  first.catch(() => undefined); // awaited after the container scans
  let deltaLink: string | undefined;
  try {
    deltaLink = await reconcile(pass, router, forests, pages, first, await storedFingerprints);
  } catch (err) {
    // Do not wait for a Graph page still on its way (AD failed first): drop it when it comes.
    pages.return(undefined).catch(() => undefined);
    throw err;
  }
  await pages.return(undefined);
  collectGarbage();
  return deltaLink;
}

const noLastKnown = async (): Promise<Map<string, CloudDevice>> => new Map();

/** Scans a forest's container: the index by CN, and the unmanaged objects (recorded). */
export async function scanForest(run: ForestRun): Promise<ForestReconcile> {
  const index = new Map<string, IndexedObject>();
  const unmanaged: UnmanagedObject[] = [];
  for await (const page of run.directory.scanContainer(run.containerDn)) {
    for (const a of page) {
      const managed = isManaged(a);
      index.set(a.cn.toLowerCase(), {
        dn: a.dn,
        hash: valuesHash(a.values),
        managed,
        objectGuid: a.objectGuid,
      });
      if (!managed) {
        const id = a.values.get('msDS-DeviceID')?.[0];
        unmanaged.push({
          dn: a.dn,
          deviceId: id && id.length === 16 ? bytesToGuid(id) : null,
          displayName: a.values.get('displayName')?.[0]?.toString('utf8') ?? null,
        });
      }
    }
  }
  if (!run.pass.dryRun) await run.pass.store.replaceUnmanaged(run.name, unmanaged);
  return { run, index, claimed: new Set(), reasons: new Map() };
}

/** The sweep of one reconciled forest: managed objects no device claimed leave it. */
export async function sweepForest(forest: ForestReconcile, kept: ReadonlySet<string>): Promise<void> {
  const { run, index, claimed } = forest;
  const unclaimed = [...index].filter(([cn, o]) => o.managed && !claimed.has(cn)).map(([cn]) => cn);
  const known = await run.pass.store.getObjects(run.name, unclaimed);
  await exportDeletions(
    run,
    planSweep(
      index,
      claimed,
      (cn) => known.get(cn)?.graphId ?? null,
      kept,
      (cn) => forest.reasons.get(cn),
    ),
  );
}

async function reconcile(
  pass: Pass,
  router: Router,
  runs: readonly ForestRun[],
  pages: AsyncGenerator<PreparedPage>,
  first: Promise<IteratorResult<PreparedPage>>,
  stored: Map<string, number | null> | undefined,
): Promise<string | undefined> {
  const forests = (
    await Promise.all(
      runs.map(async (run) => {
        try {
          return await scanForest(run);
        } catch (err) {
          run.fail(err);
          return undefined;
        }
      }),
    )
  ).filter((f): f is ForestReconcile => f !== undefined);
  const reconcileOf = new Map(forests.map((f) => [f.run, f]));
  // CNs of devices routed to a forest that does not hold them (it failed, or quarantined them):
  // their copies elsewhere stay until it does (a moved device is created before it is deleted).
  const kept = new Set<string>();
  let deltaLink: string | undefined;
  const keepHeapSmall = heapGuard();
  // Each batch is planned while the previous ones are written (each forest at its own pace); what
  // a written batch tells the sweep is noted once every forest has written its part.
  const writer = new BatchWriter();
  const noteWritten = (routed: RoutedBatch, present: ReadonlyMap<string, Set<string>>): void => {
    for (const [name, held] of present)
      for (const d of routed.byForest.get(name) ?? [])
        if (!held.has(d.id) && d.deviceId) kept.add(d.deviceId.toLowerCase());
    for (const run of runs) {
      if (!run.failed) continue;
      for (const d of routed.byForest.get(run.name) ?? []) if (d.deviceId) kept.add(d.deviceId.toLowerCase());
    }
  };
  try {
    for (let next = await first; !next.done; next = await pages.next()) {
      keepHeapSmall();
      const { event, others, devices, relations, outOfScope } = next.value;
      if (event.kind === 'reset') continue; // a reset during a full read changes nothing: it is already full
      for (const o of outOfScope) for (const forest of forests) noteLeaving(forest, o.cn, o.reason);
      const invalid = others.filter((c) => c.kind === 'invalid');
      await pass.quarantine(invalid.map(invalidRecordIssue));
      const invalidIds = invalid.flatMap((c) => (c.id ? [c.id] : []));
      for (const id of invalidIds) stored?.delete(id);
      // An invalid record keeps its objects: the device still exists, it only failed validation.
      for (const s of (await pass.store.getDevices(invalidIds)).values())
        if (s.device.deviceId) kept.add(s.device.deviceId.toLowerCase());
      // (a `removed` entry in a full read: the device is simply not seen, so it is swept below)
      const routed = await routeBatch(pass, router, { devices, relations, storedFingerprints: stored });
      noteRouted(forests, devices, routed);
      const plans = await planRoutedBatch(
        forests.map((f) => f.run),
        routed,
        (run) => indexJoin(run, reconcileOf.get(run)!.index),
        (run) => reconcileOf.get(run)!.claimed,
      );
      await writer.ready();
      writer.write(plans, (present) => noteWritten(routed, present));
      if (event.deltaLink) deltaLink = event.deltaLink;
      if (pass.options.shouldStop?.()) return undefined;
    }
  } finally {
    await writer.drain(); // nothing is left being written when the pass stops or fails
  }
  if (!deltaLink) return undefined;
  await Promise.all(
    forests.map(async (forest) => {
      if (forest.run.failed) return;
      try {
        await sweepForest(forest, kept);
      } catch (err) {
        forest.run.fail(err);
      }
    }),
  );
  if (!pass.dryRun && stored) await pass.store.deleteDevices([...stored.keys()]);
  return deltaLink;
}

/**
 * Starts fetching the owners of a page's devices in scope as soon as the page arrives, and records
 * the devices out of scope (by the rules that need only the device) at once, with their reason, so
 * that only the devices in scope wait in the look-ahead (at 100,000 devices, holding them all
 * showed in the pass's peak memory). Their objects, if any, go in the sweep. The scope groups'
 * membership is read first (beside the container scan).
 */
async function* prepared(
  pass: Pass,
  router: Router,
  events: AsyncIterable<CloudReadEvent>,
  storedFingerprints: Promise<Map<string, number | null>> | undefined,
): AsyncGenerator<PreparedPage> {
  let groupsRead = false;
  let warmUp = WARM_UP;
  for await (const event of events) {
    if (event.kind === 'reset') {
      yield { event, others: [], devices: [], relations: relationsFor(pass, []), outOfScope: [] };
      continue;
    }
    if (!groupsRead) {
      await pass.groups();
      groupsRead = true;
    }
    const devices: CloudDevice[] = [];
    const outOfScope: CloudDevice[] = [];
    const others: CloudChange[] = [];
    for (const change of event.changes) {
      if (change.kind !== 'upsert') others.push(change);
      else (pass.scope.outOfScope(change.device) ? outOfScope : devices).push(change.device);
    }
    event.changes.length = 0;
    const recorded =
      outOfScope.length > 0
        ? await routeBatch(pass, router, {
            devices: outOfScope,
            relations: Promise.resolve(new Map()),
            storedFingerprints: storedFingerprints ? await storedFingerprints : undefined,
          })
        : undefined;
    const leaving = outOfScope.flatMap((d) => {
      const why = recorded?.notWritten.get(d.id);
      return why && typeof d.deviceId === 'string'
        ? [{ cn: d.deviceId.toLowerCase(), reason: why.reason }]
        : [];
    });
    // The first page with devices is cut into small batches first, so that the first writes wait
    // only for the owners of a few devices; the page's event (its delta link) goes with its last.
    const slices =
      warmUp.length > 0 && devices.length > 0 ? rampSlices(devices, devices.length, warmUp) : [devices];
    if (devices.length > 0) warmUp = [];
    for (const [i, slice] of slices.entries()) {
      yield {
        event: i === slices.length - 1 ? event : { kind: 'page', changes: [] },
        others: i === 0 ? others : [],
        devices: slice,
        relations: relationsFor(pass, slice),
        outOfScope: i === 0 ? leaving : [],
      };
    }
  }
}
