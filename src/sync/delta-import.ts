// A delta pass: the changes since the watermark, whole devices merged by the connector with their
// last known state, plus every quarantined device (retried each pass with its latest state), plus
// the devices whose membership in the scope groups changed (read beside the device changes, and
// judged again from their stored cloud state). The devices go in chunks, small ones first (the
// owners of the next chunk are read from Graph while this one is written), each routed to its
// forest and written there; then, per forest, the objects that must leave it (devices removed from
// Entra ID, out of scope or unrouted, or moved to another forest that now holds them) are deleted
// under that forest's deletion threshold. Only then are removed devices forgotten; the caller
// commits the watermark.
import type { ObjectRecord } from '../state/store.js';
import { childDn } from '../ad/dn.js';
import { isGuid } from '../ad/guid.js';
import type { CloudDevice } from '../entra/types.js';
import { logger } from '../log.js';
import { rampSlices } from '../util/ramp.js';
import { exportDeletions } from './export.js';
import { BatchWriter, planRoutedBatch, readJoin } from './forest-sync.js';
import type { ForestRun, Pass } from './pass.js';
import { invalidRecordIssue, type Operation, planRemoval } from './planner.js';
import type { Router } from './routing.js';
import { relationsFor, routeBatch, type RoutedBatch } from './sync-rule.js';

/** Devices of a delta pass planned and written together (after the first, smaller ones: util/ramp). */
const DELTA_CHUNK = 500;

/** An object that must leave its forest, and why. */
interface Leaving {
  forest: string;
  deviceId: string;
  graphId: string;
  reason: string;
}

/**
 * Runs a delta pass over the forests in `active` (the others are skipped: they are reconciled from
 * the state store afterwards). Returns false when Graph refused the watermark (the caller runs a
 * full pass), else the delta link to commit once the caller has judged the forests' outcomes.
 */
