// A delta pass: the changes since the watermark, whole devices merged by the connector with their
// last known state, plus every quarantined device (retried each pass with its latest state), plus
// the devices whose membership in the scope groups changed (read beside the device changes, and
// re-evaluated from their stored cloud state). The devices go in chunks (the owners of the next
// chunk are read from Graph while this one is written); removals and devices that left the scope
// are deleted under the deletion threshold; only then is the device forgotten and the watermark
// committed.
import { isGuid } from '../ad/guid.js';
import type { CloudDevice } from '../entra/types.js';
import { logger } from '../log.js';
import { exportDeletions } from './export.js';
import type { Pass, PassOutcome } from './pass.js';
import { invalidRecordIssue, type Operation, planRemoval } from './planner.js';
import { childDnOf, deltaJoin, relationsFor, syncDevices } from './sync-rule.js';

/** Devices of a delta pass planned and written together. */
const DELTA_CHUNK = 500;

/** Runs a delta pass; 'reset' when Graph refused the watermark (the caller runs a full pass). */
export async function deltaImport(pass: Pass, deltaLink: string): Promise<PassOutcome | 'reset'> {
  const { store, source } = pass.context;
  pass.startGroupRead();
  const upserts = new Map<string, CloudDevice>();
  const removed = new Map<string, 'changed' | 'deleted'>();
  let nextLink: string | undefined;
  const lastKnown = async (ids: string[]): Promise<Map<string, CloudDevice>> => {
    const stored = await store.getDevices(ids);
    return new Map([...stored].map(([id, s]) => [id, s.device]));
  };
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
    if (event.deltaLink) nextLink = event.deltaLink;
  }
  // Quarantined devices are retried every pass; they leave quarantine when they succeed.
  const retry = (await store.quarantined()).flatMap((q) =>
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

  const devices = [...upserts.values()];
  const deletions: Operation[] = [];
  let relations = relationsFor(pass, devices.slice(0, DELTA_CHUNK));
  for (let i = 0; i < devices.length; i += DELTA_CHUNK) {
    const chunk = devices.slice(i, i + DELTA_CHUNK);
    const current = relations;
    if (i + DELTA_CHUNK < devices.length)
      relations = relationsFor(pass, devices.slice(i + DELTA_CHUNK, i + 2 * DELTA_CHUNK));
    const cns = chunk.flatMap((d) => (typeof d.deviceId === 'string' ? [d.deviceId.toLowerCase()] : []));
    const written = new Set((await store.getObjects(cns)).keys());
    deletions.push(
      ...(await syncDevices(
        pass,
        { devices: chunk, relations: current, claimed: new Set(), join: deltaJoin(pass, written) },
        'delta',
      )),
    );
  }

  const forget: { graphId: string; deviceId?: string }[] = [];
  const storedRemoved = await store.getDevices([...removed.keys()]);
  const objectsRemoved = await store.getObjectsByGraphId([...removed.keys()]);
  for (const [graphId, why] of removed) {
    const deviceId = (
      storedRemoved.get(graphId)?.device.deviceId ?? objectsRemoved.get(graphId)?.deviceId
    )?.toLowerCase();
    forget.push({ graphId, deviceId });
    if (!deviceId || !isGuid(deviceId)) continue;
    const actual = await pass.context.directory.readObject(0, childDnOf(pass, deviceId));
    if (!actual) continue;
    const op = planRemoval(
      actual,
      graphId,
      why === 'deleted' ? 'the device was deleted in Entra ID' : 'the device was soft-deleted in Entra ID',
    );
    if (op) deletions.push(op);
  }
  const held = await exportDeletions(pass, deletions);
  // Only now that the objects are gone does the engine forget the devices.
  if (held === 0 && !pass.dryRun) await store.forgetDevices(forget);
  if (held > 0 || pass.dryRun || !nextLink) {
    return { deletionsHeld: held, thresholdStopped: held > 0, watermarkCommitted: false };
  }
  await store.commitWatermark(nextLink, 'delta');
  return { deletionsHeld: 0, thresholdStopped: false, watermarkCommitted: true };
}
