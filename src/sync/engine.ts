// The writeback engine: one pass of import (Entra, full or delta) -> sync rule (scope, join,
// attribute flow) -> export (AD). The watermark is committed only after every change it covers is
// in AD, so a crash at any point followed by a restart converges with no duplicate and no loss.
import type { Config } from '../config/load.js';
import { type SchemaCapabilities } from '../ad/discovery.js';
import { childDn } from '../ad/dn.js';
import { bytesToGuid, isGuid } from '../ad/guid.js';
import type {
  CloudDevice,
  DeltaPage,
  DeviceChange,
  DeviceRelations,
  PartialCloudDevice,
} from '../entra/types.js';
import { DwbError, causeText, ExitCode } from '../errors.js';
import { logger } from '../log.js';
import type { RunMode, StateStore } from '../state/store.js';
import { type AdTarget, isTransient, ldapResultCode } from './ad-target.js';
import { type AdValues, desiredObject, displayValue, valuesHash } from './attribute-flow.js';
import { collectGarbage, heapGuard } from './heap.js';
import {
  type ActualObject,
  type DeviceIssue,
  type Operation,
  isManaged,
  planDevice,
  planRemoval,
} from './planner.js';

/** Where devices come from: the Entra connector, or anything that reads Graph the same way. */
export interface DeviceSource {
  readDelta(deltaLink: string | undefined): AsyncGenerator<DeltaPage | { kind: 'reset'; reason: string }>;
  fetchRelations(deviceObjectIds: string[]): Promise<Map<string, DeviceRelations>>;
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

export interface SyncProgress {
  phase: 'reading' | 'writing' | 'deleting' | 'done';
  devices: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  quarantined: number;
}

export interface PlannedOperation {
  action: 'add' | 'modify' | 'delete';
  dn: string;
  deviceId: string;
  adopt?: boolean;
  /** LDIF of the change, as ldapmodify would take it. */
  ldif: string;
}

export interface SyncSummary {
  mode: RunMode;
  dryRun: boolean;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  quarantined: number;
  adopted: number;
  durationMs: number;
  errors: { deviceId: string | null; code: string; message: string }[];
  operations?: PlannedOperation[];
  /** Deletions held back by writeback.deleteThreshold. */
  deletionsHeld: number;
  thresholdStopped: boolean;
  /** Why the run is full (first run, --full, expired delta token, fullEverySeconds). */
  reason: string;
  watermarkCommitted: boolean;
}

export function exitCodeFor(summary: SyncSummary): number {
  if (summary.thresholdStopped) return ExitCode.deleteThreshold;
  if (summary.quarantined > 0) return ExitCode.quarantined;
  return ExitCode.ok;
}

type SourceItem = DeltaPage | { kind: 'reset'; reason: string };

/** Devices of a delta pass planned and written together (see RunContext.delta). */
const DELTA_CHUNK = 500;

/**
 * A page of the Graph read: its devices merged into whole records (`item.changes` keeps only the
 * removals and invalid records), and the owners of those in scope being fetched.
 */
interface PreparedItem {
  item: SourceItem;
  devices: CloudDevice[];
  relations: Promise<Map<string, DeviceRelations>>;
}

function isReset(item: SourceItem): item is { kind: 'reset'; reason: string } {
  return (item as { kind?: unknown }).kind === 'reset';
}

/** Merges a delta record into the last known state: an absent property keeps its old value. */
export function mergeDevice(previous: CloudDevice | undefined, partial: PartialCloudDevice): CloudDevice {
  const base: CloudDevice = previous ?? {
    id: partial.id,
    deviceId: '',
    displayName: null,
    accountEnabled: null,
    operatingSystem: null,
    operatingSystemVersion: null,
    trustType: null,
    isManaged: null,
    isCompliant: null,
    deviceVersion: null,
    approximateLastSignInDateTime: null,
    physicalIds: [],
    alternativeSecurityIds: [],
  };
  const merged: CloudDevice = { ...base };
  const target = merged as unknown as Record<string, unknown>;
  const source = partial as unknown as Record<string, unknown>;
  for (const key in source) {
    const value = source[key];
    if (value !== undefined) target[key] = value;
  }
  merged.physicalIds ??= [];
  merged.alternativeSecurityIds ??= [];
  return merged;
}

export function toLdif(op: Operation): string {
  const line = (attribute: string, value: Buffer): string => {
    const v = displayValue(attribute, value);
    return v.base64 ? `${attribute}:: ${v.text}` : `${attribute}: ${v.text}`;
  };
  const dnLine =
    /^[\x20-\x7e]*$/.test(op.dn) && !op.dn.startsWith(' ')
      ? `dn: ${op.dn}`
      : `dn:: ${Buffer.from(op.dn).toString('base64')}`;
  if (op.kind === 'add') {
    const lines = [dnLine, 'changetype: add', 'objectClass: msDS-Device'];
    for (const [attribute, values] of op.values) for (const v of values) lines.push(line(attribute, v));
    return lines.join('\n');
  }
  if (op.kind === 'delete') return [dnLine, 'changetype: delete'].join('\n');
  const lines = [dnLine, 'changetype: modify'];
  for (const ch of op.changes) {
    lines.push(`${ch.operation}: ${ch.attribute}`);
    for (const v of ch.values) lines.push(line(ch.attribute, v));
    lines.push('-');
  }
  return lines.join('\n');
}

interface Counters {
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  quarantined: number;
  adopted: number;
  devices: number;
}

/** What the engine knows about the connected forest (discovered once per session). */
export interface TargetInfo {
  containerDn: string;
  schema: SchemaCapabilities;
}

interface PendingOperation {
  op: Operation;
  device: CloudDevice | undefined;
  hash: string | undefined;
}

/** A full-mode index entry: enough to know, without re-reading, whether an object already matches. */
interface IndexEntry {
  dn: string;
  hash: string;
  managed: boolean;
  objectGuid?: string;
}

export class SyncEngine {
  constructor(
    private readonly config: Config,
    private readonly store: StateStore,
    private readonly source: DeviceSource,
    private readonly target: AdTarget,
    private readonly info: TargetInfo,
  ) {}

