// The console's device index: every cloud device the engine knows and every unmanaged object the
// last full reconcile saw in the container, as narrow in-memory rows sorted by display name, so
// that the Devices page searches, filters and pages 100,000 devices in a few milliseconds. It
// follows the state store incrementally (rows changed since the last look, found through two
// indexes this module adds), and never writes the engine's tables.
import type { StateStore } from '../state/store.js';
import type { CloudDevice, DeviceRelations } from '../entra/types.js';

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
}

export interface ListedDevice extends DeviceRow {
  state: DeviceState;
  quarantine: { code: string; message: string } | null;
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

interface ChangedDevice {
  graphId: string;
  deviceId: string | null;
  updatedAt: string;
  displayName: string | null;
  enabled: boolean | null;
  osType: string | null;
  osVersion: string | null;
  trustType: string | null;
  owner: string | null;
}

interface ObjectRef {
  deviceId: string;
  graphId: string;
  dn: string;
  lastSyncedAt: string;
}

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
    sortKey: `${fold(row.displayName ?? '')}\u0000${row.key}`,
    search: fold(search),
    ownerSearch: fold(row.owner ?? ''),
  };
}

function ownerOf(relations: DeviceRelations | null): string | null {
  const owner = relations?.registeredOwners?.[0];
  if (!owner) return null;
  return owner.userPrincipalName ?? owner.onPremisesSecurityIdentifier ?? owner.id ?? null;
}

