// A full pass (full reconcile): every cloud device against every object in the device container.
// Drift is repaired, objects whose device left Entra ID or the scope are swept (planner.planSweep),
// the state store forgets devices the read no longer returns, and the watermark is the read's new
// delta link.
//
// The Graph read starts at once (token, first page, its owners) and runs while the container is
// read from AD: neither waits for the other. One page of look-ahead after that: while a page is
// written to AD, the next one is read from Graph and its owners are fetched, so the slower side
// (usually the DC) sets the pace.
import { bytesToGuid } from '../ad/guid.js';
import { isManaged } from '../ad/device-object.js';
import type { CloudChange, CloudDevice, CloudReadEvent, DeviceRelations } from '../entra/types.js';
import type { NotWrittenReason, UnmanagedObject } from '../state/store.js';
import { lookahead } from '../util/lookahead.js';
import { valuesHash } from './attribute-flow.js';
import { exportDeletions } from './export.js';
import { collectGarbage, heapGuard } from './heap.js';
import type { Pass, PassOutcome } from './pass.js';
import { invalidRecordIssue, planSweep } from './planner.js';
import { relationsFor, syncDevices, type IndexedObject } from './sync-rule.js';

/** A page of the Graph read: its whole devices in scope, and their owners being fetched. */
interface PreparedPage {
  event: CloudReadEvent;
  /** Removals and invalid records (the devices are in `devices`). */
  others: CloudChange[];
  devices: CloudDevice[];
  relations: Promise<Map<string, DeviceRelations>>;
  /** The devices of the page out of scope (already recorded): their CN and why, for the sweep. */
  outOfScope: { cn: string; reason: string }[];
}

export async function fullImport(pass: Pass): Promise<PassOutcome> {
  pass.startGroupRead();
  await pass.loadQuarantineKeys();
  // What the state store holds: each device the read returns is taken out; what is left at the end
  // are devices Entra ID no longer has. Out-of-scope devices are recorded as their page arrives,
  // which needs these first.
  const storedFingerprints = pass.dryRun ? undefined : pass.store.deviceFingerprints();
  storedFingerprints?.catch(() => undefined); // awaited by the first page, or below
  const pages = lookahead(
    prepared(pass, pass.context.source.readDevices(undefined, noLastKnown), storedFingerprints),
  );
  const first = pages.next();
  first.catch(() => undefined); // awaited after the container scan
  let outcome: PassOutcome;
  try {
    outcome = await reconcile(pass, pages, first, await storedFingerprints);
  } catch (err) {
    // Do not wait for a Graph page still on its way (AD failed first): drop it when it comes.
    pages.return(undefined).catch(() => undefined);
    throw err;
  }
  await pages.return(undefined);
  collectGarbage();
  return outcome;
}

const noLastKnown = async (): Promise<Map<string, CloudDevice>> => new Map();

