// The export: planned operations go to the device directory, a few at a time, each made idempotent
// against what a crashed earlier pass may have left behind (an add that meets an object re-plans
// against it; a delete of an object already gone is done). A failure of one object quarantines
// that device and the rest go on; a DC that stops answering ends the forest's part of the pass.
import { outcomeOf } from '../ad/outcome.js';
import type { CloudDevice } from '../entra/types.js';
import { DwbError, causeText, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { ObjectWrite } from '../state/store.js';
import { runBounded } from '../util/bounded.js';
import type { ForestRun } from './pass.js';
import { type DeviceIssue, type Operation, operationLdif, planDevice } from './planner.js';

/** An operation with what the state store records once it is done. */
export interface PendingOperation {
  op: Operation;
  device: CloudDevice | undefined;
  /** Fingerprint of the desired values (recorded in the object map). */
  hash: string | undefined;
}

/** A device problem found while exporting (an add that met an object we may not touch). */
class DeviceIssueError extends Error {
  constructor(readonly issue: DeviceIssue) {
    super(issue.message);
  }
}

type Applied = 'created' | 'updated' | 'adopted' | 'unchanged' | 'deleted';

/**
 * Applies operations to one forest with bounded concurrency; in a dry run, only lists them. Returns
 * the Graph ids of the devices whose object is now in place (a dry run: those it would write).
 */
export async function exportOperations(
  run: ForestRun,
  items: readonly PendingOperation[],
): Promise<Set<string>> {
  const placed = new Set<string>();
  if (items.length === 0) return placed;
  const pass = run.pass;
  if (pass.operations) {
    for (const { op } of items) {
      pass.operations.push({
        action: op.kind,
        dn: op.dn,
        deviceId: op.deviceId,
        ...(op.kind === 'modify' && op.adopt ? { adopt: true } : {}),
        ...(op.kind === 'delete' ? { reason: op.reason } : {}),
        ...(pass.context.severalForests ? { forest: run.name } : {}),
        ldif: operationLdif(op),
      });
      count(
        run,
        op,
        op.kind === 'add' ? 'created' : op.kind === 'delete' ? 'deleted' : op.adopt ? 'adopted' : 'updated',
      );
      if (op.kind !== 'delete') placed.add(op.graphId);
    }
    return placed;
  }
  pass.progress('writing');
  const directory = run.directory;
  const written: ObjectWrite[] = [];
  const deleted: string[] = [];
  const issues: DeviceIssue[] = [];
  const released: string[] = [];
  try {
    await runBounded(items, directory.inFlight, async ({ op, device, hash }) => {
      try {
        const applied = await applyOne(run, op);
        count(run, op, applied);
        if (op.kind === 'delete') deleted.push(op.deviceId);
        else if (device && hash) {
          written.push({
            forest: run.name,
            deviceId: device.deviceId.toLowerCase(),
            graphId: device.id,
            dn: op.dn,
            objectGuid: null,
            hash,
          });
          released.push(device.id);
          placed.add(device.id);
        }
      } catch (err) {
        // This instance may not write any more (it no longer leads its group): the pass ends.
        if (isDwbError(err) && err.code === 'DWB_STATE_FENCED') throw err;
        if (err instanceof DeviceIssueError) {
          issues.push({
            ...err.issue,
            forest: run.name,
            displayName: device?.displayName ?? err.issue.displayName,
          });
          return;
        }
        if (outcomeOf(err) === 'transient') {
          throw new DwbError(
            'DWB_AD_UNREACHABLE',
            `the domain controller stopped answering during the sync: ${causeText(err)}`,
            { cause: err },
          );
        }
        issues.push({
          key: device?.id ?? op.deviceId,
          forest: run.name,
          graphId: device?.id ?? op.graphId,
          deviceId: op.deviceId,
          displayName: device?.displayName ?? null,
          code: 'DWB_DEVICE_WRITE_FAILED',
          message: causeText(err),
        });
      }
      const c = run.counters;
      if ((c.created + c.updated + c.deleted) % 100 === 0) pass.progress('writing');
    });
  } finally {
    // What reached AD is recorded even when the pass ends early.
    await pass.store.putObjects(written);
    await pass.store.deleteObjects(run.name, deleted);
    await pass.release(released);
    await pass.quarantine(issues);
  }
  return placed;
}

function count(run: ForestRun, op: Operation, applied: Applied): void {
  const c = run.counters;
  if (applied === 'created') c.created++;
  else if (applied === 'deleted') c.deleted++;
  else if (applied === 'unchanged') c.unchanged++;
  else {
    // An adoption is a modify of an object that becomes managed: counted in both.
    c.updated++;
    if (applied === 'adopted') {
      c.adopted++;
      run.pass.adoptions.push({ deviceId: op.deviceId, dn: op.dn, forest: run.name });
    }
  }
}

/** One operation, made idempotent against what a crashed earlier pass may have left behind. */
async function applyOne(run: ForestRun, op: Operation): Promise<Applied> {
  const { directory, pass } = run;
  if (op.kind === 'add') {
    try {
      await directory.add(op.dn, op.values);
      return 'created';
    } catch (err) {
      if (outcomeOf(err) !== 'exists') throw err;
      // An object is already there (a crashed pass wrote it, or someone else): re-plan against it.
      const actual = await directory.readObject(op.dn);
      if (!actual) throw err;
      const desired = {
        deviceId: op.deviceId,
        graphId: op.graphId,
        displayName: op.displayName,
        values: op.values,
      };
      const plan = planDevice({ ok: true, object: desired }, op, actual, run.containerDn, {
        adopt: pass.options.adopt ?? false,
      });
      if (plan.kind === 'issue') throw new DeviceIssueError(plan.issue);
      if (plan.kind === 'unchanged') return 'unchanged';
      if (plan.operation.kind !== 'modify') throw err;
      await directory.modify(op.dn, plan.operation.changes);
      return plan.operation.adopt ? 'adopted' : 'updated';
    }
  }
  if (op.kind === 'modify') {
    try {
      await directory.modify(op.dn, op.changes);
    } catch (err) {
      // A delete of an attribute that is already gone: drop those changes and try once more.
      if (outcomeOf(err) !== 'no-such-attribute') throw err;
      const actual = await directory.readObject(op.dn);
      if (!actual) throw err;
      const changes = op.changes.filter((c) => c.operation === 'replace' || actual.values.has(c.attribute));
      if (changes.length > 0) await directory.modify(op.dn, changes);
    }
    return op.adopt ? 'adopted' : 'updated';
  }
  try {
    await directory.delete(op.dn);
  } catch (err) {
    if (outcomeOf(err) !== 'no-such-object') throw err; // already gone
  }
  return 'deleted';
}

/**
 * Applies deletions under the deletion threshold, counted over a sliding window across passes
 * (writeback.deleteWindowSeconds): when this pass's deletions would take the deletions of the
 * window over writeback.deleteThreshold, none of them is made and they are held (recorded, for
 * `status`, the console and `approve-deletes`). Deletions an administrator approved, and all of
 * them with `--allow-deletes`, are made; a release also empties the window. Returns how many
 * deletions were held.
 */
export async function exportDeletions(run: ForestRun, deletions: readonly Operation[]): Promise<number> {
  const pass = run.pass;
  const { store, writeback } = pass.context;
  const held = (await store.heldDeletions()).filter((h) => h.forest === run.name);
  const approved = new Set(held.filter((h) => h.approvedAt).map((h) => h.deviceId));
  const released = deletions.filter((d) => approved.has(d.deviceId));
  const counted = deletions.filter((d) => !approved.has(d.deviceId));
  const threshold = writeback.deleteThreshold;
  const windowStart = new Date(Date.now() - writeback.deleteWindowSeconds * 1000).toISOString();
  const inWindow = counted.length > 0 ? await store.deletionsSince(run.name, windowStart) : 0;
  const allowed = pass.options.allowDeletes === true || inWindow + counted.length <= threshold;
  const making = allowed ? [...released, ...counted] : released;
  if (!allowed) {
    logger().warn(
      {
        forest: run.name,
        deletions: counted.length,
        deletedInWindow: inWindow,
        threshold,
        windowSeconds: writeback.deleteWindowSeconds,
      },
      `${pass.context.severalForests ? `forest ${run.name}: ` : ''}${counted.length} deletions would take the deletions of the last ${writeback.deleteWindowSeconds} s to ${inWindow + counted.length}, more than writeback.deleteThreshold (${threshold}); none of them was made and the watermark was not advanced. Check why so many devices left Entra ID or the scope, then release them with "device-writeback approve-deletes" (or "sync --allow-deletes" when run is not running).`,
    );
  }
  if (!allowed && pass.operations) {
    // A dry run shows what the threshold would hold too: the deletions a scope change implies are
    // seen before anyone approves them.
    for (const op of counted) {
      if (op.kind !== 'delete') continue;
      pass.operations.push({
        action: 'delete',
        dn: op.dn,
        deviceId: op.deviceId,
        reason: op.reason,
        held: true,
        ...(pass.context.severalForests ? { forest: run.name } : {}),
        ldif: operationLdif(op),
      });
    }
  }
  if (!pass.dryRun) {
    // What is held now replaces what was held (a device that came back is no longer held); the
    // approved ones stay listed, with their approval, until they are made.
    const hold = allowed ? released : [...released, ...counted];
    await store.holdDeletions(
      run.name,
      hold.map((d) => ({
        deviceId: d.deviceId,
        graphId: d.graphId,
        dn: d.dn,
        reason: d.kind === 'delete' ? d.reason : '',
      })),
    );
  }
  if (making.length > 0) {
    pass.progress('deleting');
    await exportOperations(
      run,
      making.map((op) => ({ op, device: undefined, hash: undefined })),
    );
    if (!pass.dryRun) {
      // A release (an approval, or --allow-deletes) empties the window; what --allow-deletes made
      // does not count either, what an approval let through alongside does.
      const release = released.length > 0 || pass.options.allowDeletes === true;
      await store.deletionsDone(
        run.name,
        making.map((d) => d.deviceId),
        { clearWindow: release },
      );
      if (allowed && pass.options.allowDeletes !== true)
        await store.recordDeletions(run.name, counted.length);
    }
  }
  const heldNow = allowed ? 0 : counted.length;
  run.deletionsHeld += heldNow;
  return heldNow;
}
