// The writeback service behind `run`: a delta pass every writeback.intervalSeconds (a full
// reconcile when writeback.fullEverySeconds says so), one log line per cycle, health for /healthz,
// and a clean stop on SIGINT/SIGTERM that finishes the current batch first.
//
// A service stays up: when the DC or Graph cannot be reached (also at start, before the forest has
// been discovered), the cycle fails, /healthz says why with a 503, and the next attempt comes after
// a backoff that grows with each failure in a row (up to a minute), then back to the interval.
//
// On a store shared by a group (PostgreSQL, SPEC §7) the service runs cycles only while its
// instance leads. A standby connects to the forest ahead of time (so that a takeover only has to
// run a cycle), pings the DC every interval, and forwards a request for a cycle to the leader.
import type { Config } from '../config/load.js';
import { causeText, DwbError, ExitCode, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { GroupRole, GroupStatus, LeaseHolder, RunMode, StateStore } from '../state/store.js';
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
  /** leader: this instance writes to AD (always so with SQLite); standby: another instance does. */
  role: GroupRole;
  /** Who leads the group and under which epoch (null with SQLite, or when nobody leads). */
  leader: LeaseHolder | null;
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
  /** What a standby's last look at the forest found wrong (null: nothing). */
  private standbyProblem: { code: string; message: string } | null = null;

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

  /** Runs a cycle as soon as the current one (if any) ends; a standby asks the leader for one. */
  requestRun(): void {
    const group = this.store.group;
    if (group && group.status().role !== 'leader') {
      group.requestCycle().catch((err: unknown) => {
        logger().warn({ cause: causeText(err) }, 'could not forward the request for a cycle to the leader');
      });
      return;
    }
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
    const group: GroupStatus | undefined = this.store.group?.status();
    const standby = group?.role === 'standby';
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
      role: group?.role ?? ('leader' as const),
      leader: group?.leader ?? null,
      connected: this.connected !== undefined,
      forests,
      lastCycle: this.lastCycle,
      lastSuccessAt: this.lastSuccessAt,
      nextRunAt: standby ? null : (this.nextRunAt?.toISOString() ?? null),
      running: this.running,
    };
    if (group && standby) {
      if (group.problem) return { healthy: false, reason: `standby: ${group.problem}`, ...base };
      if (this.standbyProblem)
        return {
          healthy: false,
          reason: `standby, not ready to take over: ${this.standbyProblem.code} ${this.standbyProblem.message}`,
          ...base,
        };
      const l = group.leader;
      return {
        healthy: true,
        reason: l
          ? `standby: \`device-writeback ${l.command}\` (process ${l.pid} on host ${l.host}, epoch ${l.epoch}) leads and writes to AD`
          : 'standby: no instance leads now; this one takes the lease at its next look',
        ...base,
      };
    }
    if (group?.problem) return { healthy: false, reason: `leader: ${group.problem}`, ...base };
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
    const group = this.store.group;
    if (group) {
      // A lost term's cycle ends (fenced) before this instance may take the lease again.
      group.setAcquireGate(() => !this.running);
      group.onChange((event) => {
        if (event === 'cycle-requested') return this.requestRun();
        this.failuresInARow = 0;
        this.wake?.();
      });
    }
    while (!this.stopping) {
      if (group && group.status().role !== 'leader') {
        await this.standBy();
        continue;
      }
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

  /**
   * A standby's look at the forest, once per interval: connected ahead of a takeover, and the DC
   * still answering. Then it waits for the interval, or for the leadership.
   */
  private async standBy(): Promise<void> {
    const started = Date.now();
    try {
      const session = (this.connected ??= await this.connectOnce());
      // Every forest: a standby must be able to write wherever its leader does.
      const several = session.forests.length > 1;
      for (const forest of session.forests) {
        try {
          await forest.connect();
        } catch (err) {
          await forest.reset().catch(() => undefined);
          if (several && isDwbError(err))
            throw new DwbError(err.code, `forest ${forest.name}: ${err.message}`);
          throw err;
        }
      }
      this.standbyProblem = null;
    } catch (err) {
      this.standbyProblem = isDwbError(err)
        ? { code: err.code, message: err.message }
        : { code: 'DWB_INTERNAL', message: causeText(err) };
      if (isDwbError(err) && err.exitCode === ExitCode.usage && !this.connected) this.fatal = err;
    }
    if (this.fatal !== undefined) throw this.fatal;
    if (this.stopping || this.store.group?.status().role === 'leader') return;
    await this.sleep(Math.max(0, this.intervalMs - (Date.now() - started)), { standby: true });
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
      const cycleState = await this.store.cycleState();
      mode = fullPassReason(cycleState, this.config) ? 'full' : 'delta';
      const session = (this.connected ??= await this.connectOnce());
      // Each pass reaches every forest first (a round trip to each DC, even in a cycle with
      // nothing to do), so /healthz stays honest.
      const summary = await session.engine.sync({
        shouldStop: () => this.stopping,
        onMode: (m) => (mode = m),
        cycleState,
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

  private sleep(ms: number, options: { standby?: boolean } = {}): Promise<void> {
    if (this.runNow && !options.standby) return Promise.resolve();
    if (!options.standby) this.nextRunAt = new Date(Date.now() + ms);
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
