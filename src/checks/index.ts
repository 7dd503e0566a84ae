// All checks in the order of SPEC §4, and the runner: each check reports pass/warn/fail/skip with what
// it saw and the fix; a check whose prerequisite failed is skipped with the reason, and an
// unexpected error is a failure of that check only, never of the run.
import type { Config } from '../config/load.js';
import { causeText, isDwbError } from '../errors.js';
import { closeAdSession } from './ad-context.js';
import { adConfigPermissions } from './ad-config-permissions.js';
import { adConnect } from './ad-connect.js';
import { adContainerPermissions } from './ad-container-permissions.js';
import { adDeviceLocation } from './ad-device-location.js';
import { adDrsObject } from './ad-drs-object.js';
import { adDrsUnique } from './ad-drs-unique.js';
import { adSchema } from './ad-schema.js';
import { entraConnect } from './entra-connect.js';
import { entraOwners } from './entra-owners.js';
import { entraScopeGroups } from './entra-scope-groups.js';
import { stateWritable } from './state-writable.js';
import { CheckSkipped } from './support.js';
import type { Check, CheckContext, CheckResult } from './types.js';

export const checks: readonly Check[] = [
  adConnect,
  adSchema,
  adDrsObject,
  adDrsUnique,
  adDeviceLocation,
  adContainerPermissions,
  adConfigPermissions,
  entraConnect,
  entraOwners,
  entraScopeGroups,
  stateWritable,
];

export interface CheckReport {
  ok: boolean;
  checks: CheckResult[];
}

export async function runCheck(check: Check, ctx: CheckContext): Promise<CheckResult> {
  const base = { id: check.id, title: check.title };
  try {
    return { ...base, ...(await check.run(ctx)) };
  } catch (err) {
    if (err instanceof CheckSkipped)
      return { ...base, status: 'skip', detail: `skipped: ${err.message}`, fix: '' };
    if (isDwbError(err)) return { ...base, status: 'fail', detail: err.message, fix: err.fix };
    return {
      ...base,
      status: 'fail',
      detail: `the check failed unexpectedly: ${causeText(err)}`,
      fix: 'Run again with --log-level debug and report the output.',
    };
  }
}

/** Runs every check (or those whose id is listed), in order. `ok` is false when any failed. */
export async function runChecks(
  config: Config,
  options: { only?: readonly string[] } = {},
): Promise<CheckReport> {
  const ctx: CheckContext = { config, cache: new Map() };
  const results: CheckResult[] = [];
  try {
    for (const check of checks) {
      if (options.only && !options.only.includes(check.id)) continue;
      results.push(await runCheck(check, ctx));
    }
  } finally {
    await closeAdSession(ctx);
  }
  return { ok: results.every((r) => r.status !== 'fail'), checks: results };
}