function parse<T>(json: string | null): T | null {
  if (!json) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
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

  /** Adds the two indexes it reads changes through (once; harmless for the engine) and loads everything. */
  constructor(private readonly store: StateStore) {
    const db = store.database;
    db.exec('CREATE INDEX IF NOT EXISTS console_devices_updated_at ON devices(updated_at)');
    db.exec('CREATE INDEX IF NOT EXISTS console_objects_last_synced_at ON objects(last_synced_at)');
    this.refresh(true);
  }

  /**
   * Reads what changed in the store since the last look: nothing at all when the connection made
   * no change since (SQLite's total_changes() and data_version), otherwise the rows changed since
   * the last marks plus a count to notice deletions.
   */
  refresh(force = false): void {
    const db = this.store.database;
    const stamp = `${String(db.prepare('SELECT total_changes()').pluck().get())}/${String(db.pragma('data_version', { simple: true }))}`;
    if (!force && stamp === this.changeStamp) return;
    this.changeStamp = stamp;
    const changed: { before: IndexedDevice | undefined; after: IndexedDevice | undefined }[] = [];

    // Objects first, so that device rows built below see their DN.
    const objectRows = db
      .prepare(
        'SELECT device_id, graph_id, dn, last_synced_at FROM objects WHERE last_synced_at >= ? ORDER BY last_synced_at',
      )
      .all(this.objectMark) as { device_id: string; graph_id: string; dn: string; last_synced_at: string }[];
    for (const o of objectRows)
      this.putObject({
        deviceId: o.device_id,
        graphId: o.graph_id,
        dn: o.dn,
        lastSyncedAt: o.last_synced_at,
      });
    if (objectRows.length > 0) this.objectMark = objectRows[objectRows.length - 1]!.last_synced_at;
    let touched = objectRows.length > 0;
    const objectCount = (db.prepare('SELECT COUNT(*) AS n FROM objects').get() as { n: number }).n;
    if (objectCount !== this.objectsByDeviceId.size) {
      touched = true;
      const present = new Set(db.prepare('SELECT device_id FROM objects').pluck().all() as string[]);
      for (const [deviceId, ref] of this.objectsByDeviceId) {
        if (present.has(deviceId)) continue;
        this.objectsByDeviceId.delete(deviceId);
        if (this.objectsByGraphId.get(ref.graphId) === ref) this.objectsByGraphId.delete(ref.graphId);
        const row = this.cloud.get(ref.graphId);
        if (row && row.dn === ref.dn) {
          row.dn = null;
          row.lastSyncedAt = null;
        }
      }
    }
    for (const o of objectRows) {
      const row = this.cloud.get(o.graph_id);
      if (row) {
        row.dn = o.dn;
        row.lastSyncedAt = o.last_synced_at;
      }
    }

    const deviceRows = this.changedDevices();
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
      });
      const before = this.cloud.get(d.graphId);
      this.cloud.set(d.graphId, row);
      changed.push({ before, after: row });
    }
    if (deviceRows.length > 0) this.deviceMark = deviceRows[deviceRows.length - 1]!.updatedAt;
    const deviceCount = (db.prepare('SELECT COUNT(*) AS n FROM devices').get() as { n: number }).n;
    if (deviceCount !== this.cloud.size) {
      const present = new Set(db.prepare('SELECT graph_id FROM devices').pluck().all() as string[]);
      for (const [graphId, row] of this.cloud) {
        if (present.has(graphId)) continue;
        this.cloud.delete(graphId);
        changed.push({ before: row, after: undefined });
      }
    }

    const unmanagedStamp = db
      .prepare("SELECT COUNT(*) || '/' || COALESCE(MAX(seen_at), '') AS s FROM unmanaged")
      .pluck()
      .get() as string;
    if (unmanagedStamp !== this.unmanagedStamp) {
      this.unmanagedStamp = unmanagedStamp;
      const next = new Map<string, IndexedDevice>();
      for (const u of this.store.unmanagedObjects()) {
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

  /**
   * Devices stored since the mark, with the listed properties extracted by SQLite (much cheaper
   * than parsing every device's JSON in JavaScript); parsed in JavaScript only if SQLite refuses
   * the JSON of some row.
   */
  private changedDevices(): ChangedDevice[] {
    const db = this.store.database;
    const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
    try {
      const rows = db
        .prepare(
          `SELECT graph_id, device_id, updated_at,
             json_extract(json, '$.displayName') AS display_name,
             json_type(json, '$.accountEnabled') AS enabled,
             json_extract(json, '$.operatingSystem') AS os_type,
             json_extract(json, '$.operatingSystemVersion') AS os_version,
             json_extract(json, '$.trustType') AS trust_type,
             COALESCE(json_extract(relations, '$.registeredOwners[0].userPrincipalName'),
                      json_extract(relations, '$.registeredOwners[0].onPremisesSecurityIdentifier'),
                      json_extract(relations, '$.registeredOwners[0].id')) AS owner
           FROM devices WHERE updated_at >= ? ORDER BY updated_at`,
        )
        .all(this.deviceMark) as Record<string, unknown>[];
      return rows.map((r) => ({
        graphId: r.graph_id as string,
        deviceId: text(r.device_id),
        updatedAt: r.updated_at as string,
        displayName: text(r.display_name),
        enabled: r.enabled === 'true' ? true : r.enabled === 'false' ? false : null,
        osType: text(r.os_type),
        osVersion: text(r.os_version),
        trustType: text(r.trust_type),
        owner: text(r.owner),
      }));
    } catch {
      const rows = db
        .prepare(
          'SELECT graph_id, device_id, json, relations, updated_at FROM devices WHERE updated_at >= ? ORDER BY updated_at',
        )
        .all(this.deviceMark) as {
        graph_id: string;
        device_id: string | null;
        json: string;
        relations: string | null;
        updated_at: string;
      }[];
      return rows.map((d) => {
        const device = parse<CloudDevice>(d.json);
        return {
          graphId: d.graph_id,
          deviceId: d.device_id,
          updatedAt: d.updated_at,
          displayName: text(device?.displayName),
          enabled: typeof device?.accountEnabled === 'boolean' ? device.accountEnabled : null,
          osType: text(device?.operatingSystem),
          osVersion: text(device?.operatingSystemVersion),
          trustType: text(device?.trustType),
          owner: ownerOf(parse<DeviceRelations>(d.relations)),
        };
      });
    }
  }

  private putObject(ref: ObjectRef): void {
    const previous = this.objectsByDeviceId.get(ref.deviceId);
    if (
      previous &&
      previous.graphId !== ref.graphId &&
      this.objectsByGraphId.get(previous.graphId) === previous
    ) {
      this.objectsByGraphId.delete(previous.graphId);
    }
    this.objectsByDeviceId.set(ref.deviceId, ref);
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
  warm(): void {
    this.refresh();
    this.snapshot();
  }

  private quarantine(): Map<string, { code: string; message: string }> {
    const rows = this.store.database.prepare('SELECT key, code, message FROM quarantine').all() as {
      key: string;
      code: string;
      message: string;
    }[];
    return new Map(rows.map((r) => [r.key, { code: r.code, message: r.message }]));
  }

  query(q: DeviceQuery): DevicePage {
    this.refresh();
    const quarantine = this.quarantine();
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
    const wantEnabled = q.enabled === undefined ? undefined : q.enabled ? 1 : 0;
    const state = q.state;
    const matches = (i: number): boolean => {
      if (ownerMatch !== undefined && ownerMatch[i] !== 1) return false;
      if (wantEnabled !== undefined && c.enabled[i] !== wantEnabled) return false;
      if (osId !== undefined && c.os[i] !== osId) return false;
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
      state !== undefined;
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
  get(key: string): ListedDevice | undefined {
    this.refresh();
    let row = this.cloud.get(key) ?? this.unmanaged.get(key);
    if (!row) {
      const lower = key.toLowerCase();
      row = [...this.cloud.values()].find((r) => r.deviceId === lower);
    }
    return row ? listed(row, this.quarantine()) : undefined;
  }

  /** The operating systems present, for the OS filter. */
  operatingSystems(): string[] {
    this.refresh();
    return [...this.snapshot().osNames.keys()].sort((a, b) => a.localeCompare(b));
  }

  counts(): Record<DeviceState, number> & { all: number } {
    this.refresh();
    const quarantine = this.quarantine();
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
  return {
    ...row,
    state: stateOf(r, quarantine),
    quarantine: quarantine.get(r.key) ?? (r.deviceId ? quarantine.get(r.deviceId) : undefined) ?? null,
  };
}
