// The state store: what the engine remembers between passes, behind one interface that the engine,
// the CLI and the console use (SQLite today; PostgreSQL implements the same). It holds the delta
// watermark, the last known cloud state of every device (to merge partial delta records), the
// object map deviceId -> DN / objectGUID, the unmanaged objects of the last full reconcile, run
// history and quarantine. Everything is async, as a network database needs; every write method is
// one transaction. Nothing outside src/state/ holds a database handle or writes SQL.
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import type { ErrorCode } from '../errors.js';

export type RunMode = 'full' | 'delta';
/** `interrupted`: the process ended before the run did (killed, or the machine stopped). */
export type RunOutcome = 'ok' | 'quarantined' | 'threshold' | 'failed' | 'running' | 'interrupted';

/** What one pass did to AD; the same counters in sync summaries, run records and the console. */
export interface RunCounters {
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  quarantined: number;
  adopted: number;
}

export function emptyCounters(): RunCounters {
  return { created: 0, updated: 0, deleted: 0, unchanged: 0, quarantined: 0, adopted: 0 };
}

export interface DeviceError {
  deviceId: string | null;
  code: string;
  message: string;
  /** With several forests: the forest the error was met in. */
  forest?: string;
}

export interface RunRecord extends RunCounters {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  mode: RunMode;
  dryRun: boolean;
  outcome: RunOutcome;
  error: string | null;
  durationMs: number | null;
}

export interface RunResult extends RunCounters {
  mode: RunMode;
  outcome: Exclude<RunOutcome, 'running' | 'interrupted'>;
  error?: string;
  durationMs: number;
  errors: DeviceError[];
}

/** A device error of a recent run, with when that run started. */
export interface RecentDeviceError extends DeviceError {
  runId: number;
  startedAt: string;
}

export interface QuarantineIssue {
  /** Graph object id when known, otherwise the deviceId. */
  key: string;
  /** The forest the problem was met in; null for a problem of the cloud record itself. */
  forest?: string | null;
  graphId: string | null;
  deviceId: string | null;
  displayName: string | null;
  code: string;
  message: string;
}

export interface QuarantineEntry extends QuarantineIssue {
  firstSeen: string;
  lastSeen: string;
  attempts: number;
}

export interface ObjectRecord {
  /** The forest whose device container holds the object. */
  forest: string;
  deviceId: string;
  graphId: string;
  dn: string;
  objectGuid: string | null;
  hash: string;
  lastSyncedAt: string;
}

export type ObjectWrite = Omit<ObjectRecord, 'lastSyncedAt'> & { lastSyncedAt?: string };

/**
 * Why the engine does not write a device it knows: the rule that keeps it out and the reason in
 * words. The reason starts with its kind, in the SPEC's words: `out of scope: …` (`rule` is the
 * scope key that failed: trustTypes, operatingSystems, managedOnly, compliantOnly, groups,
 * requireOnPremisesOwner, see sync/scope.ts) or `unrouted: …` (several forests: no forest holds
 * the owner; `rule` is `unrouted`, see sync/routing.ts). Quarantine is kept apart (a device in
 * scope whose write failed).
 */
export interface NotWrittenReason {
  rule: string;
  reason: string;
}

/**
 * Where the sync rule sent a device: the forest it is written to, or why it is not written (then
 * `forest` is null, `reason` the words and `rule` the key, as in NotWrittenReason).
 */
export interface Disposition {
  forest: string | null;
  /** Why the device is not written (out of scope, unrouted), or null when it is. */
  reason: string | null;
  /** The key of the rule that keeps it out (a scope key, or `unrouted`), or null when it is written. */
  rule: string | null;
}

export interface StoredDevice extends Partial<Disposition> {
  device: CloudDevice;
  relations: DeviceRelations | null;
}

export interface DeviceWrite extends Partial<Disposition> {
  device: CloudDevice;
  relations: DeviceRelations | null;
  /**
   * The fingerprint the store holds for this device, when the caller has it at hand (a full pass
   * reads them all at once, see deviceFingerprints): an unchanged device then costs no write.
   */
  storedFingerprint?: number | null;
}

