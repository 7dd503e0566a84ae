// The writeback service behind `run`: a delta pass every writeback.intervalSeconds (a full
// reconcile when writeback.fullEverySeconds says so), one log line per cycle, health for /healthz,
// and a clean stop on SIGINT/SIGTERM that finishes the current batch first.
import { causeText, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { RunMode } from '../state/store.js';
import { exitCodeFor } from './engine.js';
import type { SyncSummary } from './pass.js';
import type { SessionHooks, SyncSession } from './session.js';

/**
 * Something `run` starts beside the service (the web console, /metrics and /healthz): it may watch
 * the session's connectors through hooks, refuse a configuration before anything connects, and
 * runs until closed.
 */
export interface ServicePlugin {
  /** Observers handed to the session's connectors. */
  hooks?: SessionHooks;
  /** Throws when the plugin cannot run with this configuration (checked before anything connects). */
  preflight?(listen: string): void;
  start(service: WritebackService, listen: string): Promise<{ close(): Promise<void> }>;
}

export interface CycleRecord {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  /** The mode the cycle ran (or was about to run) in; absent only when the state store could not say. */
  mode?: RunMode;
  summary?: SyncSummary;
  error?: { code: string; message: string };
}

export interface ServiceHealth {
  healthy: boolean;
  reason: string;
  lastCycle: CycleRecord | null;
  lastSuccessAt: string | null;
  nextRunAt: string | null;
  running: boolean;
}

export type CycleListener = (cycle: CycleRecord) => void;

export class WritebackService {
  private stopping = false;
  private running = false;
  private wake: (() => void) | undefined;
  private runNow = false;
  private lastCycle: CycleRecord | null = null;
  private lastSuccessAt: string | null = null;
  private nextRunAt: Date | null = null;
  private readonly listeners: CycleListener[] = [];
  private loop: Promise<void> | undefined;

  constructor(readonly session: SyncSession) {}

  get intervalMs(): number {
    return this.session.config.writeback.intervalSeconds * 1000;
  }

  onCycle(listener: CycleListener): void {
    this.listeners.push(listener);
  }

  start(): Promise<void> {
    this.loop ??= this.run();
    return this.loop;
  }

  /** Runs a cycle as soon as the current one (if any) ends. */
  requestRun(): void {
    this.runNow = true;
    this.wake?.();
  }

  /** Finishes the current batch, commits, and resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  health(now = Date.now()): ServiceHealth {
    const base = {
      lastCycle: this.lastCycle,
      lastSuccessAt: this.lastSuccessAt,
      nextRunAt: this.nextRunAt?.toISOString() ?? null,
      running: this.running,
    };
    if (!this.lastCycle) return { healthy: true, reason: 'starting: no cycle has finished yet', ...base };
    if (!this.lastCycle.ok) {
      return {
        healthy: false,
        reason:
          `the last cycle failed: ${this.lastCycle.error?.code ?? ''} ${this.lastCycle.error?.message ?? ''}`.trim(),
        ...base,
      };
    }
    if (this.lastCycle.summary?.thresholdStopped) {
      return {
        healthy: false,
        reason: `deletions held back by writeback.deleteThreshold (${this.lastCycle.summary.deletionsHeld}); run "device-writeback sync --allow-deletes" after checking`,
        ...base,
      };
    }
    const staleAfter = Math.max(3 * this.intervalMs, 30_000);
    if (this.lastSuccessAt && now - Date.parse(this.lastSuccessAt) > staleAfter && !this.running) {
      return {
        healthy: false,
        reason: `no successful cycle for ${Math.round((now - Date.parse(this.lastSuccessAt)) / 1000)} s`,
        ...base,
      };
    }
    return { healthy: true, reason: 'the last cycle succeeded', ...base };
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const started = Date.now();
      await this.cycle();
      if (this.stopping) break;
      // Cycles start at a fixed rate: a change waits at most one interval, however long a cycle took.
      await this.sleep(Math.max(0, this.intervalMs - (Date.now() - started)));
    }
  }

  /** One cycle; never throws (the error is recorded and the next cycle tries again). */
  async cycle(): Promise<CycleRecord> {
    this.running = true;
    this.runNow = false;
    const startedAt = new Date().toISOString();
    let record: CycleRecord;
    let mode: RunMode | undefined;
    try {
      // Known before the DC is pinged, so that a cycle that fails is counted under its mode.
      mode = (await this.session.engine.fullReason({})) ? 'full' : 'delta';
      // A delta cycle with nothing to do touches no object; the ping keeps /healthz honest.
      await this.session.directory.ping();
      const summary = await this.session.engine.sync({
        shouldStop: () => this.stopping,
        onMode: (m) => (mode = m),
      });
      record = { startedAt, finishedAt: new Date().toISOString(), ok: true, mode: summary.mode, summary };
      if (!summary.thresholdStopped) this.lastSuccessAt = record.finishedAt;
      logger().info(
        {
          mode: summary.mode,
          created: summary.created,
          updated: summary.updated,
          deleted: summary.deleted,
          unchanged: summary.unchanged,
          quarantined: summary.quarantined,
          durationMs: summary.durationMs,
          exitCode: exitCodeFor(summary),
        },
        `cycle ${summary.mode}: +${summary.created} ~${summary.updated} -${summary.deleted} =${summary.unchanged} !${summary.quarantined}${summary.thresholdStopped ? ` (deletions held: ${summary.deletionsHeld})` : ''}`,
      );
    } catch (err) {
      const error = isDwbError(err)
        ? { code: err.code, message: err.message }
        : { code: 'DWB_INTERNAL', message: causeText(err) };
      record = { startedAt, finishedAt: new Date().toISOString(), ok: false, mode, error };
      logger().error({ code: error.code, mode }, `cycle failed: ${error.message}`);
    }
    this.running = false;
    this.lastCycle = record;
    for (const l of this.listeners) {
      try {
        l(record);
      } catch (err) {
        logger().warn({ cause: causeText(err) }, 'a cycle listener failed');
      }
    }
    return record;
  }

  private sleep(ms: number): Promise<void> {
    if (this.runNow) return Promise.resolve();
    this.nextRunAt = new Date(Date.now() + ms);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
