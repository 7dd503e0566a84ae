// The writeback engine: one pass of import (Entra, full or delta) -> sync rule (scope, routing,
// join, attribute flow) -> export (AD, per forest), recorded as a run. The watermark is committed
// only after every change it covers is in AD — or, for a forest that is down while the others take
// their changes, kept in the state store for it (the forest is then reconciled from the store when
// it answers again). A crash at any point followed by a restart converges with no duplicate and no
// loss. The pipeline itself lives in full-import.ts, delta-import.ts, sync-rule.ts, forest-sync.ts
// and export.ts; this module decides which pass to run, reaches the forests and records the run.
import { AdOperationError, outcomeOf } from '../ad/outcome.js';
import type { Config } from '../config/load.js';
import { DwbError, ExitCode, causeText, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { CycleState, ForestState, RunMode } from '../state/store.js';
import { deltaImport } from './delta-import.js';
import { reconcileFromStore } from './forest-recovery.js';
import { fullImport } from './full-import.js';
import {
  Pass,
  type EngineContext,
  type ForestRun,
  type ForestSummary,
  type SyncOptions,
  type SyncSummary,
} from './pass.js';
import { Router } from './routing.js';
import { describeScope, hasScopeRules, scopeFingerprint, type ScopeSettings } from './scope.js';
import { ScopeGroups } from './scope-groups.js';

export function exitCodeFor(summary: SyncSummary): number {
  if (Object.values(summary.forests).some((f) => f.error)) return ExitCode.failure;
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
        { cause: err },
      )
    : new DwbError('DWB_AD_OPERATION_FAILED', causeText(err), { cause: err });
}

function errorOf(err: unknown): { code: string; message: string } {
  const e = userError(err);
  return isDwbError(e)
    ? { code: e.code, message: e.message }
    : { code: 'DWB_INTERNAL', message: causeText(e) };
}

/**
 * Why the next pass must be full, or undefined for a delta pass. Decided from the store alone, so
 * that `run` knows a cycle's mode before the forests have answered (a failed cycle is counted under
 * it).
 */
export function fullPassReason(
  state: CycleState,
  config: {
    writeback: Pick<Config['writeback'], 'fullEverySeconds' | 'trustTypes' | 'scope'>;
    forests: readonly { name: string }[];
  },
  options: Pick<SyncOptions, 'full'> = {},
): string | undefined {
  if (options.full) return 'requested (--full)';
  const { watermark } = state;
  if (!watermark.deltaLink) return 'no watermark yet (first run)';
  const unknown = config.forests.filter((f) => !state.forests.has(f.name)).map((f) => f.name);
  if (unknown.length > 0)
    return `the configuration names forests this store has not reconciled yet (${unknown.join(', ')})`;
  const scopeChange = scopeChanged(state.scopeFingerprint, config.writeback);
  if (scopeChange) return scopeChange;
  const last = watermark.lastFullAt;
  const every = config.writeback.fullEverySeconds;
  if (!last || Date.now() - Date.parse(last) > every * 1000) {
    return `the last full reconcile is older than writeback.fullEverySeconds (${every} s)`;
  }
  return undefined;
}

/**
 * Why the scope configuration must be applied by a full pass: it differs from the one the last
 * full pass applied (a store of an earlier version without scope rules needs none).
 */