/** A deletion held back by the deletion threshold, until approved (approve-deletes, the console). */
export interface HeldDeletion {
  forest: string;
  deviceId: string;
  graphId: string | null;
  dn: string;
  reason: string;
  heldAt: string;
  /** When an administrator released it (it is made by the next pass), or null. */
  approvedAt: string | null;
}

export interface UnmanagedObject {
  forest?: string;
  dn: string;
  deviceId: string | null;
  displayName: string | null;
}

export interface Watermark {
  /** Where the next delta read starts. */
  deltaLink?: string;
  /** When the watermark was last committed (ISO). */
  committedAt?: string;
  lastFullAt?: string;
}

/** What decides the mode of the next pass, read at once (one round trip to a database server). */
export interface CycleState {
  watermark: Watermark;
  forests: Map<string, ForestState>;
  /** The scope configuration the last full pass applied (setScopeFingerprint). */
  scopeFingerprint: string | undefined;
}

export interface StoreCounts {
  cloudDevices: number;
  managedObjects: number;
  quarantined: number;
  unmanaged: number;
  /** Devices known in Entra ID but not written (out of scope, unrouted). */
  notWritten: number;
  /** Devices not written because no forest holds their owner. */
  unrouted: number;
  /** Per forest: the objects it holds, written and unmanaged. */
  forests: Record<string, { managedObjects: number; unmanaged: number }>;
}

/** The listed properties of a stored cloud device, for the console's device index. */
export interface DeviceSummary extends Partial<Disposition> {
  graphId: string;
  deviceId: string | null;
  updatedAt: string;
  displayName: string | null;
  enabled: boolean | null;
  osType: string | null;
  osVersion: string | null;
  trustType: string | null;
  /** The registered owner's UPN, else their SID, else their Graph id. */
  owner: string | null;
}

/** How many known devices are not written for one reason. */
export interface NotWrittenCount extends NotWrittenReason {
  count: number;
}

/** One delta read of groups/delta: the scope groups it covers (at most 50) and where it goes on. */
export interface ScopeGroupTrack {
  groupIds: string[];
  deltaLink: string;
}

/** A direct member of a tracked scope group that matters to the scope: a device, or a nested group. */
export interface ScopeGroupEdge {
  groupId: string;
  memberId: string;
  memberType: 'device' | 'group';
}

/** What the store keeps of the scope groups: the delta reads and the membership they built. */
export interface ScopeGroupState {
  tracks: ScopeGroupTrack[];
  edges: ScopeGroupEdge[];
}

/** A pass's changes to the scope groups, committed together once AD has what they imply. */
export interface ScopeGroupCommit {
  /** Replace the tracks (with their new delta links). */
  tracks: ScopeGroupTrack[];
  /** Groups no longer tracked: their edges go. */
  droppedGroups: string[];
  added: ScopeGroupEdge[];
  removed: { groupId: string; memberId: string }[];
}

export interface ObjectSummary {
  forest: string;
  deviceId: string;
  graphId: string;
  dn: string;
  lastSyncedAt: string;
}

export interface StateStore {
  /** Where the state lives, safe to print (a file path, or a database without its password). */
  readonly location: string;
  /**
   * This process's membership of the group of instances sharing the store (PostgreSQL, SPEC §7),
   * when it was opened as the writer; undefined for a store with one writer (SQLite: its lock file).
   */
  readonly group?: StoreGroup;
  close(): Promise<void>;

  // --- watermark ----------------------------------------------------------------------------
  watermark(): Promise<Watermark>;
  /** watermark(), forestStates() and scopeFingerprint() together: what a pass starts from. */
  cycleState(): Promise<CycleState>;
  /** Commits the watermark; call only once every change it covers is in AD. */
  commitWatermark(deltaLink: string, mode: RunMode, at?: Date): Promise<void>;

