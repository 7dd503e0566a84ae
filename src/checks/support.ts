// What the check modules share: the outcome builders, the "skipped because a prerequisite failed"
// signal, and the exact init-ad command line that fixes most AD findings.
import type { Config, ForestConfig } from '../config/load.js';
import type { ErrorCode } from '../errors.js';
import type { CheckResult } from './types.js';

export type CheckOutcome = Omit<CheckResult, 'id' | 'title'>;

export const pass = (detail: string): CheckOutcome => ({ status: 'pass', detail, fix: '', code: null });
/** A warning or a failure always names its code, so that scripts can act on `check --json`. */
export const warn = (detail: string, fix: string, code: ErrorCode): CheckOutcome => ({
  status: 'warn',
  detail,
  fix,
  code,
});
export const fail = (detail: string, fix: string, code: ErrorCode): CheckOutcome => ({
  status: 'fail',
  detail,
  fix,
  code,
});
export const skip = (detail: string): CheckOutcome => ({ status: 'skip', detail, fix: '', code: null });

/** Thrown by a check whose prerequisite (another check) failed: it is reported as skip. */
export class CheckSkipped extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'CheckSkipped';
  }
}

/** Quotes a command-line argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The init-ad command that prepares (or repairs) the forest for this configuration. */
export function initAdCommand(
  ctx: { config: Config; forest: ForestConfig },
  options: { domain?: string } = {},
): string {
  const { config, forest } = ctx;
  const args = ['device-writeback', 'init-ad', '--config', config.file];
  if (config.severalForests) args.push('--forest', forest.name);
  const domain = options.domain ?? forest.ad.domain;
  if (domain) args.push('--domain', domain);
  args.push('--connector-account', forest.ad.bindDn);
  return `${args.map(shellQuote).join(' ')} --admin <enterprise-admin>`;
}

/** "run <command> as an enterprise admin (DWB_ADMIN_PASSWORD or a prompt)". */
export function runInitAd(
  ctx: { config: Config; forest: ForestConfig },
  options: { domain?: string } = {},
): string {
  return `Run as an enterprise admin (password from DWB_ADMIN_PASSWORD or a prompt): ${initAdCommand(ctx, options)}`;
}
