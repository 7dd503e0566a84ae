// The console's device index: every cloud device the engine knows and every unmanaged object the
// last full reconcile saw in the container, as narrow in-memory rows sorted by display name, so
// that the Devices page searches, filters and pages 100,000 devices in a few milliseconds. It
// follows the state store incrementally, through the store's own change feed (rows changed since
// the last look), and only reads.
import type { DeviceSummary, ObjectSummary, StateStore } from '../state/store.js';
import { notWrittenOf, recordedReason, type NotWritten } from '../sync/not-written.js';

export type DeviceState = 'managed' | 'unmanaged' | 'quarantined' | 'not-written';
export const DEVICE_STATES: readonly DeviceState[] = ['managed', 'unmanaged', 'quarantined', 'not-written'];

export interface DeviceQuery {
  /** Text contained in the display name, deviceId, OS, OS version or owner (case-insensitive). */
  search?: string;
  state?: DeviceState;
  enabled?: boolean;
  /** Exact operating system (operatingSystem / msDS-DeviceOSType). */
  os?: string;
  /** Text contained in the registered owner's UPN (or SID). */
  owner?: string;
  /** Devices not written for this rule (a scope key such as compliantOnly, or unrouted). */
  rule?: string;
  /** With several forests: only this forest's devices. */
  forest?: string;
  /** 1-based. */
  page?: number;
  pageSize?: number;
}

export interface DeviceRow {
  /** Graph object id for a cloud device; `ad:<dn>` for an unmanaged object. */
  key: string;
  kind: 'cloud' | 'unmanaged';
  graphId: string | null;
  deviceId: string | null;
  displayName: string | null;
  enabled: boolean | null;
  osType: string | null;
  osVersion: string | null;
  trustType: string | null;
  owner: string | null;
  /** The AD object, when there is one (written by device-writeback, or unmanaged). */
  dn: string | null;
  lastSyncedAt: string | null;
  /** When the engine last stored this device's cloud state. */
  cloudUpdatedAt: string | null;
  /** The forest its object is in, or the one it is routed to. */
  forest: string | null;
  /** Why a cloud device is not written (out of scope, unrouted), or null. */
  reason: string | null;
  /** The key of the rule that keeps it out (a scope key such as compliantOnly, or unrouted), or null. */
  rule: string | null;
}

export interface ListedDevice extends DeviceRow {
  state: DeviceState;
  quarantine: { code: string; message: string } | null;
  /** Why a device of state not-written or quarantined is not in AD; null for the others. */
  why: NotWritten | null;
}

export interface DevicePage {
  rows: ListedDevice[];
  total: number;
  page: number;
  pageSize: number;
  pages: number;
}

interface IndexedDevice extends DeviceRow {
  sortKey: string;
  search: string;
  ownerSearch: string;
}

type ObjectRef = ObjectSummary;

interface Columns {
  rows: IndexedDevice[];
  version: number;
  corpus: string;
  starts: Int32Array;
  ownerCorpus: string;
  ownerStarts: Int32Array;
  enabled: Int8Array;
  kind: Uint8Array;
  os: Int32Array;
  osNames: Map<string, number>;
}

const KIND_CLOUD = 0;
const KIND_WRITTEN = 1;
const KIND_UNMANAGED = 2;

/** Marks the rows whose text (between starts[i] and starts[i+1]) contains `needle`. */
function positionsMatching(corpus: string, starts: Int32Array, needle: string, n: number): Uint8Array {
  const found = new Uint8Array(n);
  let from = 0;
  let row = 0;
  for (;;) {
    const at = corpus.indexOf(needle, from);
    if (at < 0) break;
    // the row holding offset `at`: advance (matches come in increasing order)
    let lo = row;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid + 1]! <= at) lo = mid + 1;
      else hi = mid;
    }
    row = lo;
    found[row] = 1;
    from = starts[row + 1]!; // next row
    row++;
    if (row >= n) break;
  }
  return found;
}