  /** Why this pass must be full, or undefined for a delta pass. */
  fullReason(options: SyncOptions): string | undefined {
    if (options.full) return 'requested (--full)';
    if (!this.store.deltaLink) return 'no watermark yet (first run)';
    const last = this.store.lastFullAt;
    if (!last || Date.now() - Date.parse(last) > this.config.writeback.fullEverySeconds * 1000) {
      return `the last full reconcile is older than writeback.fullEverySeconds (${this.config.writeback.fullEverySeconds} s)`;
    }
    return undefined;
  }

  async sync(options: SyncOptions = {}): Promise<SyncSummary> {
    const started = Date.now();
    const dryRun = options.dryRun ?? false;
    const reason = this.fullReason(options);
    let mode: RunMode = reason ? 'full' : 'delta';
    const runId = this.store.startRun(mode, dryRun);
    const counters: Counters = {
      created: 0,
      updated: 0,
      deleted: 0,
      unchanged: 0,
      quarantined: 0,
      adopted: 0,
      devices: 0,
    };
    const errors: SyncSummary['errors'] = [];
    const operations: PlannedOperation[] | undefined = dryRun ? [] : undefined;
    const run = new RunContext(
      this.config,
      this.store,
      this.source,
      this.target,
      this.info,
      options,
      counters,
      errors,
      operations,
    );
    let result: {
      deletionsHeld: number;
      thresholdStopped: boolean;
      watermarkCommitted: boolean;
      mode: RunMode;
      reason: string;
    };
    try {
      if (mode === 'delta') {
        const delta = await run.delta();
        if (delta === 'reset') {
          mode = 'full';
          result = {
            ...(await run.full()),
            mode,
            reason: 'the delta token expired (Graph answered 410); reading everything again',
          };
        } else {
          result = { ...delta, mode, reason: 'delta' };
        }
      } else {
        result = { ...(await run.full()), mode, reason: reason! };
      }
    } catch (err) {
      const durationMs = Date.now() - started;
      this.store.finishRun(runId, {
        mode,
        ...counters,
        outcome: 'failed',
        error: causeText(err),
        durationMs,
        errors,
      });
      throw err;
    }
    const summary: SyncSummary = {
      mode: result.mode,
      dryRun,
      created: counters.created,
      updated: counters.updated,
      deleted: counters.deleted,
      unchanged: counters.unchanged,
      quarantined: counters.quarantined,
      adopted: counters.adopted,
      durationMs: Date.now() - started,
      errors,
      ...(operations ? { operations } : {}),
      deletionsHeld: result.deletionsHeld,
      thresholdStopped: result.thresholdStopped,
      reason: result.reason,
      watermarkCommitted: result.watermarkCommitted,
    };
    this.store.finishRun(runId, {
      mode: summary.mode,
      ...counters,
      outcome: summary.thresholdStopped ? 'threshold' : summary.quarantined > 0 ? 'quarantined' : 'ok',
      error: summary.thresholdStopped
        ? `${summary.deletionsHeld} deletions held back by writeback.deleteThreshold`
        : undefined,
      durationMs: summary.durationMs,
      errors,
    });
    options.onProgress?.({ phase: 'done', ...counters });
    return summary;
  }
}

/** Everything one pass needs; holds the counters. */
class RunContext {
  private readonly scope: Set<string>;
  private readonly dryRun: boolean;
  /**
   * During a full pass: graph id → fingerprint of what the state store holds, for the devices the
   * Graph read has not returned yet.
   */
  private stored: Map<string, number | null> | undefined;
  /** Graph ids in quarantine, read at the start of each batch. */
  private quarantineKeys: Set<string> | undefined;

