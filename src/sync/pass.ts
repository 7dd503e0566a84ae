// What one writeback pass works with and on: the two connectors as the engine sees them (the
// device source on the Entra side; for each forest, its device directory on the AD side —
// interfaces, so that the pipeline's logic is tested without Samba), the state store, the options,
// and the pass's running tally (per forest: counters, deletions held, a failure; for the pass:
// device errors and the planned operations of a dry run).
import type { DeviceContainer } from '../ad/device-container.js';
import type { ActualObject, AdValues, AttributeChange } from '../ad/device-object.js';
import type { ForestDomain } from '../ad/forest-domains.js';
import type { Config } from '../config/load.js';
import type { LastKnownDevices } from '../entra/merge.js';
import type { CloudReadEvent, DeviceRelations } from '../entra/types.js';
import { causeText } from '../errors.js';
import { logger } from '../log.js';
import {
  emptyCounters,
  type CycleState,
  type DeviceError,
  type QuarantineIssue,
  type RunCounters,
  type RunMode,
  type StateStore,
} from '../state/store.js';
import { ScopeRule } from './scope.js';
import type { GroupRound, GroupSource, ScopeGroups } from './scope-groups.js';

/** Where devices come from: the Entra connector, or anything that reads Graph the same way. */
export interface DeviceSource {
  readDevices(deltaLink: string | undefined, lastKnown: LastKnownDevices): AsyncGenerator<CloudReadEvent>;
  fetchRelations(deviceObjectIds: string[]): Promise<Map<string, DeviceRelations>>;
}

/**
 * Where devices go: the device container of one forest, as the AD connector offers it. Failures are
 * AdOperationError (ad/outcome.ts) or a DwbError for a DC that cannot be reached at all.
 */
export interface DeviceDirectory {
  /** How many operations the export keeps in flight at once (writeback.concurrency). */
  readonly inFlight: number;
  /** A cheap round trip, so that a pass notices a DC that is down before it writes. */
  ping(): Promise<void>;
  readObject(dn: string): Promise<ActualObject | undefined>;
  scanContainer(containerDn: string): AsyncGenerator<ActualObject[]>;
  add(dn: string, values: AdValues): Promise<void>;
  modify(dn: string, changes: AttributeChange[]): Promise<void>;
  delete(dn: string): Promise<void>;
}

/** A forest as a pass writes to it, once reached. */
export interface ForestTarget {
  name: string;
  directory: DeviceDirectory;
  container: DeviceContainer;
  domains: readonly ForestDomain[];
}

/** A forest the engine may write to: reached when a pass needs it, again after it failed. */
export interface ForestLink {
  readonly name: string;
  /**
   * Reaches the forest. `once`: one attempt, no retries — for a forest that was down at the last
   * pass, so that it costs the other forests' pass one round trip, not the retry budget.
   */
  connect(options?: { once?: boolean }): Promise<ForestTarget>;
  /** Drops the connection after a failure; the next connect() reaches the forest again. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface SyncOptions {
  full?: boolean;
  dryRun?: boolean;
  allowDeletes?: boolean;
  adopt?: boolean;
  onProgress?: (progress: SyncProgress) => void;
  /** Stop after the current page (SIGINT/SIGTERM in `run`); the watermark is then not advanced. */
  shouldStop?: () => boolean;
  /** Told the pass's mode as soon as it is known (and again when an expired delta token makes it full). */
  onMode?: (mode: RunMode) => void;
  /** The store's cycle state, when the caller has just read it (else the pass reads it). */
  cycleState?: CycleState;
}

export interface SyncProgress extends Omit<RunCounters, 'adopted'> {
  phase: 'reading' | 'writing' | 'deleting' | 'done';
  devices: number;
}