function scopeChanged(applied: string | undefined, writeback: ScopeSettings): string | undefined {
  if (applied === scopeFingerprint(writeback)) return undefined;
  if (applied === undefined && !hasScopeRules(writeback)) return undefined;
  return `the scope configuration (writeback.trustTypes, writeback.scope) changed since the last full pass; applying it to every device (now: ${describeScope(writeback).join('; ')})`;
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

  async sync(options: SyncOptions = {}): Promise<SyncSummary> {
    const started = Date.now();
    const { store } = this.context;
    const dryRun = options.dryRun ?? false;
    const cycle = options.cycleState ?? (await store.cycleState());
    const states = cycle.forests;
    const fullBecause = fullPassReason(cycle, this.context, options);
    let mode: RunMode = fullBecause ? 'full' : 'delta';
    options.onMode?.(mode);
    const pass = new Pass(this.context, options, this.scopeGroups);
    // The forests are reached while the run is recorded (with a database server: two round trips
    // at once); a failure to reach them is the pass's, handled below once the run is recorded.
    const reaching = this.reach(pass, states);
    reaching.catch(() => undefined);
    let runId: number;
    try {
      runId = await store.startRun(mode, dryRun);
    } catch (err) {
      await reaching.catch(() => undefined);
      throw err;
    }
    let reason = fullBecause ?? 'delta';
    let committed = false;
    try {
      const router = await reaching;
      let deltaLink: string | undefined;
      if (mode === 'delta') {
        const recovering = pass.runs.filter((r) => !r.failed && states.get(r.name)?.needsFull);
        const active = pass.runs.filter((r) => !recovering.includes(r));
        const delta = await deltaImport(pass, router, cycle.watermark.deltaLink!, active);
        if (delta === 'reset') {
          mode = 'full';
          options.onMode?.(mode);
          reason = 'the delta token expired (Graph answered 410); reading everything again';
        } else {
          for (const run of recovering) {
            try {
              logger().info(
                { forest: run.name },
                `forest ${run.name} answers again: reconciling it from the state store`,
              );
              await reconcileFromStore(run);
            } catch (err) {
              run.fail(err);
            }
          }
          deltaLink = delta.nextLink;
          if (this.allFailed(pass)) throw pass.runs.find((r) => r.failed)!.failure;
          if (!this.held(pass)) await delta.forget();
        }
      }
      if (mode === 'full') {
        deltaLink = await fullImport(
          pass,
          router,
          pass.runs.filter((r) => !r.failed),
        );
        if (this.allFailed(pass)) throw pass.runs.find((r) => r.failed)!.failure;
      }
      committed = !dryRun && deltaLink !== undefined && !this.held(pass);
      if (committed) await store.commitWatermark(deltaLink!, mode);
      // What the pass read of the scope groups is kept only with the watermark it belongs to; the
      // scope configuration is applied once a full pass committed.
      await pass.settleGroups(committed);
      if (committed && mode === 'full')
        await store.setScopeFingerprint(scopeFingerprint(this.context.writeback));
      if (!dryRun) await this.recordForests(pass, mode, committed, states);
    } catch (err) {
      await pass.settleGroups(false).catch(() => undefined);
      await store.finishRun(runId, {
        mode,
        ...pass.counters,
        outcome: 'failed',
        error: causeText(userError(err)),
        durationMs: Date.now() - started,
        errors: pass.errors,
      });
      throw userError(err);
    }
    const held = pass.runs.reduce((n, r) => n + r.deletionsHeld, 0);
    const failed = pass.runs.filter((r) => r.failed);
    const summary: SyncSummary = {
      mode,
      dryRun,
      ...pass.counters,
      durationMs: Date.now() - started,
      errors: pass.errors,
      adoptions: pass.adoptions,
      ...(pass.operations ? { operations: pass.operations } : {}),
      deletionsHeld: held,
      thresholdStopped: held > 0,
      reason,
      watermarkCommitted: committed,
      unrouted: pass.unrouted,
      forests: Object.fromEntries(pass.runs.map((r) => [r.name, forestSummary(r)])),
      outOfScope: pass.outOfScope,
    };
    await store.finishRun(runId, {
      mode,
      ...pass.counters,
      outcome: summary.thresholdStopped ? 'threshold' : summary.quarantined > 0 ? 'quarantined' : 'ok',
      error: summary.thresholdStopped
        ? `${summary.deletionsHeld} deletions held back by writeback.deleteThreshold`
        : failed.length > 0
          ? `forest ${failed.map((r) => `${r.name}: ${errorOf(r.failure).message}`).join('; ')} (its changes wait in the state store)`
          : undefined,
      durationMs: summary.durationMs,
      errors: pass.errors,
    });
    pass.progress('done');
    return summary;
  }

  /**
   * Reaches every forest (a forest that does not answer is left out of this pass) and builds the
   * router from each forest's domains (as last read, for a forest that is down).
   */
  private async reach(pass: Pass, states: Map<string, ForestState>): Promise<Router> {
    await Promise.all(
      pass.runs.map(async (run) => {
        try {
          // A forest that was down at the last pass gets one attempt: while it stays down, the
          // others' passes are not held up by its retries (SPEC §8).
          const wasDown = this.context.severalForests && Boolean(states.get(run.name)?.lastError);
          run.target = await run.link.connect({ once: wasDown });
          const domains = run.target.domains.map((d) => ({ ...d }));
          const known = states.get(run.name)?.domains;
          if (!pass.dryRun && JSON.stringify(known) !== JSON.stringify(domains))
            await pass.store.setForestState(run.name, { domains });
        } catch (err) {
          run.fail(err);
          await run.link.reset();
        }
      }),
    );
    if (this.allFailed(pass)) throw pass.runs.find((r) => r.failed)!.failure;
    return new Router(
      pass.runs.map((run) => ({
        name: run.name,
        domains: run.target?.domains ?? states.get(run.name)?.domains ?? null,
      })),
      { several: this.context.severalForests, defaultForest: this.context.writeback.defaultForest },
    );
  }

  private allFailed(pass: Pass): boolean {
    return pass.runs.every((r) => r.failed);
  }

  private held(pass: Pass): boolean {
    return pass.runs.some((r) => r.deletionsHeld > 0);
  }

  /**
   * What each forest's state is after the pass: a forest that failed while the watermark moved on
   * missed changes and will be reconciled from the store; one reconciled in full is up to date.
   */
  private async recordForests(
    pass: Pass,
    mode: RunMode,
    committed: boolean,
    states: Map<string, ForestState>,
  ): Promise<void> {
    const now = new Date().toISOString();
    for (const run of pass.runs) {
      const before = states.get(run.name);
      if (run.failed) {
        await run.link.reset();
        await pass.store.setForestState(run.name, {
          lastError: causeText(userError(run.failure)),
          ...(committed || before?.needsFull ? { needsFull: true } : {}),
        });
      } else if (mode === 'full' || before?.needsFull) {
        await pass.store.setForestState(run.name, {
          needsFull: false,
          lastError: null,
          ...(mode === 'full' || before?.needsFull ? { lastFullAt: now } : {}),
        });
      } else if (!before || before.lastError !== null) {
        await pass.store.setForestState(run.name, { lastError: null });
      }
    }
    // Every forest ever reached has a row in the forests table: only a forest gone from the
    // configuration leaves one behind, and only then is there anything to forget (a scan of the
    // store's tables that a no-op cycle should not pay).
    const names = new Set(pass.runs.map((r) => r.name));
    if ([...states.keys()].some((name) => !names.has(name))) await pass.store.forgetForestsExcept([...names]);
  }
}

function forestSummary(run: ForestRun): ForestSummary {
  return {
    ...run.counters,
    deletionsHeld: run.deletionsHeld,
    thresholdStopped: run.deletionsHeld > 0,
    ...(run.failed ? { error: errorOf(run.failure) } : {}),
  };
}