  constructor(
    private readonly config: Config,
    private readonly store: StateStore,
    private readonly source: DeviceSource,
    private readonly target: AdTarget,
    private readonly info: TargetInfo,
    private readonly options: SyncOptions,
    private readonly counters: Counters,
    private readonly errors: SyncSummary['errors'],
    private readonly operations: PlannedOperation[] | undefined,
  ) {
    this.scope = new Set(config.writeback.trustTypes.map((t) => t.toLowerCase()));
    this.dryRun = options.dryRun ?? false;
  }

  private inScope(device: CloudDevice): boolean {
    return typeof device.trustType === 'string' && this.scope.has(device.trustType.toLowerCase());
  }

  private progress(phase: SyncProgress['phase']): void {
    this.options.onProgress?.({ phase, ...this.counters });
  }

  private quarantine(issue: DeviceIssue): void {
    this.counters.quarantined++;
    this.errors.push({ deviceId: issue.deviceId, code: issue.code, message: issue.message });
    if (!this.dryRun) this.store.quarantine(issue);
    this.quarantineKeys?.add(issue.key);
    logger().warn(
      { deviceId: issue.deviceId, graphId: issue.graphId, code: issue.code },
      `device quarantined: ${issue.message}`,
    );
  }

  /** A record Graph sent that failed validation (the connector says why). */
  private quarantineInvalid(change: Extract<DeviceChange, { kind: 'invalid' }>): void {
    this.quarantine({
      key: change.id ?? change.deviceId ?? 'unknown',
      graphId: change.id ?? null,
      deviceId: change.deviceId ?? null,
      displayName: null,
      code: 'DWB_DEVICE_INVALID',
      message: change.reason,
    });
  }

  // --- full ---------------------------------------------------------------------------------

  /** A full reconcile: every cloud device against every object in the container; repairs drift. */
  async full(): Promise<{ deletionsHeld: number; thresholdStopped: boolean; watermarkCommitted: boolean }> {
    // The Graph read starts at once (token, first page, its owners) and runs while the container is
    // read from AD: neither waits for the other. One page of look-ahead after that: while a page is
    // written to AD, the next one is read from Graph and its owners are fetched, so the slower side
    // (usually the DC) sets the pace.
    this.quarantineKeys = this.dryRun ? undefined : this.store.quarantineKeys();
    const pages = lookahead(this.prepared(this.source.readDelta(undefined)));
    const first = pages.next();
    first.catch(() => undefined); // awaited below, after the container scan
    let result;
    try {
      result = await this.fullPass(pages, first);
    } catch (err) {
      // Do not wait for a Graph page still on its way (AD failed first): drop it when it comes.
      pages.return(undefined).catch(() => undefined);
      throw err;
    }
    await pages.return(undefined);
    collectGarbage();
    return result;
  }