export const MAX_PAGE_SIZE = 200;
/** Above this many changed rows, a refresh re-sorts everything instead of moving rows one by one. */
const RESORT_THRESHOLD = 512;

const fold = (text: string): string => text.toLowerCase().replace(/\n/g, ' ');

function compare(a: IndexedDevice, b: IndexedDevice): number {
  return a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0;
}

function finish(row: DeviceRow): IndexedDevice {
  let search = row.displayName ?? '';
  for (const part of [row.deviceId, row.osType, row.osVersion, row.owner])
    if (part) search += `\u0001${part}`;
  // An explicit literal (not a spread): 100,000 objects of one shape stay compact and fast.
  return {
    key: row.key,
    kind: row.kind,
    graphId: row.graphId,
    deviceId: row.deviceId,
    displayName: row.displayName,
    enabled: row.enabled,
    osType: row.osType,
    osVersion: row.osVersion,
    trustType: row.trustType,
    owner: row.owner,
    dn: row.dn,
    lastSyncedAt: row.lastSyncedAt,
    cloudUpdatedAt: row.cloudUpdatedAt,
    forest: row.forest,
    reason: row.reason,
    rule: row.rule,
    sortKey: `${fold(row.displayName ?? '')}\u0000${row.key}`,
    search: fold(search),
    ownerSearch: fold(row.owner ?? ''),
  };
}

export class DeviceIndex {
  private readonly cloud = new Map<string, IndexedDevice>();
  private readonly objectsByDeviceId = new Map<string, ObjectRef>();
  private readonly objectsByGraphId = new Map<string, ObjectRef>();
  private unmanaged = new Map<string, IndexedDevice>();
  private unmanagedStamp = '';
  private sorted: IndexedDevice[] | null = null;
  private columns: Columns | null = null;
  /** Bumped whenever a row changes in place or moves, so that the column arrays are rebuilt. */
  private version = 0;
  private deviceMark = '';
  private objectMark = '';
  private changeStamp = '';

  private refreshing: Promise<void> | undefined;

  constructor(private readonly store: StateStore) {}