export async function deltaImport(
  pass: Pass,
  router: Router,
  deltaLink: string,
  active: readonly ForestRun[],
): Promise<{ nextLink: string | undefined; forget: () => Promise<void> } | 'reset'> {
  const { store, source } = pass.context;
  pass.startGroupRead();
  const upserts = new Map<string, CloudDevice>();
  const removed = new Map<string, 'changed' | 'deleted'>();
  let nextLink: string | undefined;
  const lastKnown = async (ids: string[]): Promise<Map<string, CloudDevice>> => {
    const stored = await store.getDevices(ids);
    return new Map([...stored].map(([id, s]) => [id, s.device]));
  };
  // The quarantine is read while the changes are: only this pass changes it (read again if it did).
  const quarantinedAtStart = store.quarantined();
  quarantinedAtStart.catch(() => undefined);
  let quarantinedHere = false;
  for await (const event of source.readDevices(deltaLink, lastKnown)) {
    if (event.kind === 'reset') {
      logger().info({ reason: event.reason }, 'delta token no longer valid; switching to a full read');
      return 'reset';
    }
    const invalid = [];
    for (const change of event.changes) {
      if (change.kind === 'upsert') {
        removed.delete(change.device.id);
        upserts.set(change.device.id, change.device);
      } else if (change.kind === 'removed') {
        upserts.delete(change.id);
        removed.set(change.id, change.reason);
      } else {
        invalid.push(invalidRecordIssue(change));
      }
    }
    await pass.quarantine(invalid);
    if (invalid.length > 0) quarantinedHere = true;
    if (event.deltaLink) nextLink = event.deltaLink;
  }
  // Quarantined devices are retried every pass; they leave quarantine when they succeed.
  const quarantined = quarantinedHere ? await store.quarantined() : await quarantinedAtStart;
  const retry = quarantined.flatMap((q) =>
    q.graphId && !upserts.has(q.graphId) && !removed.has(q.graphId) ? [q.graphId] : [],
  );
  for (const [id, stored] of await store.getDevices(retry)) upserts.set(id, stored.device);
  // Devices that entered or left the scope groups: judged again from what the store knows of them
  // (a device the store does not know yet comes with the device changes, when Graph has it).
  const round = await pass.groups();
  if (round && round.changedDevices.size > 0) {
    const regrouped = [...round.changedDevices].filter((id) => !upserts.has(id) && !removed.has(id));
    for (const [id, stored] of await store.getDevices(regrouped)) upserts.set(id, stored.device);
  }

  const activeNames = new Set(active.map((r) => r.name));
  const leaving: Leaving[] = [];
  const chunks = rampSlices([...upserts.values()], DELTA_CHUNK);
  let relations = relationsFor(pass, chunks[0] ?? []);
  // Each chunk is routed and planned while the previous ones are still being written, so that the
  // domain controllers do not wait for the planning between chunks; each forest writes its part of
  // a chunk once its part of the previous one is written. The owners of the next chunk are read
  // once this one is handed to the writer, not before: reading them all at the start of a pass
  // would take the CPU from the domain controllers when they start writing (and from the product).
  const writer = new BatchWriter();
  try {
    for (const [i, chunk] of chunks.entries()) {
      const current = relations;
      const next = chunks[i + 1];
      const routed = await routeBatch(pass, router, { devices: chunk, relations: current });
      const objects = groupByDevice(await store.objectsOfDevices(chunk.map((d) => d.id)));
      const plans = await planRoutedBatch(
        active,
        routed,
        (run, mine) =>
          readJoin(
            run,
            new Set(
              mine.flatMap((d) =>
                (objects.get(d.id) ?? []).filter((o) => o.forest === run.name).map((o) => o.deviceId),
              ),
            ),
          ),
        () => new Set(),
      );
      await writer.ready();
      writer.write(plans, (present) => noteLeaving(chunk, routed, objects, present));
      if (next) relations = relationsFor(pass, next);
    }
  } finally {
    await writer.drain(); // nothing is left being written when the pass stops (a Graph or store failure)
  }

  /** Notes which of a written chunk's devices' objects leave their forest. */
  function noteLeaving(
    chunk: readonly CloudDevice[],
    routed: RoutedBatch,
    objects: ReadonlyMap<string, ObjectRecord[]>,
    present: ReadonlyMap<string, Set<string>>,
  ): void {
    // Objects in other forests: a device moved, or no longer written anywhere (out of scope,
    // unrouted). A moved device leaves its old forest only once its new one holds it.
    const targetOf = new Map<string, string>();
    for (const [name, list] of routed.byForest) for (const d of list) targetOf.set(d.id, name);
    for (const device of chunk) {
      const target = targetOf.get(device.id) ?? null;
      for (const o of objects.get(device.id) ?? []) {
        if (o.forest === target || !activeNames.has(o.forest)) continue;
        if (target !== null && !present.get(target)?.has(device.id)) continue;
        leaving.push({
          forest: o.forest,
          deviceId: o.deviceId,
          graphId: device.id,
          reason:
            target !== null
              ? `the device moved to forest ${target} (its registered owner's forest)`
              : (routed.notWritten.get(device.id)?.reason ?? 'the device is no longer written'),
        });
      }
    }
  }

  // Devices removed from Entra ID: their objects, in every forest that has one.
  const removedIds = [...removed.keys()];
  const storedRemoved = await store.getDevices(removedIds);
  const removedObjects = groupByDevice(await store.objectsOfDevices(removedIds));
  for (const [graphId, why] of removed) {
    const reason =
      why === 'deleted' ? 'the device was deleted in Entra ID' : 'the device was soft-deleted in Entra ID';
    const records = removedObjects.get(graphId) ?? [];
    for (const o of records) if (activeNames.has(o.forest)) leaving.push({ ...o, graphId, reason });
    // A device whose object was written by a pass that crashed before recording it: with one
    // forest, its CN is still known from the device's last state.
    const deviceId = storedRemoved.get(graphId)?.device.deviceId?.toLowerCase();
    if (records.length === 0 && deviceId && !pass.context.severalForests && active[0])
      leaving.push({ forest: active[0].name, deviceId, graphId, reason });
  }

  await Promise.all(
    active.map(async (run) => {
      const mine = leaving.filter((l) => l.forest === run.name && isGuid(l.deviceId));
      if (mine.length === 0 || run.failed) return;
      try {
        const deletions: Operation[] = [];
        for (const l of mine) {
          const actual = await run.directory.readObject(childDn('CN', l.deviceId, run.containerDn));
          if (!actual) {
            if (!pass.dryRun) await store.deleteObjects(run.name, [l.deviceId]); // already gone
            continue;
          }
          const op = planRemoval(actual, l.graphId, l.reason);
          if (op) deletions.push(op);
        }
        await exportDeletions(run, deletions);
      } catch (err) {
        run.fail(err);
      }
    }),
  );

  return {
    nextLink,
    // Called once the objects are gone (or their forest, down now, will be reconciled from the
    // store, where the device must then be absent): the engine forgets the removed devices.
    forget: async () => {
      if (pass.dryRun || removedIds.length === 0) return;
      await store.forgetDevices(removedIds.map((graphId) => ({ graphId })));
    },
  };
}

function groupByDevice(records: readonly ObjectRecord[]): Map<string, ObjectRecord[]> {
  const out = new Map<string, ObjectRecord[]>();
  for (const r of records) {
    const list = out.get(r.graphId) ?? [];
    list.push(r);
    out.set(r.graphId, list);
  }
  return out;
}