  private async fullPass(
    pages: AsyncGenerator<PreparedItem>,
    first: Promise<IteratorResult<PreparedItem>>,
  ): Promise<{ deletionsHeld: number; thresholdStopped: boolean; watermarkCommitted: boolean }> {
    const index = new Map<string, IndexEntry>();
    const unmanaged: { dn: string; deviceId: string | null; displayName: string | null }[] = [];
    const scan = this.target.scanContainer(this.info.containerDn);
    const firstScan = scan.next();
    firstScan.catch(() => undefined); // awaited just below
    // While the DC and Graph answer: what the state store holds. Each device the read returns is
    // taken out; what is left at the end are devices Entra ID no longer has. This must stay before
    // the first `await` here: no Graph page can be prepared until then (see recordOutOfScope).
    this.stored = this.dryRun ? undefined : this.store.deviceFingerprints();
    for (let next = await firstScan; !next.done; next = await scan.next()) {
      const page = next.value;
      for (const a of page) {
        const managed = isManaged(a);
        index.set(a.cn.toLowerCase(), {
          dn: a.dn,
          hash: valuesHash(a.values),
          managed,
          objectGuid: a.objectGuid,
        });
        if (!managed) {
          const id = a.values.get('msDS-DeviceID')?.[0];
          unmanaged.push({
            dn: a.dn,
            deviceId: id && id.length === 16 ? bytesToGuid(id) : null,
            displayName: a.values.get('displayName')?.[0]?.toString('utf8') ?? null,
          });
        }
      }
    }
    if (!this.dryRun) this.store.replaceUnmanaged(unmanaged);
    const seenCns = new Set<string>();
    let deltaLink: string | undefined;
    let stopped = false;
    const keepHeapSmall = heapGuard();
    for (let next = await first; !next.done; next = await pages.next()) {
      keepHeapSmall();
      const { item, devices, relations } = next.value;
      if (isReset(item)) continue; // a reset during a full read changes nothing: it is already full
      for (const change of item.changes) {
        if (change.kind === 'invalid') {
          this.quarantineInvalid(change);
          if (change.id) this.stored?.delete(change.id);
          const stored = change.id ? this.store.getDevice(change.id) : undefined;
          if (stored?.device.deviceId) seenCns.add(stored.device.deviceId.toLowerCase());
        }
        // a `removed` entry in a full read: the device is simply not seen, so it is deleted below
      }
      await this.processDevices(
        devices,
        'full',
        (device) => {
          const entry = index.get(device.deviceId?.toLowerCase?.() ?? '');
          return entry ? { entry, read: () => this.target.readObject(0, entry.dn) } : undefined;
        },
        seenCns,
        relations,
      );
      if (item.deltaLink) deltaLink = item.deltaLink;
      if (this.options.shouldStop?.()) {
        stopped = true;
        break;
      }
    }
    if (stopped || !deltaLink) {
      return { deletionsHeld: 0, thresholdStopped: false, watermarkCommitted: false };
    }
    // Managed objects that no in-scope cloud device claimed leave AD.
    const deletions: Operation[] = [];
    for (const [cn, entry] of index) {
      if (seenCns.has(cn) || !entry.managed) continue;
      const known = this.store.getObject(cn);
      deletions.push({
        kind: 'delete',
        deviceId: cn,
        graphId: known?.graphId ?? null,
        dn: entry.dn,
        reason: 'the device no longer exists in Entra ID or is out of writeback.trustTypes',
      });
    }
    const held = await this.applyDeletions(deletions);
    if (!this.dryRun) {
      // Forget cloud state of devices that the full read no longer returns.
      this.store.transaction(() => {
        for (const id of this.stored?.keys() ?? []) this.store.deleteDevice(id);
      });
    }
    if (held > 0 || this.dryRun)
      return { deletionsHeld: held, thresholdStopped: held > 0, watermarkCommitted: false };
    this.store.commitWatermark(deltaLink, 'full');
    return { deletionsHeld: 0, thresholdStopped: false, watermarkCommitted: true };
  }

  // --- delta --------------------------------------------------------------------------------