  /**
   * Takes in what changed in the store since the last look: nothing at all when the store made no
   * change since (its change stamp), otherwise the rows changed since the last marks plus the keys
   * when a count shows a deletion. Concurrent callers share one refresh.
   */
  async refresh(force = false): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.readChanges(force).finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  private async readChanges(force: boolean): Promise<void> {
    const store = this.store;
    const stamp = await store.changeStamp();
    if (!force && stamp === this.changeStamp) return;
    this.changeStamp = stamp;
    const changed: { before: IndexedDevice | undefined; after: IndexedDevice | undefined }[] = [];

    // Objects first, so that device rows built below see their DN.
    const objectRows = await store.objectsChangedSince(this.objectMark);
    for (const o of objectRows) this.putObject(o);
    if (objectRows.length > 0) this.objectMark = objectRows[objectRows.length - 1]!.lastSyncedAt;
    let touched = objectRows.length > 0;
    const counts = await store.counts();
    if (counts.managedObjects !== this.objectsByDeviceId.size) {
      touched = true;
      const present = new Set(await store.objectDeviceIds());
      for (const [key, ref] of this.objectsByDeviceId) {
        if (present.has(key)) continue;
        this.objectsByDeviceId.delete(key);
        if (this.objectsByGraphId.get(ref.graphId) === ref) this.objectsByGraphId.delete(ref.graphId);
        const row = this.cloud.get(ref.graphId);
        if (row && row.dn === ref.dn) {
          row.dn = null;
          row.lastSyncedAt = null;
        }
      }
    }
    for (const o of objectRows) {
      const row = this.cloud.get(o.graphId);
      if (row) {
        row.dn = o.dn;
        row.lastSyncedAt = o.lastSyncedAt;
        row.forest = o.forest;
      }
    }

    const deviceRows: DeviceSummary[] = await store.devicesChangedSince(this.deviceMark);
    for (const d of deviceRows) {
      const object = this.objectsByGraphId.get(d.graphId);
      const row = finish({
        key: d.graphId,
        kind: 'cloud',
        graphId: d.graphId,
        deviceId: d.deviceId,
        displayName: d.displayName,
        enabled: d.enabled,
        osType: d.osType,
        osVersion: d.osVersion,
        trustType: d.trustType,
        owner: d.owner,
        dn: object?.dn ?? null,
        lastSyncedAt: object?.lastSyncedAt ?? null,
        cloudUpdatedAt: d.updatedAt,
        forest: object?.forest ?? d.forest ?? null,
        reason: d.reason ?? null,
        rule: d.rule ?? null,
      });
      const before = this.cloud.get(d.graphId);
      this.cloud.set(d.graphId, row);
      changed.push({ before, after: row });
    }
    if (deviceRows.length > 0) this.deviceMark = deviceRows[deviceRows.length - 1]!.updatedAt;
    if (counts.cloudDevices !== this.cloud.size) {
      const present = new Set(await store.deviceGraphIds());
      for (const [graphId, row] of this.cloud) {
        if (present.has(graphId)) continue;
        this.cloud.delete(graphId);
        changed.push({ before: row, after: undefined });
      }
    }

    const unmanagedStamp = await store.unmanagedStamp();
    if (unmanagedStamp !== this.unmanagedStamp) {
      this.unmanagedStamp = unmanagedStamp;
      const next = new Map<string, IndexedDevice>();
      for (const u of await store.unmanagedObjects()) {
        const row = finish({
          key: `ad:${u.dn}`,
          kind: 'unmanaged',
          graphId: null,
          deviceId: u.deviceId,
          displayName: u.displayName,
          enabled: null,
          osType: null,
          osVersion: null,
          trustType: null,
          owner: null,
          dn: u.dn,
          lastSyncedAt: null,
          cloudUpdatedAt: null,
          forest: u.forest,
          reason: null,
          rule: null,
        });
        next.set(row.key, row);
      }
      for (const [key, row] of this.unmanaged)
        if (!next.has(key)) changed.push({ before: row, after: undefined });
      for (const [key, row] of next) changed.push({ before: this.unmanaged.get(key), after: row });
      this.unmanaged = next;
    }
    this.resort(changed);
    if (touched || changed.length > 0) this.version++;
  }

  private putObject(ref: ObjectRef): void {
    const key = `${ref.forest}/${ref.deviceId}`;
    const previous = this.objectsByDeviceId.get(key);
    if (
      previous &&
      previous.graphId !== ref.graphId &&
      this.objectsByGraphId.get(previous.graphId) === previous
    ) {
      this.objectsByGraphId.delete(previous.graphId);
    }
    this.objectsByDeviceId.set(key, ref);
    this.objectsByGraphId.set(ref.graphId, ref);
  }

  /** Moves changed rows within the sorted list (or drops it, to be rebuilt, after many changes). */
  private resort(changed: { before: IndexedDevice | undefined; after: IndexedDevice | undefined }[]): void {
    if (!this.sorted || changed.length === 0) return;
    if (changed.length > RESORT_THRESHOLD) {
      this.sorted = null;
      return;
    }
    const list = this.sorted;
    for (const { before, after } of changed) {
      if (before) {
        const at = this.lowerBound(before);
        if (list[at] === before || list[at]?.sortKey === before.sortKey) list.splice(at, 1);
      }
      if (after) list.splice(this.lowerBound(after), 0, after);
    }
  }

