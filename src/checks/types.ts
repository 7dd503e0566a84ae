// The shape of a check (SPEC §4): a stable id, a title, and a run function that says what it saw and
// how to fix it. One file per check id lives beside this one; src/checks/index.ts lists them in order.
import type { Config, ForestConfig } from '../config/load.js';
import type { ErrorCode } from '../errors.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  id: string;
  title: string;
  /** With several forests: the forest an AD check looked at (null for the others). */
  forest?: string | null;
  status: CheckStatus;
  /** What the check saw. */
  detail: string;
  /** What to do about it; empty when nothing is needed. */
  fix: string;
  /** The DWB_… code of a fail or warn (docs/errors.md says what it means), null otherwise (SPEC §3). */
  code: ErrorCode | null;
}

/**
 * What checks share during one `check` run: the configuration and lazily opened, cached resources
 * (an AD session as the connector, the RootDSE, the schema...), so each is opened once.
 */
export interface CheckContext {
  config: Config;
  /** The forest the ad.* checks look at (one run of them per forest). */
  forest: ForestConfig;
  /** Free-form cache for shared resources, keyed by name. */
  cache: Map<string, unknown>;
}

export interface Check {
  id: string;
  title: string;
  run(ctx: CheckContext): Promise<Omit<CheckResult, 'id' | 'title'>>;
}
