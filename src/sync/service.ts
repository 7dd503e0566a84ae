// The writeback service behind `run`: a delta pass every writeback.intervalSeconds (a full
// reconcile when writeback.fullEverySeconds says so), one log line per cycle, health for /healthz,
// and a clean stop on SIGINT/SIGTERM that finishes the current batch first.
//
// A service stays up: when the DC or Graph cannot be reached (also at start, before the forest has
// been discovered), the cycle fails, /healthz says why with a 503, and the next attempt comes after
// a backoff that grows with each failure in a row (up to a minute), then back to the interval.
import type { Config } from '../config/load.js';
import { causeText, ExitCode, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { RunMode, StateStore } from '../state/store.js';
import { exitCodeFor, fullPassReason } from './engine.js';
import type { SyncSummary } from './pass.js';
import type { SessionHooks, SyncSession } from './session.js';

/** What the service runs on: the open state store, and how to connect the rest of the session. */
export interface ServiceSetup {
  config: Config;
  store: StateStore;
  /** Reaches the DC, discovers the forest and builds the engine; retried until it succeeds. */
  connect(): Promise<SyncSession>;
}

/** The longest wait between attempts while cycles keep failing. */
const MAX_BACKOFF_MS = 60_000;

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
  /** The forest has been reached and the engine built (false while the DC has never answered). */
  connected: boolean;
  /** Each forest's health, from the last cycle (every forest, also with one). */
  forests: Record<string, { healthy: boolean; reason: string }>;
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
  private failuresInARow = 0;
  private connected: SyncSession | undefined;
  /** Set when the configuration itself is wrong (exit 2): retrying would not help. */
  private fatal: unknown;

  constructor(readonly setup: ServiceSetup) {}

  /** A service over a session already connected (tests, benchmarks). */
  static fromSession(session: SyncSession): WritebackService {
    const service = new WritebackService({
      config: session.config,
      store: session.store,
      connect: async () => session,
    });
    service.connected = session;
    return service;
  }

  get config(): Config {
    return this.setup.config;
  }

  get store(): StateStore {
    return this.setup.store;
  }

  /** The connected session, once the DC has answered. */
  get session(): SyncSession | undefined {
    return this.connected;
  }

  get intervalMs(): number {
    return this.config.writeback.intervalSeconds * 1000;
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

  /** Closes what the service opened (the session's connections and the state store). */
  async close(): Promise<void> {
    if (this.connected) await this.connected.close();
    else await this.store.close();
  }

  health(now = Date.now()): ServiceHealth {
    const forests: ServiceHealth['forests'] = {};
    for (const [name, f] of Object.entries(this.lastCycle?.summary?.forests ?? {})) {
      forests[name] = f.error
        ? { healthy: false, reason: `${f.error.code} ${f.error.message}` }
        : f.thresholdStopped
          ? {
              healthy: false,
              reason: `deletions held back by writeback.deleteThreshold (${f.deletionsHeld})`,
            }
          : { healthy: true, reason: 'the last cycle succeeded' };
    }
    const base = {
      connected: this.connected !== undefined,
      forests,
      lastCycle: this.lastCycle,
      lastSuccessAt: this.lastSuccessAt,
      nextRunAt: this.nextRunAt?.toISOString() ?? null,
      running: this.running,
    };
    if (!this.lastCycle) return { healthy: true, reason: 'starting: no cycle has finished yet', ...base };
    if (!this.lastCycle.ok) {
      const retry = this.nextRunAt ? ` (next attempt ${this.nextRunAt.toISOString()})` : '';
      return {
        healthy: false,
        reason:
          `${this.connected ? 'the last cycle failed' : 'not connected to the forest yet'}: ${this.lastCycle.error?.code ?? ''} ${this.lastCycle.error?.message ?? ''}`.trim() +
          retry,
        ...base,
      };
    }
    if (this.lastCycle.summary?.thresholdStopped) {
      return {
        healthy: false,
        reason: `deletions held back by writeback.deleteThreshold (${this.lastCycle.summary.deletionsHeld}); check why, then release them with "device-writeback approve-deletes" or the console`,
        ...base,
      };
    }
    const down = Object.entries(forests).filter(([, f]) => !f.healthy);
    if (down.length > 0) {
      return {
        healthy: false,
        reason: down.map(([name, f]) => `forest ${name}: ${f.reason}`).join('; '),
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
      const record = await this.cycle();
      if (this.fatal !== undefined) throw this.fatal;
      if (this.stopping) break;
      // Cycles start at a fixed rate: a change waits at most one interval, however long a cycle
      // took. Failures in a row back off (1, 2, 4… intervals, up to a minute).
      this.failuresInARow = record.ok ? 0 : this.failuresInARow + 1;
      const wait = record.ok
        ? this.intervalMs
        : Math.max(
            this.intervalMs,
            Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** (this.failuresInARow - 1)),
          );
      await this.sleep(Math.max(0, wait - (Date.now() - started)));
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
      // Known from the store before the forest is reached, so that a cycle that fails (the DC or
      // Graph down, also before the first connection) is counted under its mode.
      mode = (await fullPassReason(this.store, this.config)) ? 'full' : 'delta';
      const session = (this.connected ??= await this.connectOnce());
      // Each pass reaches every forest first (a round trip to each DC, even in a cycle with
      // nothing to do), so /healthz stays honest.
      const summary = await session.engine.sync({
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
      if (isDwbError(err) && err.exitCode === ExitCode.usage && !this.connected) this.fatal = err;
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

  /** Connects the session; a failure is the cycle's (the service keeps running and retries). */
  private async connectOnce(): Promise<SyncSession> {
    const session = await this.setup.connect();
    const reached = session.forests.flatMap((f) =>
      f.reached ? [`${f.name}: ${f.reached.container.containerDn}`] : [],
    );
    logger().info({ forests: reached }, `connected to the forest${session.forests.length === 1 ? '' : 's'}`);
    return session;
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