export interface PlannedOperation {
  action: 'add' | 'modify' | 'delete';
  dn: string;
  deviceId: string;
  adopt?: boolean;
  /** Why a device leaves AD (a delete): deleted in Entra ID, or the scope rule it fails. */
  reason?: string;
  /** A delete the deletion threshold would hold (listed by a dry run, not made). */
  held?: boolean;
  /** With several forests: where. */
  forest?: string;
  /** LDIF of the change, as ldapmodify would take it. */
  ldif: string;
}

/** What a pass did in one forest. */
export interface ForestSummary extends RunCounters {
  deletionsHeld: number;
  thresholdStopped: boolean;
  /** The forest could not be reached or stopped answering: its changes wait in the state store. */
  error?: { code: string; message: string };
}

/** An unmanaged object taken over by `sync --adopt` (SPEC §2). */
export interface Adoption {
  deviceId: string;
  dn: string;
  /** The forest it lives in. */
  forest: string;
}

export interface SyncSummary extends RunCounters {
  mode: RunMode;
  dryRun: boolean;
  durationMs: number;
  errors: DeviceError[];
  /** The objects adopted (or, in a dry run, that would be); `adopted` counts them. */
  adoptions: Adoption[];
  operations?: PlannedOperation[];
  /** Deletions held back by writeback.deleteThreshold. */
  deletionsHeld: number;
  thresholdStopped: boolean;
  /** Why the run is full (first run, --full, expired delta token, fullEverySeconds, a scope change). */
  reason: string;
  watermarkCommitted: boolean;
  /** Devices this pass found out of scope, by the rule that keeps them out (a full pass: all of them). */
  outOfScope: Record<string, number>;
  /** Devices not written because no forest holds their owner (several forests only). */
  unrouted: number;
  /** Per forest (every forest, also with one). */
  forests: Record<string, ForestSummary>;
}

/** How a pass ended, before it is summed up. */
export interface PassOutcome {
  watermarkCommitted: boolean;
}

/** The connectors, the store and the forests a pass runs against. */
export interface EngineContext {
  writeback: Config['writeback'];
  store: StateStore;
  source: DeviceSource;
  forests: readonly ForestLink[];
  /** Group membership for writeback.scope.groups (the Entra connector; needed only when it is set). */
  groups?: GroupSource;
  /** The configuration names its forests (`forests:`): devices are routed by their owner. */
  severalForests: boolean;
}

/** One forest's part of a pass: its target once reached, its tally, its failure. */
export class ForestRun {
  readonly counters: RunCounters = emptyCounters();
  deletionsHeld = 0;
  target: ForestTarget | undefined;
  /** Why the forest could not take this pass's changes (they wait in the state store). */
  failure: unknown;

  constructor(
    readonly pass: Pass,
    readonly link: ForestLink,
  ) {}

  get name(): string {
    return this.link.name;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  get containerDn(): string {
    return this.target!.container.containerDn;
  }

  get directory(): DeviceDirectory {
    return this.target!.directory;
  }

  /** Records that the forest failed in this pass: the rest of the pass goes on without it. */
  fail(err: unknown): void {
    if (this.failed) return;
    this.failure = err;
    logger().error(
      { forest: this.name, cause: causeText(err) },
      `forest ${this.name}: ${causeText(err)}; its changes wait in the state store until it answers again`,
    );
  }
}

/** One pass: its inputs and its running tally. */
export class Pass {
  /** Import-level counts (invalid cloud records, devices read). */
  readonly importCounters: RunCounters = emptyCounters();
  /** Devices read from Graph so far (for progress). */
  devicesRead = 0;
  unrouted = 0;
  readonly errors: DeviceError[] = [];
  readonly adoptions: Adoption[] = [];
  readonly operations: PlannedOperation[] | undefined;
  readonly dryRun: boolean;
  readonly scope: ScopeRule;
  /** Devices found out of scope, by rule. */
  readonly outOfScope: Record<string, number> = {};
  readonly runs: ForestRun[];
  /** Graph ids in quarantine (read at the start of each batch), so most devices skip the release. */
  private quarantineKeys: Set<string> | undefined;
  /** This pass's read of the scope groups, once started by the import. */
  private groupRead: Promise<GroupRound> | undefined;