async function reconcile(
  pass: Pass,
  pages: AsyncGenerator<PreparedPage>,
  first: Promise<IteratorResult<PreparedPage>>,
  stored: Map<string, number | null> | undefined,
): Promise<PassOutcome> {
  const { store, directory } = pass.context;
  const index = new Map<string, IndexedObject>();
  const unmanaged: UnmanagedObject[] = [];
  for await (const page of directory.scanContainer(pass.containerDn)) {
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
  if (!pass.dryRun) await store.replaceUnmanaged(unmanaged);
  const claimed = new Set<string>();
  /** Why each managed object whose device is out of scope leaves AD (the sweep's reasons). */
  const sweepReasons = new Map<string, string>();
  const outOfScope = (cn: string, reason: string): void => {
    if (index.get(cn)?.managed) sweepReasons.set(cn, reason);
  };
  let deltaLink: string | undefined;
  let stopped = false;
  const keepHeapSmall = heapGuard();
  for (let next = await first; !next.done; next = await pages.next()) {
    keepHeapSmall();
    const { event, others, devices, relations } = next.value;
    if (event.kind === 'reset') continue; // a reset during a full read changes nothing: it is already full
    for (const o of next.value.outOfScope) outOfScope(o.cn, o.reason);
    const invalid = others.filter((c) => c.kind === 'invalid');
    await pass.quarantine(invalid.map(invalidRecordIssue));
    const invalidIds = invalid.flatMap((c) => (c.id ? [c.id] : []));
    for (const id of invalidIds) stored?.delete(id);
    // An invalid record keeps its object: the device still exists, it only failed validation.
    for (const s of (await store.getDevices(invalidIds)).values())
      if (s.device.deviceId) claimed.add(s.device.deviceId.toLowerCase());
    // (a `removed` entry in a full read: the device is simply not seen, so it is swept below)
    await syncDevices(
      pass,
      {
        devices,
        relations,
        storedFingerprints: stored,
        claimed,
        outOfScope,
        join: (device) => {
          const entry = index.get(device.deviceId?.toLowerCase?.() ?? '');
          return entry ? { indexed: entry, read: () => directory.readObject(0, entry.dn) } : undefined;
        },
      },
      'full',
    );
    if (event.deltaLink) deltaLink = event.deltaLink;
    if (pass.options.shouldStop?.()) {
      stopped = true;
      break;
    }
  }
  if (stopped || !deltaLink) return { deletionsHeld: 0, thresholdStopped: false, watermarkCommitted: false };

  const unclaimed = [...index].filter(([cn, o]) => o.managed && !claimed.has(cn)).map(([cn]) => cn);
  const known = await store.getObjects(unclaimed);
  const deletions = planSweep(
    index,
    claimed,
    (cn) => known.get(cn)?.graphId ?? null,
    (cn) => sweepReasons.get(cn),
  );
  const held = await exportDeletions(pass, deletions);
  if (!pass.dryRun && stored) await store.deleteDevices([...stored.keys()]);
  if (held > 0 || pass.dryRun)
    return { deletionsHeld: held, thresholdStopped: held > 0, watermarkCommitted: false };
  await store.commitWatermark(deltaLink, 'full');
  return { deletionsHeld: 0, thresholdStopped: false, watermarkCommitted: true };
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
  events: AsyncIterable<CloudReadEvent>,
  storedFingerprints: Promise<Map<string, number | null>> | undefined,
): AsyncGenerator<PreparedPage> {
  let groupsRead = false;
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
    const outOfScope: OutOfScopeDevice[] = [];
    const others: CloudChange[] = [];
    for (const change of event.changes) {
      if (change.kind !== 'upsert') {
        others.push(change);
        continue;
      }
      const why = pass.scope.outOfScope(change.device);
      if (why) outOfScope.push({ device: change.device, why });
      else devices.push(change.device);
    }
    event.changes.length = 0;
    await recordOutOfScope(pass, outOfScope, storedFingerprints);
    yield {
      event,
      others,
      devices,
      relations: relationsFor(pass, devices),
      outOfScope: outOfScope.flatMap(({ device, why }) =>
        typeof device.deviceId === 'string'
          ? [{ cn: device.deviceId.toLowerCase(), reason: why.reason }]
          : [],
      ),
    };
  }
}

interface OutOfScopeDevice {
  device: CloudDevice;
  why: NotWrittenReason;
}

async function recordOutOfScope(
  pass: Pass,
  devices: OutOfScopeDevice[],
  storedFingerprints: Promise<Map<string, number | null>> | undefined,
): Promise<void> {
  pass.devicesRead += devices.length;
  for (const { why } of devices) pass.countOutOfScope(why.rule);
  if (pass.dryRun || devices.length === 0 || !storedFingerprints) return;
  const stored = await storedFingerprints;
  await pass.store.putDevices(
    devices.map(({ device, why }) => {
      const storedFingerprint = stored.get(device.id);
      stored.delete(device.id);
      return { device, relations: null, notWritten: why, storedFingerprint };
    }),
  );
  await pass.release(devices.map((d) => d.device.id));
}