  private lowerBound(row: IndexedDevice): number {
    const list = this.sorted!;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compare(list[mid]!, row) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private all(): IndexedDevice[] {
    if (!this.sorted) {
      this.sorted = [...this.cloud.values(), ...this.unmanaged.values()].sort(compare);
      this.columns = null;
    }
    return this.sorted;
  }

  /**
   * Column arrays over the sorted rows: the searchable text of every row in one string (one
   * indexOf over it is far cheaper than 100,000 small scans), flags in typed arrays.
   */
  private snapshot(): Columns {
    const rows = this.all();
    if (this.columns && this.columns.rows === rows && this.columns.version === this.version)
      return this.columns;
    const n = rows.length;
    const starts = new Int32Array(n + 1);
    const ownerStarts = new Int32Array(n + 1);
    const enabled = new Int8Array(n);
    const kind = new Uint8Array(n);
    const os = new Int32Array(n);
    const osNames = new Map<string, number>();
    const text: string[] = new Array<string>(n);
    const owners: string[] = new Array<string>(n);
    let offset = 0;
    let ownerOffset = 0;
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      starts[i] = offset;
      text[i] = r.search;
      offset += r.search.length + 1;
      ownerStarts[i] = ownerOffset;
      owners[i] = r.ownerSearch;
      ownerOffset += r.ownerSearch.length + 1;
      enabled[i] = r.enabled === null ? -1 : r.enabled ? 1 : 0;
      kind[i] = r.kind === 'unmanaged' ? KIND_UNMANAGED : r.dn ? KIND_WRITTEN : KIND_CLOUD;
      let id = -1;
      if (r.osType !== null) {
        id = osNames.get(r.osType) ?? osNames.size;
        osNames.set(r.osType, id);
      }
      os[i] = id;
    }
    starts[n] = offset;
    ownerStarts[n] = ownerOffset;
    this.columns = {
      rows,
      version: this.version,
      corpus: text.join('\n'),
      starts,
      ownerCorpus: owners.join('\n'),
      ownerStarts,
      enabled,
      kind,
      os,
      osNames,
    };
    return this.columns;
  }

  /** Takes in what changed and rebuilds the search arrays now, so that the next page does not wait. */
  async warm(): Promise<void> {
    await this.refresh();
    this.snapshot();
  }

  private async quarantine(): Promise<Map<string, { code: string; message: string }>> {
    const entries = await this.store.quarantined();
    return new Map(entries.map((e) => [e.key, { code: e.code, message: e.message }]));
  }

