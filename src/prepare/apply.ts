// Carries out a preparation plan with the administrator's session. Before writing anything it asks
// the directory what that session may do (allowedChildClassesEffective, allowedAttributesEffective,
// sDRightsEffective), so that missing rights stop the run with nothing written. Each step is
// idempotent and the plan is recomputed from the directory on every run, so a run interrupted for any
// other reason is finished by the next one.
import { type AdConnection, SdFlagsControl, strs } from '../ad/connection.js';
import { dnEquals, parentDn } from '../ad/dn.js';
import { outcomeOf } from '../ad/outcome.js';
import { encodeSecurityDescriptor, mergeDacl, missingAces } from '../ad/security-descriptor.js';
import { DwbError, causeText, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { PlannedChange, PreparationPlan } from './plan.js';
import { readDacl } from './survey.js';

/** OWNER/GROUP/DACL/SACL_SECURITY_INFORMATION bits of sDRightsEffective. */
const DACL_SECURITY_INFORMATION = 0x4;

function has(values: string[], wanted: string): boolean {
  return values.some((v) => v.toLowerCase() === wanted.toLowerCase());
}

/** What the session cannot do of the plan, in words; empty when it can do everything. */
export async function missingAdminRights(conn: AdConnection, plan: PreparationPlan): Promise<string[]> {
  const created = plan.changes.filter((c) => c.step?.kind === 'create').map((c) => c.dn);
  const createdHere = (dn: string): boolean => created.some((c) => dnEquals(c, dn));
  const missing: string[] = [];
  for (const change of plan.changes) {
    const step = change.step;
    if (!step) continue;
    if (step.kind === 'create') {
      const parent = parentDn(step.dn);
      if (createdHere(parent)) continue; // its creator may create below it
      const objectClass = step.attributes.objectClass?.[0] ?? '';
      const entry = await conn.read(parent, ['allowedChildClassesEffective']);
      if (!entry || !has(strs(entry, 'allowedChildClassesEffective'), objectClass)) {
        missing.push(`create ${objectClass} objects in ${parent}`);
      }
    } else if (step.kind === 'modify') {
      // An object created by this run cannot be asked yet; its class's default DACL gives Enterprise
      // Admins full control, and a creator without it is stopped at the write (a rerun finishes).
      if (createdHere(step.dn)) continue;
      const entry = await conn.read(step.dn, ['allowedAttributesEffective']);
      const writable = entry ? strs(entry, 'allowedAttributesEffective') : [];
      for (const c of step.changes) if (!has(writable, c.type)) missing.push(`write ${c.type} on ${step.dn}`);
    } else if (!createdHere(step.dn)) {
      const entry = await conn.read(step.dn, ['sDRightsEffective']);
      const rights = Number((entry && strs(entry, 'sDRightsEffective')[0]) ?? 0);
      if (!(rights & DACL_SECURITY_INFORMATION)) missing.push(`change the permissions of ${step.dn}`);
    }
  }
  return missing;
}

async function applyChange(conn: AdConnection, change: PlannedChange): Promise<void> {
  const step = change.step;
  if (!step) return;
  if (step.kind === 'create') {
    await conn.add(step.dn, step.attributes);
  } else if (step.kind === 'modify') {
    await conn.modify(
      step.dn,
      step.changes.map((c) => ({ operation: c.operation, type: c.type, values: c.values })),
    );
  } else {
    // Re-read: the DACL may have changed since the survey, or the object was created a moment ago.
    const current = await readDacl(conn, step.dn);
    if (!current)
      throw new DwbError('DWB_AD_INSUFFICIENT_RIGHTS', `cannot read the permissions of ${step.dn}.`);
    const { sd, added } = mergeDacl(
      current,
      step.missing.map((g) => g.ace),
    );
    if (added.length > 0) {
      await conn.modify(
        step.dn,
        [{ operation: 'replace', type: 'nTSecurityDescriptor', values: [encodeSecurityDescriptor(sd)] }],
        [new SdFlagsControl(SdFlagsControl.DACL)],
      );
    }
    // The directory may rewrite ACEs as it stores them; the run is idempotent only if it does not.
    const stored = await readDacl(conn, step.dn);
    const notStored = missingAces(
      stored?.dacl,
      step.missing.map((g) => g.ace),
    );
    if (notStored.length > 0) {
      throw new DwbError(
        'DWB_INTERNAL',
        `the domain controller did not store the ACEs written to ${step.dn} as written.`,
      );
    }
  }
}

/** Applies the plan's changes in order; returns the plan's changes (all done) or throws. */
export async function applyPlan(
  conn: AdConnection,
  plan: PreparationPlan,
  adminName: string,
): Promise<PlannedChange[]> {
  const pending = plan.changes.filter((c) => c.step);
  if (pending.length === 0) return plan.changes;
  const missing = await missingAdminRights(conn, plan);
  if (missing.length > 0) {
    throw new DwbError(
      'DWB_AD_INSUFFICIENT_RIGHTS',
      `${adminName} may not:\n    - ${missing.join('\n    - ')}\n  Nothing was written.`,
    );
  }
  const done: PlannedChange[] = [];
  for (const change of pending) {
    try {
      await applyChange(conn, change);
      done.push(change);
      logger().info({ action: change.action, dn: change.dn }, `init-ad: ${change.action} ${change.dn}`);
    } catch (err) {
      const left = pending.filter((c) => !done.includes(c));
      const written =
        done.length === 0
          ? 'Nothing was written.'
          : `Written: ${done.map((c) => `${c.action} ${c.dn}`).join('; ')}.`;
      const notWritten = `Not written: ${left.map((c) => `${c.action} ${c.dn}`).join('; ')}. Running init-ad again finishes the rest.`;
      if (isDwbError(err))
        throw new DwbError(err.code, `${err.message} ${written} ${notWritten}`, { cause: err, fix: err.fix });
      throw new DwbError(
        outcomeOf(err) === 'access-denied' ? 'DWB_AD_INSUFFICIENT_RIGHTS' : 'DWB_AD_OPERATION_FAILED',
        `${change.action} ${change.dn} failed: ${causeText(err)}. ${written} ${notWritten}`,
        { cause: err },
      );
    }
  }
  return plan.changes;
}
