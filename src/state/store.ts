// The state store: what the engine remembers between passes, behind one interface that the engine,
// the CLI and the console use (SQLite today; PostgreSQL implements the same). It holds the delta
// watermark, the last known cloud state of every device (to merge partial delta records), the
// object map deviceId -> DN / objectGUID, the unmanaged objects of the last full reconcile, run
// history and quarantine. Everything is async, as a network database needs; every write method is
// one transaction. Nothing outside src/state/ holds a database handle or writes SQL.
import type { CloudDevice, DeviceRelations } from '../entra/types.js';

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
 * words ("out of scope: not compliant"). `rule` is the scope key that failed (trustTypes,
 * operatingSystems, managedOnly, compliantOnly, groups, requireOnPremisesOwner, see
 * sync/scope.ts); routing to several forests records `unrouted` here too. Quarantine is kept apart
 * (a device in scope whose write failed).
 */
export interface NotWrittenReason {
  rule: string;
  reason: string;
}

export interface StoredDevice {
  device: CloudDevice;
  relations: DeviceRelations | null;
  /** Why it is not written, as the last pass that saw it decided; null when it is in scope. */
  notWritten: NotWrittenReason | null;
}

export interface DeviceWrite {
  device: CloudDevice;
  relations: DeviceRelations | null;
  /** Why the device is not written (out of scope); null or absent when it is in scope. */
  notWritten?: NotWrittenReason | null;
  /**
   * The fingerprint the store holds for this device, when the caller has it at hand (a full pass
   * reads them all at once, see deviceFingerprints): an unchanged device then costs no write.
   */
  storedFingerprint?: number | null;
}

/** A deletion held back by the deletion threshold, until approved (approve-deletes, the console). */
export interface HeldDeletion {
  deviceId: string;
  graphId: string | null;
  dn: string;
  reason: string;
  heldAt: string;
  /** When an administrator released it (it is made by the next pass), or null. */
  approvedAt: string | null;
}

export interface UnmanagedObject {
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

export interface StoreCounts {
  cloudDevices: number;
  managedObjects: number;
  quarantined: number;
  unmanaged: number;
}

/** The listed properties of a stored cloud device, for the console's device index. */
export interface DeviceSummary {
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
  /** Why the engine does not write it (out of scope); null when it is in scope. */
  notWritten: NotWrittenReason | null;
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
  deviceId: string;
  graphId: string;
  dn: string;
  lastSyncedAt: string;
}

export interface StateStore {
  /** Where the state lives, safe to print (a file path, or a database without its password). */
  readonly location: string;
  close(): Promise<void>;

  // --- watermark ----------------------------------------------------------------------------
  watermark(): Promise<Watermark>;
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
  /** Devices not written, by reason (rule and words), most frequent first. */
  notWrittenCounts(): Promise<NotWrittenCount[]>;

  // --- object map (the AD side) ---------------------------------------------------------------
  getObjects(deviceIds: readonly string[]): Promise<Map<string, ObjectRecord>>;
  getObjectsByGraphId(graphIds: readonly string[]): Promise<Map<string, ObjectRecord>>;
  putObjects(records: readonly ObjectWrite[]): Promise<void>;
  deleteObjects(deviceIds: readonly string[]): Promise<void>;
  lastSyncTimes(deviceIds: readonly string[]): Promise<Map<string, string>>;
  /** Devices that left Entra ID and whose objects are gone: cloud state, quarantine and object map. */
  forgetDevices(devices: readonly { graphId: string; deviceId?: string }[]): Promise<void>;
  replaceUnmanaged(objects: readonly UnmanagedObject[]): Promise<void>;
  unmanagedObjects(): Promise<(UnmanagedObject & { seenAt: string })[]>;

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
  /** Deletions made since `since` (ISO), counted against writeback.deleteThreshold. */
  deletionsSince(since: string): Promise<number>;
  recordDeletions(count: number, at?: Date): Promise<void>;
  /** Replaces the held deletions (an approval of one still held is kept). */
  holdDeletions(held: readonly Omit<HeldDeletion, 'heldAt' | 'approvedAt'>[]): Promise<void>;
  heldDeletions(): Promise<HeldDeletion[]>;
  /** Approves up to `max` held deletions (oldest first; all without max) and empties the window. */
  approveDeletions(max?: number): Promise<HeldDeletion[]>;
  /** Forgets held deletions that were made, and empties the window when `clearWindow`. */
  deletionsDone(deviceIds: readonly string[], options?: { clearWindow?: boolean }): Promise<void>;

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
}

/** What the state.writable check saw of a store. */
export interface StoreProbe {
  status: 'pass' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string;
}

/** How a store is opened: the one writer of a group (sync, run) or a reader (status, the console). */
export interface OpenOptions {
  writer: boolean;
  /** The command opening it as the writer (named to whoever finds the store locked). */
  command?: string;
}
