// The emulated directory: devices, users, the registeredOwners / registeredUsers relations and a
// change log with a monotonic sequence number. Delta queries read the log from a token's sequence
// onwards, so a delta round costs what changed, not the size of the directory. Every write goes
// through here (Graph routes, admin routes and the programmatic API alike) and, when a data file is
// configured, is written through to it.
import { randomUUID } from 'node:crypto';
import { badRequest, notFound } from './errors.js';
import {
  completeDevice,
  completeUser,
  deviceProperties,
  type DeviceRelation,
  type EmulatedDevice,
  type EmulatedUser,
} from './model.js';
import { seededDevice, seededUser, seededUserCount, type SeedOptions } from './seed.js';

export type DeviceState = 'active' | 'softDeleted' | 'deleted';
export type ChangeKind = 'created' | 'updated' | 'softDeleted' | 'restored' | 'deleted';

/** One entry of the change log. */
export interface ChangeEntry {
  seq: number;
  objectId: string;
  kind: ChangeKind;
  /** Properties (or relations) changed by an `updated` entry. */
  properties: string[];
  /** Position of this entry in its device's own list of changes. */
  indexInDevice: number;
}

export interface DeviceRecord {
  /** Creation order; stable, used as the paging cursor. */
  ordinal: number;
  device: EmulatedDevice;
  state: DeviceState;
  registeredOwners: string[];
  registeredUsers: string[];
  /** This device's change log entries, ascending. */
  changes: ChangeEntry[];
}

/** What a data file holds; see persistence.ts. */
export interface StoreSnapshot {
  meta: Record<string, string>;
  devices: {
    ordinal: number;
    state: DeviceState;
    device: EmulatedDevice;
    registeredOwners: string[];
    registeredUsers: string[];
  }[];
  users: EmulatedUser[];
  changes: { seq: number; objectId: string; kind: ChangeKind; properties: string[] }[];
}

export interface StorePersistence {
  load(): StoreSnapshot | undefined;
  saveDevice(record: DeviceRecord): void;
  saveUser(user: EmulatedUser, ordinal: number): void;
  saveChange(change: ChangeEntry): void;
  saveMeta(key: string, value: string): void;
  transaction(body: () => void): void;
  close(): void;
}

export interface NewDeviceRelations {
  registeredOwners?: string[];
  registeredUsers?: string[];
}

/** Directory objects are plain JSON data; this is much faster than structuredClone for them. */
function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const knownDeviceProperties = new Set<string>(deviceProperties);

export class DirectoryStore {
  /** Identifies this directory in delta tokens: a token from another directory is unknown here. */
  storeId: string;
  /** Bumped to expire every delta token at once. */
  deltaGeneration = 1;
  /** How many devices of the deterministic seed are in the directory. */
  seededDevices = 0;

  private readonly devicesById = new Map<string, DeviceRecord>();
  private readonly devicesByDeviceId = new Map<string, DeviceRecord>();
  private readonly deviceOrder: DeviceRecord[] = [];
  private readonly usersById = new Map<string, EmulatedUser>();
  private readonly usersByUpn = new Map<string, EmulatedUser>();
  private readonly userOrder: EmulatedUser[] = [];
  private readonly log: ChangeEntry[] = [];
  private persistence: StorePersistence | undefined;

