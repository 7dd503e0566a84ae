// The writeback engine: one pass of import (Entra, full or delta) -> sync rule (scope, join,
// attribute flow) -> export (AD), recorded as a run. The watermark is committed only after every
// change it covers is in AD, so a crash at any point followed by a restart converges with no
// duplicate and no loss. The pipeline itself lives in full-import.ts, delta-import.ts,
// sync-rule.ts and export.ts; this module decides which pass to run and records it.
import { AdOperationError, outcomeOf } from '../ad/outcome.js';
import { DwbError, ExitCode, causeText } from '../errors.js';
import type { Config } from '../config/load.js';
import type { RunMode, StateStore } from '../state/store.js';
import { deltaImport } from './delta-import.js';
import { fullImport } from './full-import.js';
import { Pass, type EngineContext, type PassOutcome, type SyncOptions, type SyncSummary } from './pass.js';

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

/**
 * Why the next pass must be full, or undefined for a delta pass. Read from the store alone, so that
 * `run` knows a cycle's mode before the forest has answered (a failed cycle is counted under it).
 */
export async function fullPassReason(
  store: Pick<StateStore, 'watermark'>,
  writeback: Pick<Config['writeback'], 'fullEverySeconds'>,
  options: Pick<SyncOptions, 'full'> = {},
): Promise<string | undefined> {
  if (options.full) return 'requested (--full)';
  const watermark = await store.watermark();
  if (!watermark.deltaLink) return 'no watermark yet (first run)';
  const last = watermark.lastFullAt;
  const every = writeback.fullEverySeconds;
  if (!last || Date.now() - Date.parse(last) > every * 1000) {
    return `the last full reconcile is older than writeback.fullEverySeconds (${every} s)`;
  }
  return undefined;
}

export class SyncEngine {
  constructor(readonly context: EngineContext) {}

  /** Why this pass must be full, or undefined for a delta pass. */
  fullReason(options: SyncOptions): Promise<string | undefined> {
    return fullPassReason(this.context.store, this.context.writeback, options);
  }

  async sync(options: SyncOptions = {}): Promise<SyncSummary> {
    const started = Date.now();
    const { store } = this.context;
    const dryRun = options.dryRun ?? false;
    const fullBecause = await this.fullReason(options);
    let mode: RunMode = fullBecause ? 'full' : 'delta';
    options.onMode?.(mode);
    const runId = await store.startRun(mode, dryRun);
    const pass = new Pass(this.context, options);
    let outcome: PassOutcome;
    let reason: string;
    try {
      const delta =
        mode === 'delta' ? await deltaImport(pass, (await store.watermark()).deltaLink!) : undefined;
      if (delta === 'reset') {
        mode = 'full';
        options.onMode?.(mode);
        reason = 'the delta token expired (Graph answered 410); reading everything again';
        outcome = await fullImport(pass);
      } else if (delta) {
        reason = 'delta';
        outcome = delta;
      } else {
        reason = fullBecause!;
        outcome = await fullImport(pass);
      }
    } catch (err) {
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
      adoptions: pass.adoptions,
      ...(pass.operations ? { operations: pass.operations } : {}),
      deletionsHeld: outcome.deletionsHeld,
      thresholdStopped: outcome.thresholdStopped,
      reason,
      watermarkCommitted: outcome.watermarkCommitted,
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