  async delta(): Promise<
    'reset' | { deletionsHeld: number; thresholdStopped: boolean; watermarkCommitted: boolean }
  > {
    const upserts = new Map<string, PartialCloudDevice[]>();
    const removed = new Map<string, string>();
    let deltaLink: string | undefined;
    for await (const item of this.source.readDelta(this.store.deltaLink)) {
      if (isReset(item)) {
        logger().info({ reason: item.reason }, 'delta token no longer valid; switching to a full read');
        return 'reset';
      }
      for (const change of item.changes) {
        if (change.kind === 'upsert') {
          removed.delete(change.device.id);
          const list = upserts.get(change.device.id) ?? [];
          list.push(change.device);
          upserts.set(change.device.id, list);
        } else if (change.kind === 'removed') {
          upserts.delete(change.id);
          removed.set(change.id, change.reason);
        } else {
          this.quarantineInvalid(change);
        }
      }
      if (item.deltaLink) deltaLink = item.deltaLink;
    }
    // Merge partial records into the last known state.
    const devices = new Map<string, CloudDevice>();
    for (const [id, partials] of upserts) {
      let device = this.store.getDevice(id)?.device;
      for (const p of partials) device = mergeDevice(device, p);
      devices.set(id, device!);
    }
    // Quarantined devices are retried every pass; they leave quarantine when they succeed.
    for (const q of this.store.quarantined()) {
      if (!q.graphId || devices.has(q.graphId) || removed.has(q.graphId)) continue;
      const stored = this.store.getDevice(q.graphId);
      if (stored) devices.set(q.graphId, stored.device);
    }
    const lookup = (device: CloudDevice) => {
      const cn = device.deviceId?.toLowerCase?.() ?? '';
      if (!isGuid(cn)) return undefined;
      const dn = childDn('CN', cn, this.info.containerDn);
      // A device we never wrote is simply added: an object already there turns the add into a
      // read and a modify (or a conflict), so the common case costs one round trip, not two.
      const known = this.store.getObject(cn) !== undefined;
      return { entry: undefined, read: () => this.target.readObject(0, dn), assumeAbsent: !known };
    };
    // A large delta (a tenant that grew) goes in chunks: the owners of the next chunk are read
    // from Graph while this one is written to AD.
    const list = [...devices.values()];
    const deletions: Operation[] = [];
    let next = this.relationsOf(list.slice(0, DELTA_CHUNK));
    for (let i = 0; i < list.length; i += DELTA_CHUNK) {
      const chunk = list.slice(i, i + DELTA_CHUNK);
      const relations = next;
      if (i + DELTA_CHUNK < list.length)
        next = this.relationsOf(list.slice(i + DELTA_CHUNK, i + 2 * DELTA_CHUNK));
      deletions.push(...(await this.processDevices(chunk, 'delta', lookup, new Set<string>(), relations)));
    }
    const forget: { graphId: string; deviceId: string | undefined }[] = [];
    for (const [graphId, why] of removed) {
      const deviceId = (
        this.store.getDevice(graphId)?.device.deviceId ?? this.store.getObjectByGraphId(graphId)?.deviceId
      )?.toLowerCase();
      forget.push({ graphId, deviceId });
      if (!deviceId || !isGuid(deviceId)) continue;
      const actual = await this.target.readObject(0, childDn('CN', deviceId, this.info.containerDn));
      if (!actual) continue;
      const op = planRemoval(
        actual,
        graphId,
        why === 'deleted' ? 'the device was deleted in Entra ID' : 'the device was soft-deleted in Entra ID',
      );
      if (op) deletions.push(op);
    }
    const held = await this.applyDeletions(deletions);
    if (held === 0 && !this.dryRun) {
      // Only now that the objects are gone does the engine forget the devices.
      this.store.transaction(() => {
        for (const f of forget) {
          this.store.deleteDevice(f.graphId);
          this.store.release(f.graphId);
          if (f.deviceId) this.store.deleteObject(f.deviceId);
        }
      });
    }
    if (held > 0 || this.dryRun || !deltaLink) {
      return { deletionsHeld: held, thresholdStopped: held > 0, watermarkCommitted: false };
    }
    this.store.commitWatermark(deltaLink, 'delta');
    return { deletionsHeld: 0, thresholdStopped: false, watermarkCommitted: true };
  }

  // --- shared -------------------------------------------------------------------------------

  /** Starts fetching the owners of a page's in-scope devices as soon as the page arrives. */
  private async *prepared(source: AsyncIterable<SourceItem>): AsyncGenerator<PreparedItem> {
    // A page's partial records are not held here while this waits at `yield` (see readDelta).
    for await (const item of source) yield this.prepare(item);
  }