  constructor(persistence?: StorePersistence) {
    this.storeId = randomUUID();
    const snapshot = persistence?.load();
    if (snapshot) this.restore(snapshot);
    this.persistence = persistence;
    if (!snapshot) this.saveMeta();
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The sequence number of the latest change (0 for an empty log). */
  get currentSeq(): number {
    return this.log.length;
  }

  get deviceOrdinalCount(): number {
    return this.deviceOrder.length;
  }

  counts(): { active: number; softDeleted: number; deleted: number; users: number; changes: number } {
    let active = 0;
    let softDeleted = 0;
    let deleted = 0;
    for (const record of this.deviceOrder) {
      if (record.state === 'active') active++;
      else if (record.state === 'softDeleted') softDeleted++;
      else deleted++;
    }
    return { active, softDeleted, deleted, users: this.userOrder.length, changes: this.log.length };
  }

  /** Any device record by Graph object id, including soft- and hard-deleted ones. */
  deviceRecord(id: string): DeviceRecord | undefined {
    return this.devicesById.get(id.toLowerCase());
  }

  deviceRecordAt(ordinal: number): DeviceRecord | undefined {
    return this.deviceOrder[ordinal];
  }

  /** An active device by object id (or undefined). */
  activeDevice(id: string): DeviceRecord | undefined {
    const record = this.deviceRecord(id);
    return record?.state === 'active' ? record : undefined;
  }

  activeDeviceByDeviceId(deviceId: string): DeviceRecord | undefined {
    const record = this.devicesByDeviceId.get(deviceId.toLowerCase());
    return record?.state === 'active' ? record : undefined;
  }

  /** A copy of an active device. */
  getDevice(id: string): EmulatedDevice | undefined {
    const record = this.activeDevice(id);
    return record ? clone(record.device) : undefined;
  }

  /** Copies of every active device, in creation order. */
  listDevices(): EmulatedDevice[] {
    return this.deviceOrder.filter((r) => r.state === 'active').map((r) => clone(r.device));
  }

  changeAt(seq: number): ChangeEntry | undefined {
    return this.log[seq - 1];
  }

  /** A user by object id or user principal name. */
  userRecord(idOrUpn: string): EmulatedUser | undefined {
    const key = idOrUpn.toLowerCase();
    return this.usersById.get(key) ?? this.usersByUpn.get(key);
  }

  getUser(idOrUpn: string): EmulatedUser | undefined {
    const user = this.userRecord(idOrUpn);
    return user ? clone(user) : undefined;
  }

  userAt(ordinal: number): EmulatedUser | undefined {
    return this.userOrder[ordinal];
  }

  get userCount(): number {
    return this.userOrder.length;
  }

  listUsers(): EmulatedUser[] {
    return this.userOrder.map(clone);
  }

  relation(deviceObjectId: string, relation: DeviceRelation): EmulatedUser[] {
    const record = this.requireActive(deviceObjectId);
    return record[relation]
      .map((id) => this.usersById.get(id))
      .filter((u): u is EmulatedUser => u !== undefined);
  }

  // ---- device writes -----------------------------------------------------------------------

  /**
   * Creates a device. Values are stored as given (a malformed deviceId or key is allowed on
   * purpose, so that clients can be tested against bad data); only the ids must be unique.
   */
  createDevice(
    input: Partial<EmulatedDevice> & Pick<EmulatedDevice, 'deviceId' | 'displayName'>,
    relations: NewDeviceRelations = {},
  ): EmulatedDevice {
    return clone(this.insertDevice(clone(input), relations).device);
  }

  /** createDevice without the defensive copies (the caller hands `input` over). */
  private insertDevice(
    input: Partial<EmulatedDevice> & Pick<EmulatedDevice, 'deviceId' | 'displayName'>,
    relations: NewDeviceRelations,
  ): DeviceRecord {
    const id = (input.id ?? randomUUID()).toLowerCase();
    if (this.devicesById.has(id))
      throw badRequest(`Another object with the same value for property id already exists.`);
    if (this.activeDeviceByDeviceId(input.deviceId)) {
      throw badRequest(`Another object with the same value for property deviceId already exists.`);
    }
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const device = completeDevice({ createdDateTime: now, registrationDateTime: now, ...input, id });
    const record: DeviceRecord = {
      ordinal: this.deviceOrder.length,
      device,
      state: 'active',
      registeredOwners: (relations.registeredOwners ?? []).map((u) => this.requireUser(u).id),
      registeredUsers: (relations.registeredUsers ?? []).map((u) => this.requireUser(u).id),
      changes: [],
    };
    this.write(() => {
      this.deviceOrder.push(record);
      this.devicesById.set(id, record);
      this.devicesByDeviceId.set(String(device.deviceId).toLowerCase(), record);
      this.append(record, 'created', []);
    });
    return record;
  }

  /** Updates properties; records only those whose value really changed. Returns their names. */
  updateDevice(id: string, update: Partial<EmulatedDevice>): string[] {
    const record = this.requireActive(id);
    // As in Graph, extensionAttributes are patched key by key.
    const patch =
      update.extensionAttributes === undefined
        ? update
        : {
            ...update,
            extensionAttributes: { ...record.device.extensionAttributes, ...update.extensionAttributes },
          };
    const changed: string[] = [];
    for (const [property, value] of Object.entries(patch)) {
      if (property === 'id' || !knownDeviceProperties.has(property)) continue;
      const current = (record.device as unknown as Record<string, unknown>)[property];
      if (!sameValue(current, value)) changed.push(property);
    }
    if (changed.length === 0) return [];
    if (changed.includes('deviceId')) {
      const other = this.activeDeviceByDeviceId(String(patch.deviceId));
      if (other && other !== record)
        throw badRequest(`Another object with the same value for property deviceId already exists.`);
    }
    this.write(() => {
      const target = record.device as unknown as Record<string, unknown>;
      if (changed.includes('deviceId')) {
        this.devicesByDeviceId.delete(String(record.device.deviceId).toLowerCase());
        this.devicesByDeviceId.set(String(patch.deviceId).toLowerCase(), record);
      }
      for (const property of changed) target[property] = clone((patch as Record<string, unknown>)[property]);
      this.append(record, 'updated', changed);
    });
    return changed;
  }

  /** A sign-in: only `approximateLastSignInDateTime` changes, as when a real device signs in. */
  recordSignIn(id: string, at: Date = new Date()): void {
    this.updateDevice(id, { approximateLastSignInDateTime: at.toISOString().replace(/\.\d{3}Z$/, 'Z') });
  }

  /** Hard delete (Graph `DELETE /devices/{id}`): delta reports `@removed` `deleted`. */
  deleteDevice(id: string): void {
    const record = this.deviceRecord(id);
    if (!record || record.state === 'deleted') throw notFound(id);
    this.write(() => {
      record.state = 'deleted';
      if (this.devicesByDeviceId.get(String(record.device.deviceId).toLowerCase()) === record) {
        this.devicesByDeviceId.delete(String(record.device.deviceId).toLowerCase());
      }
      this.append(record, 'deleted', []);
    });
  }

  /** Soft delete: the device disappears from Graph reads and delta reports `@removed` `changed`. */
  softDeleteDevice(id: string): void {
    const record = this.requireActive(id);
    this.write(() => {
      record.state = 'softDeleted';
      record.device.deletedDateTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      this.append(record, 'softDeleted', []);
    });
  }

  /** Restores a soft-deleted device; delta reports it again in full. */
  restoreDevice(id: string): EmulatedDevice {
    const record = this.deviceRecord(id);
    if (!record || record.state !== 'softDeleted') throw notFound(id);
    const holder = this.activeDeviceByDeviceId(String(record.device.deviceId));
    if (holder && holder !== record)
      throw badRequest(`Another object with the same value for property deviceId already exists.`);
    this.write(() => {
      record.state = 'active';
      record.device.deletedDateTime = null;
      this.devicesByDeviceId.set(String(record.device.deviceId).toLowerCase(), record);
      this.append(record, 'restored', []);
    });
    return clone(record.device);
  }

  addRelation(deviceObjectId: string, relation: DeviceRelation, userIdOrUpn: string): void {
    const record = this.requireActive(deviceObjectId);
    const user = this.requireUser(userIdOrUpn);
    if (record[relation].includes(user.id)) {
      throw badRequest(
        'One or more added object references already exist for the following modified properties: ' +
          `'${relation}'.`,
      );
    }
    this.write(() => {
      record[relation].push(user.id);
      this.append(record, 'updated', [relation]);
    });
  }

  removeRelation(deviceObjectId: string, relation: DeviceRelation, userIdOrUpn: string): void {
    const record = this.requireActive(deviceObjectId);
    const user = this.userRecord(userIdOrUpn);
    const index = user ? record[relation].indexOf(user.id) : -1;
    if (!user || index < 0) throw notFound(userIdOrUpn);
    this.write(() => {
      record[relation].splice(index, 1);
      this.append(record, 'updated', [relation]);
    });
  }

  // ---- user writes -------------------------------------------------------------------------

  createUser(input: Partial<EmulatedUser> & Pick<EmulatedUser, 'userPrincipalName'>): EmulatedUser {
    return clone(this.insertUser(clone(input)));
  }

  /** createUser without the defensive copies. */
  private insertUser(input: Partial<EmulatedUser> & Pick<EmulatedUser, 'userPrincipalName'>): EmulatedUser {
    const id = (input.id ?? randomUUID()).toLowerCase();
    if (this.usersById.has(id))
      throw badRequest('Another object with the same value for property id already exists.');
    if (this.usersByUpn.has(input.userPrincipalName.toLowerCase())) {
      throw badRequest('Another object with the same value for property userPrincipalName already exists.');
    }
    const user = completeUser({ ...input, id });
    this.write(() => {
      this.userOrder.push(user);
      this.usersById.set(id, user);
      this.usersByUpn.set(user.userPrincipalName.toLowerCase(), user);
      this.persistence?.saveUser(user, this.userOrder.length - 1);
    });
    return user;
  }

  updateUser(idOrUpn: string, patch: Partial<EmulatedUser>): EmulatedUser {
    const user = this.userRecord(idOrUpn);
    if (!user) throw notFound(idOrUpn);
    if (
      patch.userPrincipalName &&
      patch.userPrincipalName.toLowerCase() !== user.userPrincipalName.toLowerCase()
    ) {
      if (this.usersByUpn.has(patch.userPrincipalName.toLowerCase())) {
        throw badRequest('Another object with the same value for property userPrincipalName already exists.');
      }
    }
    this.write(() => {
      this.usersByUpn.delete(user.userPrincipalName.toLowerCase());
      const { id: _ignored, ...rest } = clone(patch);
      Object.assign(user, rest);
      this.usersByUpn.set(user.userPrincipalName.toLowerCase(), user);
      this.persistence?.saveUser(user, this.userOrder.indexOf(user));
    });
    return clone(user);
  }

  // ---- seeding and delta state ---------------------------------------------------------------

  /**
   * Makes sure the first `count` devices of the deterministic seed exist (with their users and
   * owners); seeding again with a larger count adds the missing ones only.
   */
  seed(count: number, options: SeedOptions = {}): { devicesAdded: number; usersAdded: number } {
    let devicesAdded = 0;
    let usersAdded = 0;
    this.write(() => {
      const userTotal = seededUserCount(count, options);
      const userIds: string[] = [];
      for (let j = 0; j < userTotal; j++) {
        const user = seededUser(j, options);
        const existing =
          this.usersById.get(user.id) ?? this.usersByUpn.get(user.userPrincipalName.toLowerCase());
        userIds.push(existing ? existing.id : this.insertUser(user).id);
        if (!existing) usersAdded++;
      }
      for (let i = this.seededDevices; i < count; i++) {
        const { device, ownerUserIndex } = seededDevice(i, options, (j) => userIds[j]);
        if (this.devicesById.has(device.id)) continue;
        const owner = ownerUserIndex === undefined ? undefined : userIds[ownerUserIndex];
        this.insertDevice(device, {
          registeredOwners: owner ? [owner] : [],
          registeredUsers: owner ? [owner] : [],
        });
        devicesAdded++;
      }
      if (count > this.seededDevices) this.seededDevices = count;
      this.saveMeta();
    });
    return { devicesAdded, usersAdded };
  }

  /** Expires every delta token issued so far (clients get 410 and must read everything again). */
  expireDeltaTokens(): void {
    this.write(() => {
      this.deltaGeneration++;
      this.saveMeta();
    });
  }

  close(): void {
    this.persistence?.close();
    this.persistence = undefined;
  }

  // ---- internals -----------------------------------------------------------------------------

  private requireActive(id: string): DeviceRecord {
    const record = this.activeDevice(id);
    if (!record) throw notFound(id);
    return record;
  }

  private requireUser(idOrUpn: string): EmulatedUser {
    const user = this.userRecord(idOrUpn);
    if (!user) throw notFound(idOrUpn);
    return user;
  }

  private append(record: DeviceRecord, kind: ChangeKind, properties: string[]): void {
    const entry: ChangeEntry = {
      seq: this.log.length + 1,
      objectId: record.device.id,
      kind,
      properties,
      indexInDevice: record.changes.length,
    };
    this.log.push(entry);
    record.changes.push(entry);
    this.persistence?.saveDevice(record);
    this.persistence?.saveChange(entry);
  }

  /** Runs a write in one persistence transaction (nested writes join the outer one). */
  private depth = 0;
  private write(body: () => void): void {
    if (!this.persistence || this.depth > 0) {
      this.depth++;
      try {
        body();
      } finally {
        this.depth--;
      }
      return;
    }
    this.depth++;
    try {
      this.persistence.transaction(body);
    } finally {
      this.depth--;
    }
  }

  private saveMeta(): void {
    this.persistence?.saveMeta('storeId', this.storeId);
    this.persistence?.saveMeta('deltaGeneration', String(this.deltaGeneration));
    this.persistence?.saveMeta('seededDevices', String(this.seededDevices));
  }

  private restore(snapshot: StoreSnapshot): void {
    this.storeId = snapshot.meta.storeId ?? this.storeId;
    this.deltaGeneration = Number(snapshot.meta.deltaGeneration ?? 1);
    this.seededDevices = Number(snapshot.meta.seededDevices ?? 0);
    for (const user of snapshot.users) {
      const complete = completeUser(user);
      this.userOrder.push(complete);
      this.usersById.set(complete.id, complete);
      this.usersByUpn.set(complete.userPrincipalName.toLowerCase(), complete);
    }
    const sorted = [...snapshot.devices].sort((a, b) => a.ordinal - b.ordinal);
    for (const saved of sorted) {
      const record: DeviceRecord = {
        ordinal: this.deviceOrder.length,
        device: completeDevice(saved.device),
        state: saved.state,
        registeredOwners: saved.registeredOwners,
        registeredUsers: saved.registeredUsers,
        changes: [],
      };
      this.deviceOrder.push(record);
      this.devicesById.set(record.device.id, record);
      if (record.state === 'active')
        this.devicesByDeviceId.set(String(record.device.deviceId).toLowerCase(), record);
    }
    const changes = [...snapshot.changes].sort((a, b) => a.seq - b.seq);
    for (const saved of changes) {
      const record = this.devicesById.get(saved.objectId);
      if (!record || saved.seq !== this.log.length + 1)
        throw new Error(`emulator data file: change log is inconsistent at ${saved.seq}`);
      const entry: ChangeEntry = { ...saved, indexInDevice: record.changes.length };
      this.log.push(entry);
      record.changes.push(entry);
    }
  }
}
