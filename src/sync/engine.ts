// The writeback engine: one pass of import (Entra, full or delta) -> sync rule (scope, join,
// attribute flow) -> export (AD), recorded as a run. The watermark is committed only after every
// change it covers is in AD, so a crash at any point followed by a restart converges with no
// duplicate and no loss. The pipeline itself lives in full-import.ts, delta-import.ts,
// sync-rule.ts and export.ts; this module decides which pass to run and records it.
import { AdOperationError, outcomeOf } from '../ad/outcome.js';
import { DwbError, ExitCode, causeText } from '../errors.js';
import type { RunMode } from '../state/store.js';
import { deltaImport } from './delta-import.js';
import { fullImport } from './full-import.js';
import { Pass, type EngineContext, type PassOutcome, type SyncOptions, type SyncSummary } from './pass.js';
import { describeScope, hasScopeRules, scopeFingerprint } from './scope.js';
import { ScopeGroups } from './scope-groups.js';

export function exitCodeFor(summary: SyncSummary): number {
  if (summary.thresholdStopped) return ExitCode.deleteThreshold;
  if (summary.quarantined > 0) return ExitCode.quarantined;
  return ExitCode.ok;
}

/** An AD failure that left the pipeline as the connector's outcome becomes the user's error. */
function userError(err: unknown): unknown {
  if (!(err instanceof AdOperationError)) return err;
  return outcomeOf(err) === 'transient'
    ? new DwbError(
        'DWB_AD_UNREACHABLE',
        `the domain controller stopped answering during the sync: ${causeText(err)}`,
        {
          cause: err,
        },
      )
    : new DwbError('DWB_AD_OPERATION_FAILED', causeText(err), { cause: err });
}

export class SyncEngine {
  /** The scope groups' membership, kept between the passes of `run` (writeback.scope.groups). */
  private readonly scopeGroups: ScopeGroups | undefined;

  constructor(readonly context: EngineContext) {
    const groups = context.writeback.scope.groups ?? [];
    if (groups.length > 0) {
      if (!context.groups) {
        throw new DwbError(
          'DWB_CONFIG_INVALID',
          'writeback.scope.groups is set, but this device source cannot read group membership.',
        );
      }
      this.scopeGroups = new ScopeGroups(groups, context.store, context.groups);
    }
  }

  /** Why this pass must be full, or undefined for a delta pass. */
  async fullReason(options: SyncOptions): Promise<string | undefined> {
    if (options.full) return 'requested (--full)';
    const watermark = await this.context.store.watermark();
    if (!watermark.deltaLink) return 'no watermark yet (first run)';
    const scopeChange = await this.scopeChange();
    if (scopeChange) return scopeChange;
    const last = watermark.lastFullAt;
    const every = this.context.writeback.fullEverySeconds;
    if (!last || Date.now() - Date.parse(last) > every * 1000) {
      return `the last full reconcile is older than writeback.fullEverySeconds (${every} s)`;
    }
    return undefined;
  }

  /**
   * Why the scope configuration must be applied by a full pass: it differs from the one the last
   * full pass applied (a store of an earlier version without scope rules needs none).
   */
  private async scopeChange(): Promise<string | undefined> {
    const { writeback, store } = this.context;
    const applied = await store.scopeFingerprint();
    if (applied === scopeFingerprint(writeback)) return undefined;
    if (applied === undefined && !hasScopeRules(writeback)) return undefined;
    return `the scope configuration (writeback.trustTypes, writeback.scope) changed since the last full pass; applying it to every device (now: ${describeScope(writeback).join('; ')})`;
  }

  async sync(options: SyncOptions = {}): Promise<SyncSummary> {
    const started = Date.now();
    const { store } = this.context;
    const dryRun = options.dryRun ?? false;
    const fullBecause = await this.fullReason(options);
    let mode: RunMode = fullBecause ? 'full' : 'delta';
    const runId = await store.startRun(mode, dryRun);
    const pass = new Pass(this.context, options, this.scopeGroups);
    let outcome: PassOutcome;
    let reason: string;
    try {
      const delta =
        mode === 'delta' ? await deltaImport(pass, (await store.watermark()).deltaLink!) : undefined;
      if (delta === 'reset') {
        mode = 'full';
        reason = 'the delta token expired (Graph answered 410); reading everything again';
        outcome = await fullImport(pass);
      } else if (delta) {
        reason = 'delta';
        outcome = delta;
      } else {
        reason = fullBecause!;
        outcome = await fullImport(pass);
      }
      // What the pass read of the scope groups is kept only with the watermark it belongs to.
      await pass.settleGroups(outcome.watermarkCommitted);
      if (mode === 'full' && outcome.watermarkCommitted)
        await store.setScopeFingerprint(scopeFingerprint(this.context.writeback));
    } catch (err) {
      await pass.settleGroups(false).catch(() => undefined);
      await store.finishRun(runId, {
        mode,
        ...pass.counters,
        outcome: 'failed',
        error: causeText(err),
        durationMs: Date.now() - started,
        errors: pass.errors,
      });
      throw userError(err);
    }
    const summary: SyncSummary = {
      mode,
      dryRun,
      ...pass.counters,
      durationMs: Date.now() - started,
      errors: pass.errors,
      ...(pass.operations ? { operations: pass.operations } : {}),
      deletionsHeld: outcome.deletionsHeld,
      thresholdStopped: outcome.thresholdStopped,
      reason,
      watermarkCommitted: outcome.watermarkCommitted,
      outOfScope: pass.outOfScope,
    };
    await store.finishRun(runId, {
      mode,
      ...pass.counters,
      outcome: summary.thresholdStopped ? 'threshold' : summary.quarantined > 0 ? 'quarantined' : 'ok',
      error: summary.thresholdStopped
        ? `${summary.deletionsHeld} deletions held back by writeback.deleteThreshold`
        : undefined,
      durationMs: summary.durationMs,
      errors: pass.errors,
    });
    pass.progress('done');
    return summary;
  }
}
