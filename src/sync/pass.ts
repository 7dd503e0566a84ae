// What one writeback pass works with and on: the two connectors as the engine sees them (the
// device source on the Entra side, the device directory on the AD side — interfaces, so that the
// pipeline's logic is tested without Samba), the state store, the options, and the pass's running
// tally (counters, device errors, the planned operations of a dry run).
import type { DeviceContainer } from '../ad/device-container.js';
import type { ActualObject, AdValues, AttributeChange } from '../ad/device-object.js';
import type { Config } from '../config/load.js';
import type { LastKnownDevices } from '../entra/merge.js';
import type { CloudReadEvent, DeviceRelations } from '../entra/types.js';
import { logger } from '../log.js';
import {
  emptyCounters,
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
  /** How many operations may run at once; each names its slot (0 … slots-1). */
  readonly slots: number;
  readObject(slot: number, dn: string): Promise<ActualObject | undefined>;
  scanContainer(containerDn: string): AsyncGenerator<ActualObject[]>;
  add(slot: number, dn: string, values: AdValues): Promise<void>;
  modify(slot: number, dn: string, changes: AttributeChange[]): Promise<void>;
  delete(slot: number, dn: string): Promise<void>;
}

export interface SyncOptions {
  full?: boolean;
  dryRun?: boolean;
  allowDeletes?: boolean;
  adopt?: boolean;
  onProgress?: (progress: SyncProgress) => void;
  /** Stop after the current page (SIGINT/SIGTERM in `run`); the watermark is then not advanced. */
  shouldStop?: () => boolean;
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
  /** LDIF of the change, as ldapmodify would take it. */
  ldif: string;
}

export interface SyncSummary extends RunCounters {
  mode: RunMode;
  dryRun: boolean;
  durationMs: number;
  errors: DeviceError[];
  operations?: PlannedOperation[];
  /** Deletions held back by writeback.deleteThreshold. */
  deletionsHeld: number;
  thresholdStopped: boolean;
  /** Why the run is full (first run, --full, expired delta token, fullEverySeconds, a scope change). */
  reason: string;
  watermarkCommitted: boolean;
  /** Devices this pass found out of scope, by the rule that keeps them out (a full pass: all of them). */
  outOfScope: Record<string, number>;
}

/** How a pass ended, before it is summed up. */
export interface PassOutcome {
  deletionsHeld: number;
  thresholdStopped: boolean;
  watermarkCommitted: boolean;
}

/** The connectors, the store and the forest a pass runs against. */
export interface EngineContext {
  writeback: Config['writeback'];
  store: StateStore;
  source: DeviceSource;
  directory: DeviceDirectory;
  container: DeviceContainer;
  /** Group membership for writeback.scope.groups (the Entra connector; needed only when it is set). */
  groups?: GroupSource;
}

/** One pass: its inputs and its running tally. */
export class Pass {
  readonly counters: RunCounters = emptyCounters();
  /** Devices read from Graph so far (for progress). */
  devicesRead = 0;
  readonly errors: DeviceError[] = [];
  readonly operations: PlannedOperation[] | undefined;
  readonly dryRun: boolean;
  readonly scope: ScopeRule;
  /** Devices found out of scope, by rule. */
  readonly outOfScope: Record<string, number> = {};
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

  get containerDn(): string {
    return this.context.container.containerDn;
  }

  progress(phase: SyncProgress['phase']): void {
    const { adopted: _, ...counters } = this.counters;
    this.options.onProgress?.({ phase, devices: this.devicesRead, ...counters });
  }

  /** Reads which devices are in quarantine now (skipped in a dry run, which writes nothing). */
  async loadQuarantineKeys(): Promise<void> {
    this.quarantineKeys = this.dryRun ? undefined : await this.store.quarantineKeys();
  }

  /** Quarantines devices: counted, reported, recorded (except in a dry run), logged. */
  async quarantine(issues: readonly QuarantineIssue[]): Promise<void> {
    if (issues.length === 0) return;
    for (const issue of issues) {
      this.counters.quarantined++;
      this.errors.push({ deviceId: issue.deviceId, code: issue.code, message: issue.message });
      this.quarantineKeys?.add(issue.key);
      logger().warn(
        { deviceId: issue.deviceId, graphId: issue.graphId, code: issue.code },
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