  constructor(
    readonly context: EngineContext,
    readonly options: SyncOptions,
    private readonly scopeGroups?: ScopeGroups,
  ) {
    this.dryRun = options.dryRun ?? false;
    this.operations = this.dryRun ? [] : undefined;
    this.scope = new ScopeRule(context.writeback);
    this.runs = context.forests.map((link) => new ForestRun(this, link));
  }

  /**
   * Starts reading the scope groups' changes (when writeback.scope.groups is set), beside the
   * device read. The scope waits for it before judging any device.
   */
  startGroupRead(): void {
    if (!this.scopeGroups || this.groupRead) return;
    this.groupRead = this.scopeGroups.read().then((round) => {
      this.scope.useGroups(round.membership);
      return round;
    });
    this.groupRead.catch(() => undefined); // awaited by groups() or settleGroups()
  }

  /** The scope groups' round of this pass (undefined without scope groups). */
  async groups(): Promise<GroupRound | undefined> {
    return this.groupRead;
  }

  /** Commits the scope groups' round with the watermark, or drops it (the next pass reads it again). */
  async settleGroups(committed: boolean): Promise<void> {
    const read = this.groupRead;
    if (!read) return;
    this.groupRead = undefined;
    let round: GroupRound;
    try {
      round = await read;
    } catch {
      return; // the tracker already forgot what it read
    }
    if (committed) await round.commit();
    else round.discard();
  }

  /** Counts a device out of scope, by its rule. */
  countOutOfScope(rule: string): void {
    this.outOfScope[rule] = (this.outOfScope[rule] ?? 0) + 1;
  }

  get store(): StateStore {
    return this.context.store;
  }

  run(forest: string): ForestRun {
    return this.runs.find((r) => r.name === forest)!;
  }

  /** Every forest's counters and the import's, summed. */
  get counters(): RunCounters {
    const total = { ...this.importCounters };
    for (const run of this.runs)
      for (const key of Object.keys(total) as (keyof RunCounters)[]) total[key] += run.counters[key];
    return total;
  }

  progress(phase: SyncProgress['phase']): void {
    const { adopted: _, ...counters } = this.counters;
    this.options.onProgress?.({ phase, devices: this.devicesRead, ...counters });
  }

  /** Reads which devices are in quarantine now (skipped in a dry run, which writes nothing). */
  async loadQuarantineKeys(): Promise<void> {
    this.quarantineKeys = this.dryRun ? undefined : await this.store.quarantineKeys();
  }

  /** Quarantines devices: counted (in their forest), reported, recorded (except in a dry run), logged. */
  async quarantine(issues: readonly QuarantineIssue[]): Promise<void> {
    if (issues.length === 0) return;
    for (const issue of issues) {
      const counters = issue.forest ? this.run(issue.forest).counters : this.importCounters;
      counters.quarantined++;
      this.errors.push({
        deviceId: issue.deviceId,
        code: issue.code,
        message: issue.message,
        ...(this.context.severalForests && issue.forest ? { forest: issue.forest } : {}),
      });
      this.quarantineKeys?.add(issue.key);
      logger().warn(
        {
          deviceId: issue.deviceId,
          graphId: issue.graphId,
          code: issue.code,
          forest: issue.forest ?? undefined,
        },
        `device quarantined: ${issue.message}`,
      );
    }
    if (!this.dryRun) await this.store.quarantine(issues);
  }

  /** Takes devices out of quarantine; most never were, and cost nothing. */
  async release(graphIds: readonly string[]): Promise<void> {
    if (this.dryRun) return;
    const keys = this.quarantineKeys ? graphIds.filter((id) => this.quarantineKeys!.has(id)) : graphIds;
    if (keys.length === 0) return;
    await this.store.release(keys);
    for (const key of keys) this.quarantineKeys?.delete(key);
  }
}
