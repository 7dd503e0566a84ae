// The export: planned operations go to the device directory, a few at a time, each made idempotent
// against what a crashed earlier pass may have left behind (an add that meets an object re-plans
// against it; a delete of an object already gone is done). A failure of one object quarantines
// that device and the rest go on; a DC that stops answering ends the pass.
import { outcomeOf } from '../ad/outcome.js';
import type { CloudDevice } from '../entra/types.js';
import { DwbError, causeText } from '../errors.js';
import { logger } from '../log.js';
import type { ObjectWrite } from '../state/store.js';
import { runBounded } from '../util/bounded.js';
import type { Pass } from './pass.js';
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

/** Applies operations with bounded concurrency; in a dry run, only lists them. */
export async function exportOperations(pass: Pass, items: readonly PendingOperation[]): Promise<void> {
  if (items.length === 0) return;
  if (pass.operations) {
    for (const { op } of items) {
      pass.operations.push({
        action: op.kind,
        dn: op.dn,
        deviceId: op.deviceId,
        ...(op.kind === 'modify' && op.adopt ? { adopt: true } : {}),
        ldif: operationLdif(op),
      });
      count(
        pass,
        op,
        op.kind === 'add' ? 'created' : op.kind === 'delete' ? 'deleted' : op.adopt ? 'adopted' : 'updated',
      );
    }
    return;
  }
  pass.progress('writing');
  const directory = pass.context.directory;
  const written: ObjectWrite[] = [];
  const deleted: string[] = [];
  const issues: DeviceIssue[] = [];
  const released: string[] = [];
  try {
    await runBounded(items, directory.slots, async ({ op, device, hash }, slot) => {
      try {
        const applied = await applyOne(pass, op, slot);
        count(pass, op, applied);
        if (op.kind === 'delete') deleted.push(op.deviceId);
        else if (device && hash) {
          written.push({
            deviceId: device.deviceId.toLowerCase(),
            graphId: device.id,
            dn: op.dn,
            objectGuid: null,
            hash,
          });
          released.push(device.id);
        }
      } catch (err) {
        if (err instanceof DeviceIssueError) {
          issues.push({ ...err.issue, displayName: device?.displayName ?? err.issue.displayName });
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
          graphId: device?.id ?? op.graphId,
          deviceId: op.deviceId,
          displayName: device?.displayName ?? null,
          code: 'DWB_DEVICE_WRITE_FAILED',
          message: causeText(err),
        });
      }
      const c = pass.counters;
      if ((c.created + c.updated + c.deleted) % 100 === 0) pass.progress('writing');
    });
  } finally {
    // What reached AD is recorded even when the pass ends early.
    await pass.store.putObjects(written);
    await pass.store.deleteObjects(deleted);
    await pass.release(released);
    await pass.quarantine(issues);
  }
}

function count(pass: Pass, op: Operation, applied: Applied): void {
  const c = pass.counters;
  if (applied === 'created') c.created++;
  else if (applied === 'deleted') c.deleted++;
  else if (applied === 'unchanged') c.unchanged++;
  else {
    // An adoption is a modify of an object that becomes managed: counted in both.
    c.updated++;
    if (applied === 'adopted') {
      c.adopted++;
      pass.adoptions.push({ deviceId: op.deviceId, dn: op.dn });
    }
  }
}

/** One operation, made idempotent against what a crashed earlier pass may have left behind. */
async function applyOne(pass: Pass, op: Operation, slot: number): Promise<Applied> {
  const directory = pass.context.directory;
  if (op.kind === 'add') {
    try {
      await directory.add(slot, op.dn, op.values);
      return 'created';
    } catch (err) {
      if (outcomeOf(err) !== 'exists') throw err;
      // An object is already there (a crashed pass wrote it, or someone else): re-plan against it.
      const actual = await directory.readObject(slot, op.dn);
      if (!actual) throw err;
      const desired = {
        deviceId: op.deviceId,
        graphId: op.graphId,
        displayName: op.displayName,
        values: op.values,
      };
      const plan = planDevice({ ok: true, object: desired }, op, actual, pass.containerDn, {
        adopt: pass.options.adopt ?? false,
      });
      if (plan.kind === 'issue') throw new DeviceIssueError(plan.issue);
      if (plan.kind === 'unchanged') return 'unchanged';
      if (plan.operation.kind !== 'modify') throw err;
      await directory.modify(slot, op.dn, plan.operation.changes);
      return plan.operation.adopt ? 'adopted' : 'updated';
    }
  }
  if (op.kind === 'modify') {
    try {
      await directory.modify(slot, op.dn, op.changes);
    } catch (err) {
      // A delete of an attribute that is already gone: drop those changes and try once more.
      if (outcomeOf(err) !== 'no-such-attribute') throw err;
      const actual = await directory.readObject(slot, op.dn);
      if (!actual) throw err;
      const changes = op.changes.filter((c) => c.operation === 'replace' || actual.values.has(c.attribute));
      if (changes.length > 0) await directory.modify(slot, op.dn, changes);
    }
    return op.adopt ? 'adopted' : 'updated';
  }
  try {
    await directory.delete(slot, op.dn);
  } catch (err) {
    if (outcomeOf(err) !== 'no-such-object') throw err; // already gone
  }
  return 'deleted';
}

/** Applies deletions unless they exceed writeback.deleteThreshold; returns how many were held. */
export async function exportDeletions(pass: Pass, deletions: readonly Operation[]): Promise<number> {
  if (deletions.length === 0) return 0;
  const threshold = pass.context.writeback.deleteThreshold;
  if (deletions.length > threshold && !pass.options.allowDeletes) {
    logger().warn(
      { deletions: deletions.length, threshold },
      `this pass would delete ${deletions.length} objects, more than writeback.deleteThreshold (${threshold}); nothing was deleted and the watermark was not advanced. Check why so many devices left Entra ID, then run "device-writeback sync --allow-deletes" to confirm.`,
    );
    return deletions.length;
  }
  pass.progress('deleting');
  await exportOperations(
    pass,
    deletions.map((op) => ({ op, device: undefined, hash: undefined })),
  );
  return 0;
}