  /** Starts reading the owners of the devices in scope; awaited later (by processDevices). */
  private relationsOf(devices: CloudDevice[]): Promise<Map<string, DeviceRelations>> {
    const ids = devices.filter((d) => this.inScope(d)).map((d) => d.id);
    const pending =
      ids.length > 0 ? this.source.fetchRelations(ids) : Promise.resolve(new Map<string, DeviceRelations>());
    pending.catch(() => undefined); // awaited by the consumer; this only avoids an early unhandled rejection
    return pending;
  }

  private prepare(item: SourceItem): PreparedItem {
    if (isReset(item)) return { item, devices: [], relations: this.relationsOf([]) };
    // The page's records become whole devices; the partial records are not kept. Devices out of
    // writeback.trustTypes only need recording in the state store: done here, at once, so that
    // only the devices in scope wait in the look-ahead (at 100,000 devices, holding them all
    // showed in the pass's peak memory). Their objects, if any, go in the end-of-pass sweep.
    const devices: CloudDevice[] = [];
    const outOfScope: CloudDevice[] = [];
    const others: DeltaPage['changes'] = [];
    for (const change of item.changes) {
      if (change.kind !== 'upsert') others.push(change);
      else {
        const device = mergeDevice(undefined, change.device);
        (this.inScope(device) ? devices : outOfScope).push(device);
      }
    }
    item.changes.length = 0;
    this.recordOutOfScope(outOfScope);
    return { item: { ...item, changes: others }, devices, relations: this.relationsOf(devices) };
  }

  private recordOutOfScope(devices: CloudDevice[]): void {
    this.counters.devices += devices.length;
    if (this.dryRun || devices.length === 0) return;
    // fullPass loads the fingerprints before the first page can arrive; without them every device
    // would look unseen and be forgotten at the end of the pass.
    if (!this.stored) throw new Error('internal: the state fingerprints are not loaded');
    this.store.transaction(() => {
      const now = new Date().toISOString();
      for (const d of devices) {
        const previous = this.stored!.get(d.id);
        this.stored!.delete(d.id);
        this.store.putDevice(d, null, previous, now);
        this.releaseIfQuarantined(d.id);
      }
    });
  }

  /**
   * Plans and applies one batch of cloud devices. `lookup` finds the actual object for a device:
   * in full mode from the container index (re-read only when its fingerprint differs), in delta
   * mode by reading CN=<deviceId>.
   */
  private async processDevices(
    devices: CloudDevice[],
    mode: RunMode,
    lookup: (device: CloudDevice) =>
      | {
          entry: IndexEntry | undefined;
          read: () => Promise<ActualObject | undefined>;
          assumeAbsent?: boolean;
        }
      | undefined,
    seenCns: Set<string>,
    /** The owners of the devices in scope, being read (see relationsOf). */
    prefetched: Promise<Map<string, DeviceRelations>>,
  ): Promise<Operation[]> {
    if (devices.length === 0) return [];
    this.counters.devices += devices.length;
    this.progress('reading');
    const inScope: CloudDevice[] = [];
    const outOfScope: CloudDevice[] = [];
    for (const d of devices) (this.inScope(d) ? inScope : outOfScope).push(d);
    this.quarantineKeys = this.dryRun ? undefined : this.store.quarantineKeys();
    const fetched = await prefetched;
    // The connector leaves out a device whose owners could not be read: keep its last known ones
    // rather than writing it without an owner.
    const relations = new Map<string, DeviceRelations>();
    for (const d of inScope) {
      const r = fetched.get(d.id) ?? this.store.getDevice(d.id)?.relations ?? undefined;
      if (r) relations.set(d.id, r);
    }
    if (!this.dryRun) {
      this.store.transaction(() => {
        const now = new Date().toISOString();
        for (const d of devices) {
          const previous = this.stored?.get(d.id);
          this.stored?.delete(d.id);
          this.store.putDevice(d, relations.get(d.id) ?? null, previous, now);
        }
        for (const d of outOfScope) this.releaseIfQuarantined(d.id);
      });
    }

    const operations: PendingOperation[] = [];
    const unchanged: { device: CloudDevice; dn: string; hash: string; objectGuid?: string }[] = [];
    await mapLimit(inScope, 8, async (device) => {
      const rel = relations.get(device.id) ?? null;
      const flow = desiredObject(device, rel, this.info.schema);
      const cn = flow.ok ? flow.object.deviceId : device.deviceId?.toLowerCase?.();
      if (cn) seenCns.add(cn);
      const found = lookup(device);
      let actual: ActualObject | undefined;
      if (found) {
        const desiredHash = flow.ok ? valuesHash(flow.object.values) : undefined;
        if (found.entry && found.entry.managed && desiredHash === found.entry.hash) {
          this.counters.unchanged++;
          unchanged.push({
            device,
            dn: found.entry.dn,
            hash: desiredHash,
            objectGuid: found.entry.objectGuid,
          });
          return;
        }
        if (!found.assumeAbsent) actual = await found.read();
      }
      const identity = {
        graphId: device.id,
        deviceId: device.deviceId ?? null,
        displayName: device.displayName,
      };
      const plan = planDevice(flow, identity, actual, this.info.containerDn, {
        adopt: this.options.adopt ?? false,
      });
      if (plan.kind === 'issue') this.quarantine(plan.issue);
      else if (plan.kind === 'unchanged') {
        this.counters.unchanged++;
        unchanged.push({
          device,
          dn: actual!.dn,
          hash: valuesHash(actual!.values),
          objectGuid: actual!.objectGuid,
        });
      } else
        operations.push({
          op: plan.operation,
          device,
          hash: flow.ok ? valuesHash(flow.object.values) : undefined,
        });
    });
    if (!this.dryRun && unchanged.length > 0) {
      this.store.transaction(() => {
        for (const u of unchanged) this.recordSuccess(u.device, u.dn, u.hash, u.objectGuid);
      });
    }
    await this.apply(operations);

    // Out of scope (writeback.trustTypes): a managed object of ours leaves AD. In full mode the
    // end-of-run sweep removes it (they are not marked seen); in delta mode it is read here and
    // returned, so that the deletion threshold applies to it.
    const removals: Operation[] = [];
    if (mode === 'delta') {
      for (const device of outOfScope) {
        const actual = await lookup(device)?.read();
        const op = actual
          ? planRemoval(actual, device.id, 'the device is out of writeback.trustTypes')
          : undefined;
        if (op) removals.push(op);
      }
    }
    return removals;
  }