  // --- last known cloud state (the Entra side) ------------------------------------------------
  getDevices(graphIds: readonly string[]): Promise<Map<string, StoredDevice>>;
  findDeviceByDeviceId(deviceId: string): Promise<StoredDevice | undefined>;
  /** Graph id → fingerprint of every stored device (null for rows written before fingerprints). */
  deviceFingerprints(): Promise<Map<string, number | null>>;
  /** Records the last known state of devices; returns how many differed from what the store held. */
  putDevices(writes: readonly DeviceWrite[], now?: string): Promise<number>;
  deleteDevices(graphIds: readonly string[]): Promise<void>;
  /** Stored devices in Graph id order after `after`, `limit` at a time (a forest's reconcile from the store). */
  storedDevicesAfter(after: string, limit: number): Promise<(StoredDevice & { graphId: string })[]>;
  /** Devices known in Entra ID but not written, with the reason, by display name. */
  notWrittenDevices(): Promise<(DeviceSummary & { reason: string })[]>;
  /** Devices not written, by reason (rule and words), most frequent first. */
  notWrittenCounts(): Promise<NotWrittenCount[]>;

  // --- object map (the AD side) ---------------------------------------------------------------
  /** A forest's objects, by deviceId. */
  getObjects(forest: string, deviceIds: readonly string[]): Promise<Map<string, ObjectRecord>>;
  /** Every object written for these devices, in any forest. */
  objectsOfDevices(graphIds: readonly string[]): Promise<ObjectRecord[]>;
  putObjects(records: readonly ObjectWrite[]): Promise<void>;
  deleteObjects(forest: string, deviceIds: readonly string[]): Promise<void>;
  lastSyncTimes(forest: string, deviceIds: readonly string[]): Promise<Map<string, string>>;
  /** Devices that left Entra ID and whose objects are gone: cloud state, quarantine and object map. */
  forgetDevices(devices: readonly { graphId: string; deviceId?: string }[]): Promise<void>;
  /** Forgets what it knew of forests no longer configured (object map, unmanaged, held deletions, state). */
  forgetForestsExcept(names: readonly string[]): Promise<void>;
  replaceUnmanaged(forest: string, objects: readonly UnmanagedObject[]): Promise<void>;
  unmanagedObjects(): Promise<(UnmanagedObject & { forest: string; seenAt: string })[]>;

  // --- forests --------------------------------------------------------------------------------
  forestStates(): Promise<Map<string, ForestState>>;
  setForestState(forest: string, state: Partial<Omit<ForestState, 'updatedAt'>>): Promise<void>;

  // --- quarantine -----------------------------------------------------------------------------
  quarantine(issues: readonly QuarantineIssue[]): Promise<void>;
  /** Keys of every quarantined device (usually few; lets a pass skip releasing the rest). */
  quarantineKeys(): Promise<Set<string>>;
  release(keys: readonly string[]): Promise<void>;
  quarantined(): Promise<QuarantineEntry[]>;
  /** Marks a quarantined device for retry on the next cycle (the console's retry button). */
  requestRetry(key: string): Promise<boolean>;
  /** When a retry was last requested, by quarantine key. */
  retryRequests(): Promise<Map<string, string>>;

  // --- the deletion threshold ---------------------------------------------------------------
  /** A forest's deletions made since `since` (ISO), counted against writeback.deleteThreshold. */
  deletionsSince(forest: string, since: string): Promise<number>;
  recordDeletions(forest: string, count: number, at?: Date): Promise<void>;
  /** Replaces a forest's held deletions (an approval of one still held is kept). */
  holdDeletions(
    forest: string,
    held: readonly Omit<HeldDeletion, 'forest' | 'heldAt' | 'approvedAt'>[],
  ): Promise<void>;
  heldDeletions(): Promise<HeldDeletion[]>;
  /** Approves up to `max` held deletions (oldest first; all without max) and empties their forests' windows. */
  approveDeletions(max?: number): Promise<HeldDeletion[]>;
  /** Forgets a forest's held deletions that were made, and empties its window when `clearWindow`. */
  deletionsDone(
    forest: string,
    deviceIds: readonly string[],
    options?: { clearWindow?: boolean },
  ): Promise<void>;

