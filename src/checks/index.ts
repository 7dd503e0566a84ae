// All checks in the order of SPEC §4, and the runner: each check reports pass/warn/fail/skip with what
// it saw and the fix; a check whose prerequisite failed is skipped with the reason, and an
// unexpected error is a failure of that check only, never of the run.
import type { Config } from '../config/load.js';
import { forestsNamed } from '../config/forests.js';
import { causeText, isDwbError } from '../errors.js';
import { closeAdSession } from './ad-context.js';
import { adCloudIssuer } from './ad-cloud-issuer.js';
import { adConfigPermissions } from './ad-config-permissions.js';
import { adConnect } from './ad-connect.js';
import { adContainerPermissions } from './ad-container-permissions.js';
import { adDeviceLocation } from './ad-device-location.js';
import { adDrsObject } from './ad-drs-object.js';
import { adDrsUnique } from './ad-drs-unique.js';
import { adSchema } from './ad-schema.js';
import { adStaleCleanup } from './ad-stale-cleanup.js';
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
  adCloudIssuer,
  adStaleCleanup,
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
      return { ...base, status: 'skip', detail: `skipped: ${err.message}`, fix: '', code: null };
    if (isDwbError(err))
      return { ...base, status: 'fail', detail: err.message, fix: err.fix, code: err.code };
    return {
      ...base,
      status: 'fail',
      detail: `the check failed unexpectedly: ${causeText(err)}`,
      fix: 'Run again with --log-level debug and report the output.',
      code: 'DWB_INTERNAL',
    };
  }
}

/** The checks that look at a forest (ad.*): they run once per forest. */
const isForestCheck = (check: Check): boolean => check.id.startsWith('ad.');

/**
 * Runs every check (or those whose id is listed), in order: the forest checks once per forest
 * (`forest` narrows them to one), then the others. `ok` is false when any failed.
 */
export async function runChecks(
  config: Config,
  options: { only?: readonly string[]; forest?: string } = {},
): Promise<CheckReport> {
  const forests = forestsNamed(config, options.forest);
  const results: CheckResult[] = [];
  const wanted = checks.filter((c) => !options.only || options.only.includes(c.id));
  const label = (result: CheckResult, forest: string | null): CheckResult =>
    config.severalForests ? { ...result, forest } : result;
  for (const forest of forests) {
    const ctx: CheckContext = { config, forest, cache: new Map() };
    try {
      for (const check of wanted.filter(isForestCheck))
        results.push(label(await runCheck(check, ctx), forest.name));
    } finally {
      await closeAdSession(ctx);
    }
  }
  const ctx: CheckContext = { config, forest: forests[0]!, cache: new Map() };
  for (const check of wanted.filter((c) => !isForestCheck(c)))
    results.push(label(await runCheck(check, ctx), null));
  return { ok: results.every((r) => r.status !== 'fail'), checks: results };
}