  private recordSuccess(device: CloudDevice, dn: string, hash: string, objectGuid?: string): void {
    if (this.dryRun) return;
    this.store.putObject({
      deviceId: device.deviceId.toLowerCase(),
      graphId: device.id,
      dn,
      objectGuid: objectGuid ?? null,
      hash,
    });
    this.releaseIfQuarantined(device.id);
  }

  /** Takes a device out of quarantine; most devices never were, and skip the store. */
  private releaseIfQuarantined(graphId: string): void {
    if (this.dryRun) return;
    if (this.quarantineKeys && !this.quarantineKeys.has(graphId)) return;
    this.store.release(graphId);
    this.quarantineKeys?.delete(graphId);
  }

  /** Applies operations with bounded concurrency; a per-object failure quarantines that device. */
  private async apply(items: PendingOperation[]): Promise<void> {
    if (items.length === 0) return;
    if (this.operations) {
      for (const { op } of items) this.countPlanned(op);
      return;
    }
    this.progress('writing');
    await mapLimit(items, this.target.size, async ({ op, device, hash }, slot) => {
      try {
        const outcome = await this.applyOne(op, slot);
        if (outcome === 'unchanged') this.counters.unchanged++;
        else if (outcome === 'updated' && op.kind === 'add') this.counters.updated++;
        else this.countApplied(op);
        if (op.kind === 'delete') {
          this.store.deleteObject(op.deviceId);
        } else if (device && hash) {
          this.recordSuccess(device, op.dn, hash);
        }
      } catch (err) {
        if (isTransient(err))
          throw new DwbError(
            'DWB_AD_UNREACHABLE',
            `the domain controller stopped answering during the sync: ${causeText(err)}`,
          );
        if (err instanceof DeviceIssueError) {
          this.quarantine({ ...err.issue, displayName: device?.displayName ?? err.issue.displayName });
          return;
        }
        const code = ldapResultCode(err);
        this.quarantine({
          key: device?.id ?? op.deviceId,
          graphId: device?.id ?? op.graphId,
          deviceId: op.deviceId,
          displayName: device?.displayName ?? null,
          code: 'DWB_DEVICE_WRITE_FAILED',
          message: `${op.kind} ${op.dn} failed${code !== undefined ? ` (LDAP ${code})` : ''}: ${causeText(err)}`,
        });
      }
      if ((this.counters.created + this.counters.updated + this.counters.deleted) % 100 === 0)
        this.progress('writing');
    });
  }