  // --- the scope ----------------------------------------------------------------------------
  /** The fingerprint of the scope configuration the last committed full pass applied. */
  scopeFingerprint(): Promise<string | undefined>;
  setScopeFingerprint(fingerprint: string): Promise<void>;
  /** The scope groups' delta reads and membership edges (empty when none is tracked). */
  scopeGroups(): Promise<ScopeGroupState>;
  /** Records a pass's membership changes and new delta links, in one transaction. */
  commitScopeGroups(commit: ScopeGroupCommit): Promise<void>;

  // --- runs -----------------------------------------------------------------------------------
  startRun(mode: RunMode, dryRun: boolean): Promise<number>;
  finishRun(id: number, result: RunResult): Promise<void>;
  recentRuns(limit?: number): Promise<RunRecord[]>;
  getRun(id: number): Promise<RunRecord | undefined>;
  runErrors(runId: number): Promise<DeviceError[]>;
  /** Run id → number of device errors, for runs from `sinceRunId` on. */
  runErrorCounts(sinceRunId: number): Promise<Map<number, number>>;
  /** The latest device errors of all runs, newest first. */
  recentDeviceErrors(limit: number): Promise<RecentDeviceError[]>;
  /** The latest errors naming any of `keys` (deviceId or Graph id) in the last 200 runs. */
  deviceErrors(keys: readonly string[], limit: number): Promise<RecentDeviceError[]>;

  // --- reporting and the console's device index -------------------------------------------------
  counts(): Promise<StoreCounts>;
  /** Changes whenever the store changed, so a reader can skip a refresh; cheap. */
  changeStamp(): Promise<string>;
  /** Cloud devices stored at or after `mark` (an updatedAt), oldest first. */
  devicesChangedSince(mark: string): Promise<DeviceSummary[]>;
  deviceGraphIds(): Promise<string[]>;
  /** Object map rows synced at or after `mark` (a lastSyncedAt), oldest first. */
  objectsChangedSince(mark: string): Promise<ObjectSummary[]>;
  objectDeviceIds(): Promise<string[]>;
  /** Changes whenever the unmanaged objects were replaced. */
  unmanagedStamp(): Promise<string>;

  // --- the group of instances (SPEC §7) ----------------------------------------------------------
  /**
   * The instances that share this store, with their roles: every `run` of a PostgreSQL group that
   * was heard from lately (and the one-shot sync that leads, if any); with SQLite, the holder of
   * the writer lock, if any.
   */
  groupMembers(): Promise<GroupMember[]>;
  /** The latest leadership terms, newest first (empty with SQLite). */
  leaderTerms(limit?: number): Promise<LeaderTerm[]>;
}

export type GroupRole = 'leader' | 'standby';

export interface GroupMember {
  instanceId: string;
  host: string;
  pid: number;
  /** The command it runs (run, sync). */
  command: string;
  role: GroupRole;
  /** The epoch it leads under (the fencing token), null for a standby. */
  epoch: number | null;
  startedAt: string;
  /** When it was last heard from (ISO; the database's clock with PostgreSQL). */
  heartbeatAt: string;
}

/** One leadership term: an epoch, who held it, and when its AD writes began and ended. */
export interface LeaderTerm {
  epoch: number;
  instanceId: string;
  host: string;
  pid: number;
  command: string;
  /** When the lease was taken (database time). */
  acquiredAt: string;
  endedAt: string | null;
  /** released (a clean stop), expired (another instance took over after the lease ran out). */
  endReason: string | null;
  /** The first and last AD write of the term, by the leader's own clock (null: none). */
  firstWriteAt: string | null;
  lastWriteAt: string | null;
  writes: number;
}

/** Who leads a group now, as the lease says. */
export interface LeaseHolder {
  instanceId: string;
  host: string;
  pid: number;
  command: string;
  epoch: number;
  /** When the lease was last renewed and when it runs out (database time, ISO). */
  renewedAt: string;
  expiresAt: string;
}