  async query(q: DeviceQuery): Promise<DevicePage> {
    await this.refresh();
    const quarantine = await this.quarantine();
    const c = this.snapshot();
    const n = c.rows.length;
    const quarantined = new Uint8Array(n);
    for (const key of quarantine.keys()) {
      const row = this.cloud.get(key);
      if (!row) continue;
      const at = this.lowerBound(row);
      if (c.rows[at] === row) quarantined[at] = 1;
    }
    const search = q.search?.trim() ? fold(q.search.trim()) : undefined;
    const owner = q.owner?.trim() ? fold(q.owner.trim()) : undefined;
    const ownerMatch =
      owner === undefined ? undefined : positionsMatching(c.ownerCorpus, c.ownerStarts, owner, n);
    const osId = q.os ? (c.osNames.get(q.os) ?? -2) : undefined;
    const rule = q.rule || undefined;
    const wantEnabled = q.enabled === undefined ? undefined : q.enabled ? 1 : 0;
    const state = q.state;
    const forest = q.forest?.trim() || undefined;
    const matches = (i: number): boolean => {
      if (forest !== undefined && c.rows[i]!.forest !== forest) return false;
      if (ownerMatch !== undefined && ownerMatch[i] !== 1) return false;
      if (wantEnabled !== undefined && c.enabled[i] !== wantEnabled) return false;
      if (osId !== undefined && c.os[i] !== osId) return false;
      if (rule !== undefined && c.rows[i]!.rule !== rule) return false;
      if (state !== undefined) {
        const k = c.kind[i];
        const s: DeviceState =
          k === KIND_UNMANAGED
            ? 'unmanaged'
            : quarantined[i]
              ? 'quarantined'
              : k === KIND_WRITTEN
                ? 'managed'
                : 'not-written';
        if (s !== state) return false;
      }
      return true;
    };
    const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(q.pageSize ?? 50)));
    const found = search === undefined ? undefined : positionsMatching(c.corpus, c.starts, search, n);
    const filtered =
      found !== undefined ||
      ownerMatch !== undefined ||
      wantEnabled !== undefined ||
      osId !== undefined ||
      rule !== undefined ||
      state !== undefined ||
      forest !== undefined;
    // Count every match and keep the positions of the wanted page; a page past the end shows the last one.
    const collect = (wanted: number): { total: number; positions: number[] } => {
      const first = (wanted - 1) * pageSize;
      if (!filtered) {
        const positions: number[] = [];
        for (let i = first; i < Math.min(n, first + pageSize); i++) positions.push(i);
        return { total: n, positions };
      }
      let total = 0;
      const positions: number[] = [];
      for (let i = 0; i < n; i++) {
        if (found !== undefined && found[i] !== 1) continue;
        if (!matches(i)) continue;
        if (total >= first && total < first + pageSize) positions.push(i);
        total++;
      }
      return { total, positions };
    };
    const wanted = Math.max(1, Math.floor(q.page ?? 1));
    let { total, positions } = collect(wanted);
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const page = Math.min(pages, wanted);
    if (page !== wanted) ({ total, positions } = collect(page));
    const window = positions.map((i) => c.rows[i]!);
    return { rows: window.map((r) => listed(r, quarantine)), total, page, pageSize, pages };
  }

  /** One device by key (graph id or `ad:<dn>`), or by deviceId. */
  async get(key: string): Promise<ListedDevice | undefined> {
    await this.refresh();
    let row = this.cloud.get(key) ?? this.unmanaged.get(key);
    if (!row) {
      const lower = key.toLowerCase();
      row = [...this.cloud.values()].find((r) => r.deviceId === lower);
    }
    return row ? listed(row, await this.quarantine()) : undefined;
  }

  /** The rules that keep devices out (out of scope, unrouted), for the filter. */
  async notWrittenRules(): Promise<string[]> {
    await this.refresh();
    const rules = new Set<string>();
    for (const r of this.cloud.values()) if (r.rule) rules.add(r.rule);
    return [...rules].sort();
  }

  /** The operating systems present, for the OS filter. */
  async operatingSystems(): Promise<string[]> {
    await this.refresh();
    return [...this.snapshot().osNames.keys()].sort((a, b) => a.localeCompare(b));
  }

  async counts(): Promise<Record<DeviceState, number> & { all: number }> {
    await this.refresh();
    const quarantine = await this.quarantine();
    const out = { all: 0, managed: 0, unmanaged: 0, quarantined: 0, 'not-written': 0 } as Record<
      DeviceState,
      number
    > & { all: number };
    for (const r of this.cloud.values()) out[stateOf(r, quarantine)]++;
    out.unmanaged = this.unmanaged.size;
    out.all = this.cloud.size + this.unmanaged.size;
    return out;
  }
}

function stateOf(r: DeviceRow, quarantine: Map<string, unknown>): DeviceState {
  if (r.kind === 'unmanaged') return 'unmanaged';
  if (quarantine.has(r.key) || (r.deviceId !== null && quarantine.has(r.deviceId))) return 'quarantined';
  return r.dn ? 'managed' : 'not-written';
}

function listed(r: IndexedDevice, quarantine: Map<string, { code: string; message: string }>): ListedDevice {
  const { sortKey: _s, search: _q, ownerSearch: _o, ...row } = r;
  const state = stateOf(r, quarantine);
  const quarantined = quarantine.get(r.key) ?? (r.deviceId ? quarantine.get(r.deviceId) : undefined) ?? null;
  return {
    ...row,
    state,
    quarantine: quarantined,
    why:
      state === 'not-written' || state === 'quarantined'
        ? notWrittenOf(recordedReason(r), quarantined ?? undefined)
        : null,
  };
}