  /** One operation, made idempotent against what a crashed earlier run may have left behind. */
  private async applyOne(
    op: Operation,
    slot: number,
  ): Promise<'created' | 'updated' | 'unchanged' | 'deleted'> {
    if (op.kind === 'add') {
      try {
        await this.target.add(slot, op.dn, op.values);
        return 'created';
      } catch (err) {
        if (ldapResultCode(err) !== 68) throw err; // entryAlreadyExists: re-plan against what is there
        const actual = await this.target.readObject(slot, op.dn);
        if (!actual) throw err;
        const desired = {
          deviceId: op.deviceId,
          graphId: op.graphId,
          displayName: op.displayName,
          values: op.values,
        };
        const plan = planDevice({ ok: true, object: desired }, op, actual, this.info.containerDn, {
          adopt: this.options.adopt ?? false,
        });
        if (plan.kind === 'issue') throw new DeviceIssueError(plan.issue);
        if (plan.kind === 'unchanged') return 'unchanged';
        if (plan.operation.kind !== 'modify') throw err;
        await this.target.modify(slot, op.dn, plan.operation.changes);
        if (plan.operation.adopt) this.counters.adopted++;
        return 'updated';
      }
    }
    if (op.kind === 'modify') {
      try {
        await this.target.modify(slot, op.dn, op.changes);
      } catch (err) {
        // noSuchAttribute on a delete of an attribute already gone: drop those and retry once.
        if (ldapResultCode(err) !== 16) throw err;
        const actual = await this.target.readObject(slot, op.dn);
        if (!actual) throw err;
        const changes = op.changes.filter((c) => c.operation === 'replace' || actual.values.has(c.attribute));
        if (changes.length > 0) await this.target.modify(slot, op.dn, changes);
      }
      return 'updated';
    }
    try {
      await this.target.del(slot, op.dn);
    } catch (err) {
      if (ldapResultCode(err) !== 32) throw err; // already gone
    }
    return 'deleted';
  }

  private countPlanned(op: Operation): void {
    this.operations!.push({
      action: op.kind,
      dn: op.dn,
      deviceId: op.deviceId,
      ...(op.kind === 'modify' && op.adopt ? { adopt: true } : {}),
      ldif: toLdif(op),
    });
    this.countApplied(op);
  }

  private countApplied(op: Operation): void {
    if (op.kind === 'add') this.counters.created++;
    else if (op.kind === 'delete') this.counters.deleted++;
    else {
      this.counters.updated++;
      if (op.adopt) this.counters.adopted++;
    }
  }

  /** Applies deletions unless they exceed writeback.deleteThreshold; returns how many were held. */
  private async applyDeletions(deletions: Operation[]): Promise<number> {
    if (deletions.length === 0) return 0;
    const threshold = this.config.writeback.deleteThreshold;
    if (deletions.length > threshold && !this.options.allowDeletes) {
      logger().warn(
        { deletions: deletions.length, threshold },
        `this pass would delete ${deletions.length} objects, more than writeback.deleteThreshold (${threshold}); nothing was deleted and the watermark was not advanced. Check why so many devices left Entra ID, then run "device-writeback sync --allow-deletes" to confirm.`,
      );
      return deletions.length;
    }
    this.progress('deleting');
    await this.apply(deletions.map((op) => ({ op, device: undefined, hash: undefined })));
    return 0;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; the worker index is passed as the slot. */
export async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T, slot: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async (_, slot) => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item, slot);
    }
  });
  await Promise.all(workers);
}

export type { AdValues };

/** Iterates `source` one item ahead: the next item is being produced while the current is consumed. */
export async function* lookahead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = it.next();
      next.catch(() => undefined); // surfaces when awaited on the next turn
      yield current.value;
    }
  } finally {
    await it.return?.();
  }
}

/** A device problem found while applying (an add that met an object we may not touch). */
class DeviceIssueError extends Error {
  constructor(readonly issue: DeviceIssue) {
    super(issue.message);
  }
}