/** What a leader may do with AD now: the local deadline of its lease, checked before every write. */
export interface WriteLease {
  /**
   * Admits one write that is about to be sent: throws DWB_STATE_FENCED unless this instance leads
   * and its local write deadline is ahead; otherwise records the send (a leader that steps down
   * lets its lease go only once its last write can no longer land).
   */
  admitWrite(): void;
  /**
   * Resolves when a write may be sent now; while this instance still leads but its deadline has
   * passed (a renewal is late), waits up to `waitMs` for the renewal; otherwise DWB_STATE_FENCED.
   */
  mayWrite(waitMs?: number): Promise<void>;
  /**
   * Records that an admitted write has settled (answered, failed, or timed out): the term's record
   * spans from its first admitted write to its last settled one.
   */
  writeSettled(): void;
}

/** The state of this instance in its group, for /healthz, the console and the metrics. */
export interface GroupStatus {
  role: GroupRole;
  instanceId: string;
  /** The epoch this instance leads under, or null. */
  epoch: number | null;
  /** Who leads (this instance or another), as last read; null when nobody does. */
  leader: LeaseHolder | null;
  /** Why this instance cannot do its part now (the database unreachable, a lease not renewed). */
  problem: string | null;
  /** Whether a leader may write to AD at this moment (its local deadline is ahead). */
  writable: boolean;
}

/** This process's membership of a group sharing one store: its lease, renewed in the background. */
export interface StoreGroup extends WriteLease {
  readonly instanceId: string;
  status(): GroupStatus;
  /** Calls `listener` whenever the role changes, and when another instance asks the leader for a cycle. */
  onChange(listener: (event: 'leader' | 'standby' | 'cycle-requested') => void): void;
  /** Whether this instance may take the lease when it is free (the service says no while a cycle of a lost term still runs). */
  setAcquireGate(gate: () => boolean): void;
  /** Asks the leader, through the store, for a cycle as soon as possible (the console of a standby). */
  requestCycle(): Promise<void>;
}

/** What the engine remembers of a forest between passes. */
export interface ForestState {
  /**
   * The forest missed changes (its DC was down during a pass that went on for the others): the
   * next pass that reaches it reconciles it in full from the state store.
   */
  needsFull: boolean;
  lastError: string | null;
  lastFullAt: string | null;
  /** The forest's domains as last read from it (routing uses them while it is down). */
  domains: ForestDomainRecord[] | null;
  updatedAt: string;
}

export interface ForestDomainRecord {
  dnsName: string;
  netbiosName: string | null;
  sid: string | null;
  dn: string;
}

/** What the state.writable check saw of a store. */
export interface StoreProbe {
  status: 'pass' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string;
  /** The DWB_… code of a warn or fail (DWB_STATE_UNAVAILABLE when absent). */
  code?: ErrorCode;
}

/** How a store is opened: the one writer of a group (sync, run) or a reader (status, the console). */
export interface OpenOptions {
  writer: boolean;
  /** The command opening it as the writer (named to whoever finds the store locked). */
  command?: string;
  /**
   * As the writer of a store shared by a group (PostgreSQL): stand by while another instance
   * leads, and take over when it is gone (`run`), instead of refusing with DWB_STATE_LOCKED
   * (`sync`). Ignored by a store with one writer (SQLite).
   */
  standby?: boolean;
  /** The lease of a group's leader (see state/lease.ts); the defaults when absent. */
  lease?: LeaseSettings;
}

/** How long a group's lease lasts, and how its leader and standbys pace themselves (state/lease.ts). */
export interface LeaseSettings {
  /** How long a renewal keeps the lease (by the database's clock). */
  leaseMs: number;
  /** How long before the lease ends, by its own clock, a leader stops writing to AD. */
  marginMs: number;
  /** How far a leader's write deadline reaches after a renewal was sent (lease − margin − drift). */
  writeWindowMs: number;
  /** How often the leader renews. */
  renewEveryMs: number;
  /** How often a standby looks at the lease. */
  pollEveryMs: number;
}
