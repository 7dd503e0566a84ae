// The emulated directory: devices, users and groups, the registeredOwners / registeredUsers and
// group membership relations, and two change logs with monotonic sequence numbers, one for devices
// and one for groups (with each group's membership changes). Delta queries read a log from a
// token's sequence onwards, so a delta round costs what changed, not the size of the directory: a
// groups/delta round with no change does not look at a single member. Every write goes through
// here (Graph routes, admin routes and the programmatic API alike) and, when a data file is
// configured, is written through to it as journal records (persistence.ts).
import { randomUUID } from 'node:crypto';
import { guidToBytes, isGuid } from '../ad/guid.js';
import { CloudDrs, certificateTime, type DeviceCertificate } from './drs.js';
import { badRequest, GraphError, notFound } from './errors.js';
import {
  cloudSecurityIdentifier,
  completeDevice,
  completeGroup,
  completeUser,
  deviceProperties,
  groupProperties,
  type DeviceRelation,
  type DirectoryObjectKind,
  type EmulatedDevice,
  type EmulatedGroup,
  type EmulatedUser,
} from './model.js';
import {
  seededDevices,
  seededGroups,
  seededUser,
  seededUserCount,
  DEFAULT_SEED,
  type SeedOptions,
} from './seed.js';
import { ALT_SECURITY_ID_TYPE_X509 } from './alternative-security-ids.js';

export type DeviceState = 'active' | 'softDeleted' | 'deleted';
export type ChangeKind = 'created' | 'updated' | 'softDeleted' | 'restored' | 'deleted';
export type GroupState = 'active' | 'deleted';
export type GroupChangeKind = 'created' | 'updated' | 'deleted';

/** One entry of the device change log. */
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

/** One entry of the group change log; membership changes are `updated` with `members`. */
export interface GroupChangeEntry {
  seq: number;
  groupId: string;
  kind: GroupChangeKind;
  properties: string[];
  /** Position of this entry in its group's own list of changes. */
  indexInGroup: number;
}

/** One membership change of a group, numbered in the group log's sequence. */
export interface MembershipChange {
  seq: number;
  memberId: string;
  added: boolean;
}

export interface GroupRecord {
  ordinal: number;
  group: EmulatedGroup;
  state: GroupState;
  /** Direct members' object ids, in the order they were added. */
  members: Set<string>;
  /** This group's change log entries, ascending. */
  changes: GroupChangeEntry[];
  /** This group's membership changes, ascending. */
  membershipLog: MembershipChange[];
}

/** A directory object found by id, whatever its kind. */
export type DirectoryObjectRecord =
  | { kind: 'device'; id: string; record: DeviceRecord }
  | { kind: 'user'; id: string; user: EmulatedUser }
  | { kind: 'group'; id: string; record: GroupRecord };

/**
 * One journal record: the new state of one thing. Replaying records in order rebuilds the
 * directory; replaying one twice changes nothing (logs are keyed by sequence number).
 */
export type JournalRecord =
  | { t: 'meta'; key: string; value: string }
  | {
      t: 'device';
      ordinal: number;
      state: DeviceState;
      device: EmulatedDevice;
      registeredOwners: string[];
      registeredUsers: string[];
    }
  | { t: 'user'; ordinal: number; user: EmulatedUser }
  | { t: 'change'; seq: number; objectId: string; kind: ChangeKind; properties: string[] }
  | { t: 'group'; ordinal: number; state: GroupState; group: EmulatedGroup }
  | { t: 'groupChange'; seq: number; groupId: string; kind: GroupChangeKind; properties: string[] }
  | { t: 'membership'; seq: number; groupId: string; memberId: string; added: boolean };

/** What a data file holds: journal records with every earlier state folded away. */
export interface StoreSnapshot {
  meta: Record<string, string>;
  devices: Extract<JournalRecord, { t: 'device' }>[];
  users: Extract<JournalRecord, { t: 'user' }>[];
  changes: Extract<JournalRecord, { t: 'change' }>[];
  groups: Extract<JournalRecord, { t: 'group' }>[];
  groupChanges: Extract<JournalRecord, { t: 'groupChange' }>[];
  memberships: Extract<JournalRecord, { t: 'membership' }>[];
}

export interface StorePersistence {
  load(): StoreSnapshot | undefined;
  /** Records one change; inside a transaction, it is written when the transaction ends. */
  append(record: JournalRecord): void;
  transaction(body: () => void): void;
  close(): void;
}

export interface NewDeviceRelations {
  registeredOwners?: string[];
  registeredUsers?: string[];
}

export interface StoreOptions {
  /** The cloud DRS of a new directory (a data file keeps its own); the default seed's otherwise. */
  drs?: CloudDrs;
}

/** Directory objects are plain JSON data; this is much faster than structuredClone for them. */
function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const knownDeviceProperties = new Set<string>(deviceProperties);
/** Seeded devices made (and their certificates issued) at a time: bounds the memory seeding takes. */
const SEED_BATCH = 25_000;
const knownGroupProperties = new Set<string>(groupProperties);

function duplicateReference(property: string): GraphError {
  return badRequest(
    `One or more added object references already exist for the following modified properties: '${property}'.`,
  );
}

export class DirectoryStore {
  /** Identifies this directory in delta tokens: a token from another directory is unknown here. */
  storeId: string;
  /** Bumped to expire every delta token at once. */
  deltaGeneration = 1;
  /** How many devices of the deterministic seed are in the directory. */
  seededDevices = 0;
  /**
   * The seed the directory was seeded with (undefined before the first seeding): a directory
   * kept in a data file goes on with its own seed, whatever a later start asks for.
   */
  seedName: string | undefined;
  /** The cloud DRS that issued the registered devices' certificates. */
  drs: CloudDrs;
  /**
   * How many member ids reads have walked (member lists, transitive queries, delta rounds): lets
   * tests check that answering "nothing changed" costs nothing, without timing anything.
   */
  membersWalked = 0;

  private readonly devicesById = new Map<string, DeviceRecord>();
  private readonly devicesByDeviceId = new Map<string, DeviceRecord>();
  private readonly deviceOrder: DeviceRecord[] = [];
  private readonly usersById = new Map<string, EmulatedUser>();
  private readonly usersByUpn = new Map<string, EmulatedUser>();
  private readonly userOrder: EmulatedUser[] = [];
  private readonly log: ChangeEntry[] = [];
  private readonly groupsById = new Map<string, GroupRecord>();
  private readonly groupOrder: GroupRecord[] = [];
  private readonly groupLog: GroupChangeEntry[] = [];
  /** Object id -> ids of the (active) groups it is a direct member of. */
  private readonly memberOf = new Map<string, Set<string>>();
  private readonly memberIdCache = new WeakMap<GroupRecord, string[]>();
  private persistence: StorePersistence | undefined;

  /** Whether the DRS was given; else it follows the seed until the directory has a device. */
  private readonly drsGiven: boolean;

  constructor(persistence?: StorePersistence, options: StoreOptions = {}) {
    this.storeId = randomUUID();
    this.drs = options.drs ?? CloudDrs.forSeed(DEFAULT_SEED);
    this.drsGiven = options.drs !== undefined;
    const snapshot = persistence?.load();
    if (snapshot) this.restore(snapshot);
    this.persistence = persistence;
    if (!snapshot) this.write(() => this.saveMeta());
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The sequence number of the latest device change (0 for an empty log). */
  get currentSeq(): number {
    return this.log.length;
  }

  /** The sequence number of the latest group change (0 for an empty log). */
  get currentGroupSeq(): number {
    return this.groupLog.length;
  }

  get deviceOrdinalCount(): number {
    return this.deviceOrder.length;
  }

  get groupOrdinalCount(): number {
    return this.groupOrder.length;
  }

  counts(): {
    active: number;
    softDeleted: number;
    deleted: number;
    users: number;
    groups: number;
    changes: number;
    groupChanges: number;
  } {
    let active = 0;
    let softDeleted = 0;
    let deleted = 0;
    for (const record of this.deviceOrder) {
      if (record.state === 'active') active++;
      else if (record.state === 'softDeleted') softDeleted++;
      else deleted++;
    }
    return {
      active,
      softDeleted,
      deleted,
      users: this.userOrder.length,
      groups: this.groupOrder.filter((g) => g.state === 'active').length,
      changes: this.log.length,
      groupChanges: this.groupLog.length,
    };
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

  groupChangeAt(seq: number): GroupChangeEntry | undefined {
    return this.groupLog[seq - 1];
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

  /** Any group record by object id, including deleted ones. */
  groupRecord(id: string): GroupRecord | undefined {
    return this.groupsById.get(id.toLowerCase());
  }

  groupRecordAt(ordinal: number): GroupRecord | undefined {
    return this.groupOrder[ordinal];
  }

  activeGroup(id: string): GroupRecord | undefined {
    const record = this.groupRecord(id);
    return record?.state === 'active' ? record : undefined;
  }

  getGroup(id: string): EmulatedGroup | undefined {
    const record = this.activeGroup(id);
    return record ? clone(record.group) : undefined;
  }

  listGroups(): EmulatedGroup[] {
    return this.groupOrder.filter((g) => g.state === 'active').map((g) => clone(g.group));
  }

  /**
   * A directory object that can be a group member, by object id: an active device or group, or a
   * user. Soft-deleted devices keep their memberships but are not found here (nor listed).
   */
  directoryObject(id: string): DirectoryObjectRecord | undefined {
    const key = id.toLowerCase();
    const device = this.devicesById.get(key);
    if (device) return device.state === 'active' ? { kind: 'device', id: key, record: device } : undefined;
    const user = this.usersById.get(key);
    if (user) return { kind: 'user', id: key, user };
    const group = this.groupsById.get(key);
    if (group) return group.state === 'active' ? { kind: 'group', id: key, record: group } : undefined;
    return undefined;
  }

  /** The kind of any object id the directory has known, deleted ones included. */
  kindOf(id: string): DirectoryObjectKind | undefined {
    const key = id.toLowerCase();
    if (this.devicesById.has(key)) return 'device';
    if (this.usersById.has(key)) return 'user';
    if (this.groupsById.has(key)) return 'group';
    return undefined;
  }

  /**
   * The ids of a group's direct members, in the order they were added: built once per change of
   * the membership, so that paging through a large group (groups/delta, 1,000 members a page)
   * does not walk the whole group for every page.
   */
  memberIds(groupId: string): readonly string[] {
    const record = this.requireGroup(groupId);
    let ids = this.memberIdCache.get(record);
    if (!ids) {
      this.membersWalked += record.members.size;
      ids = [...record.members];
      this.memberIdCache.set(record, ids);
    }
    return ids;
  }

  /** A group's direct members that can be listed, in the order they were added. */
  members(groupId: string): DirectoryObjectRecord[] {
    const record = this.requireGroup(groupId);
    const out: DirectoryObjectRecord[] = [];
    for (const id of record.members) {
      this.membersWalked++;
      const member = this.directoryObject(id);
      if (member) out.push(member);
    }
    return out;
  }

  /**
   * Every member reached from a group through nested groups (the nested groups included), each
   * once, breadth first; a group nested in itself, directly or not, is followed once.
   */
  transitiveMembers(groupId: string): DirectoryObjectRecord[] {
    const root = this.requireGroup(groupId);
    const seen = new Set<string>([root.group.id]);
    const out: DirectoryObjectRecord[] = [];
    const queue: GroupRecord[] = [root];
    for (let next = queue.shift(); next; next = queue.shift()) {
      for (const id of next.members) {
        this.membersWalked++;
        if (seen.has(id)) continue;
        seen.add(id);
        const member = this.directoryObject(id);
        if (!member) continue;
        out.push(member);
        if (member.kind === 'group') queue.push(member.record);
      }
    }
    return out;
  }

  /** The (active) groups an object is a direct member of. */
  memberOfGroups(objectId: string): GroupRecord[] {
    const out: GroupRecord[] = [];
    for (const groupId of this.memberOf.get(objectId.toLowerCase()) ?? []) {
      const group = this.groupsById.get(groupId);
      if (group?.state === 'active') out.push(group);
    }
    return out;
  }

  /** The groups an object is a member of, directly or through nested groups, each once. */
  transitiveMemberOf(objectId: string): GroupRecord[] {
    const start = objectId.toLowerCase();
    const seen = new Set<string>([start]);
    const out: GroupRecord[] = [];
    const queue: string[] = [start];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      for (const groupId of this.memberOf.get(next) ?? []) {
        if (seen.has(groupId)) continue;
        seen.add(groupId);
        const group = this.groupsById.get(groupId);
        if (group?.state !== 'active') continue;
        out.push(group);
        queue.push(groupId);
      }
    }
    return out;
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

  /**
   * Registers a device with the cloud DRS, as a device joining or registering does: it gets a
   * deviceId (unless given), a registration time and a device certificate from the emulator's CA,
   * whose key becomes its type-2 alternativeSecurityIds. The certificate and its private key are
   * then available from {@link deviceCertificate}.
   */
  registerDevice(
    input: Partial<EmulatedDevice> = {},
    relations: NewDeviceRelations = {},
  ): { device: EmulatedDevice; certificate: DeviceCertificate } {
    const deviceId = (input.deviceId ?? randomUUID()).toLowerCase();
    const registered = certificateTime(input.registrationDateTime ?? null, new Date());
    const registrationDateTime = registered.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const device = this.createDevice(
      {
        displayName: `DESKTOP-${deviceId.slice(0, 7).toUpperCase()}`,
        accountEnabled: true,
        operatingSystem: 'Windows',
        operatingSystemVersion: '10.0.26100.2605',
        trustType: 'Workplace',
        deviceVersion: 2,
        profileType: 'RegisteredDevice',
        approximateLastSignInDateTime: registrationDateTime,
        createdDateTime: registrationDateTime,
        ...input,
        deviceId,
        registrationDateTime,
        alternativeSecurityIds: [
          {
            type: ALT_SECURITY_ID_TYPE_X509,
            identityProvider: null,
            key: this.drs.deviceKey(deviceId, registered),
          },
        ],
      },
      relations,
    );
    return { device, certificate: this.drs.deviceCertificate(deviceId, registered) };
  }

  /**
   * The certificate the DRS issued to a device (by object id or deviceId), or undefined when the
   * device's key is not one of its certificates (a device created through Graph with a key of its
   * own, or whose key or registration time was changed since).
   */
  deviceCertificate(idOrDeviceId: string): DeviceCertificate | undefined {
    const record = this.activeDevice(idOrDeviceId) ?? this.activeDeviceByDeviceId(idOrDeviceId);
    if (!record) return undefined;
    const { deviceId, registrationDateTime } = record.device;
    if (typeof deviceId !== 'string' || !registrationDateTime) return undefined;
    const certificate = this.drs.deviceCertificate(deviceId, new Date(registrationDateTime));
    const keys = record.device.alternativeSecurityIds.map((a) => a.key);
    return keys.includes(certificate.alternativeSecurityIdKey) ? certificate : undefined;
  }

  /** createDevice without the defensive copies (the caller hands `input` over). */
  private insertDevice(
    input: Partial<EmulatedDevice> & Pick<EmulatedDevice, 'deviceId' | 'displayName'>,
    relations: NewDeviceRelations,
  ): DeviceRecord {
    const id = (input.id ?? randomUUID()).toLowerCase();
    if (this.devicesById.has(id) || this.usersById.has(id) || this.groupsById.has(id))
      throw badRequest(`Another object with the same value for property id already exists.`);
    if (this.activeDeviceByDeviceId(input.deviceId)) {
      throw badRequest(`Another object with the same value for property deviceId already exists.`);
    }
    const created = now();
    const device = completeDevice({ createdDateTime: created, registrationDateTime: created, ...input, id });
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

  /**
   * Hard delete (Graph `DELETE /devices/{id}`): delta reports `@removed` `deleted`, and the device
   * leaves every group it was a member of (groups/delta reports that too).
   */
  deleteDevice(id: string): void {
    const record = this.deviceRecord(id);
    if (!record || record.state === 'deleted') throw notFound(id);
    this.write(() => {
      record.state = 'deleted';
      if (this.devicesByDeviceId.get(String(record.device.deviceId).toLowerCase()) === record) {
        this.devicesByDeviceId.delete(String(record.device.deviceId).toLowerCase());
      }
      this.append(record, 'deleted', []);
      this.leaveAllGroups(record.device.id);
    });
  }

  /**
   * Soft delete: the device disappears from Graph reads and delta reports `@removed` `changed`.
   * Like a deleted user in Graph, it keeps its group memberships until it is deleted for good.
   */
  softDeleteDevice(id: string): void {
    const record = this.requireActive(id);
    this.write(() => {
      record.state = 'softDeleted';
      record.device.deletedDateTime = now();
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
    if (record[relation].includes(user.id)) throw duplicateReference(relation);
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
    if (this.usersById.has(id) || this.devicesById.has(id) || this.groupsById.has(id))
      throw badRequest('Another object with the same value for property id already exists.');
    if (this.usersByUpn.has(input.userPrincipalName.toLowerCase())) {
      throw badRequest('Another object with the same value for property userPrincipalName already exists.');
    }
    const user = completeUser({ ...input, id });
    this.write(() => {
      this.userOrder.push(user);
      this.usersById.set(id, user);
      this.usersByUpn.set(user.userPrincipalName.toLowerCase(), user);
      this.persistence?.append({ t: 'user', ordinal: this.userOrder.length - 1, user });
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
      this.persistence?.append({ t: 'user', ordinal: this.userOrder.indexOf(user), user });
    });
    return clone(user);
  }

  // ---- group writes ------------------------------------------------------------------------

  /**
   * Creates a security group (unless told otherwise), optionally with members. Values are
   * Graph's defaults for anything not given; `id` and `securityIdentifier` are generated.
   */
  createGroup(
    input: Partial<EmulatedGroup> & Pick<EmulatedGroup, 'displayName'>,
    members: readonly string[] = [],
  ): EmulatedGroup {
    const record = this.insertGroup(clone(input));
    if (members.length > 0) this.addMembers(record.group.id, members);
    return clone(record.group);
  }

  private insertGroup(input: Partial<EmulatedGroup> & Pick<EmulatedGroup, 'displayName'>): GroupRecord {
    const id = (input.id ?? randomUUID()).toLowerCase();
    if (this.groupsById.has(id) || this.devicesById.has(id) || this.usersById.has(id))
      throw badRequest('Another object with the same value for property id already exists.');
    const created = now();
    const group = completeGroup({
      createdDateTime: created,
      renewedDateTime: created,
      securityIdentifier: isGuid(id) ? cloudSecurityIdentifier(guidToBytes(id)) : null,
      ...input,
      id,
    });
    const record: GroupRecord = {
      ordinal: this.groupOrder.length,
      group,
      state: 'active',
      members: new Set(),
      changes: [],
      membershipLog: [],
    };
    this.write(() => {
      this.groupOrder.push(record);
      this.groupsById.set(id, record);
      this.appendGroup(record, 'created', []);
    });
    return record;
  }

  /** Updates group properties; records only those whose value really changed. */
  updateGroup(id: string, patch: Partial<EmulatedGroup>): string[] {
    const record = this.requireGroup(id);
    const changed: string[] = [];
    for (const [property, value] of Object.entries(patch)) {
      if (property === 'id' || !knownGroupProperties.has(property)) continue;
      if (!sameValue((record.group as unknown as Record<string, unknown>)[property], value))
        changed.push(property);
    }
    if (changed.length === 0) return [];
    this.write(() => {
      const target = record.group as unknown as Record<string, unknown>;
      for (const property of changed) target[property] = clone((patch as Record<string, unknown>)[property]);
      this.appendGroup(record, 'updated', changed);
    });
    return changed;
  }

  /** Deletes a (security) group for good: groups/delta reports `@removed` `deleted`. */
  deleteGroup(id: string): void {
    const record = this.requireGroup(id);
    this.write(() => {
      record.state = 'deleted';
      record.group.deletedDateTime = now();
      for (const memberId of record.members) this.memberOf.get(memberId)?.delete(record.group.id);
      this.appendGroup(record, 'deleted', []);
      this.leaveAllGroups(record.group.id);
    });
  }

  /**
   * Adds one member (Graph `POST /groups/{id}/members/$ref`): a device, user or group, by object
   * id. Graph's errors: 404 for an unknown group or object, 400 when it is already a member.
   */
  addMember(groupId: string, memberId: string): void {
    const record = this.requireGroup(groupId);
    const member = this.directoryObject(memberId);
    if (!member) throw notFound(memberId);
    if (record.members.has(member.id)) throw duplicateReference('members');
    this.write(() => {
      this.recordMembership(record, member.id, true);
      this.appendGroup(record, 'updated', ['members']);
    });
  }

  /**
   * Adds many members at once (for seeding and benchmarks: 10,000 members in one call), skipping
   * those that already are; one entry in the group log however many are added. Returns how many
   * were added. Unknown ids are refused before anything is added.
   */
  addMembers(groupId: string, memberIds: Iterable<string>): number {
    const record = this.requireGroup(groupId);
    const ids: string[] = [];
    for (const memberId of memberIds) {
      const member = this.directoryObject(memberId);
      if (!member) throw notFound(memberId);
      if (!record.members.has(member.id)) ids.push(member.id);
    }
    const unique = [...new Set(ids)];
    if (unique.length === 0) return 0;
    this.write(() => {
      const seq = this.groupLog.length + 1;
      for (const id of unique) this.recordMembership(record, id, true, seq);
      this.appendGroup(record, 'updated', ['members']);
    });
    return unique.length;
  }

  /** Removes a direct member (Graph `DELETE /groups/{id}/members/{memberId}/$ref`); 404 if it is none. */
  removeMember(groupId: string, memberId: string): void {
    const record = this.requireGroup(groupId);
    const key = memberId.toLowerCase();
    if (!record.members.has(key)) throw notFound(memberId);
    this.write(() => {
      this.recordMembership(record, key, false);
      this.appendGroup(record, 'updated', ['members']);
    });
  }

  /** Removes many direct members at once; ids that are not members are skipped. Returns how many. */
  removeMembers(groupId: string, memberIds: Iterable<string>): number {
    const record = this.requireGroup(groupId);
    const ids = [...new Set([...memberIds].map((id) => id.toLowerCase()))].filter((id) =>
      record.members.has(id),
    );
    if (ids.length === 0) return 0;
    this.write(() => {
      const seq = this.groupLog.length + 1;
      for (const id of ids) this.recordMembership(record, id, false, seq);
      this.appendGroup(record, 'updated', ['members']);
    });
    return ids.length;
  }

  // ---- seeding and delta state ---------------------------------------------------------------

  /**
   * Makes sure the first `count` devices of the deterministic seed exist (with their users,
   * owners and certificates), and the seed's groups with those of them that belong there; seeding
   * again with a larger count adds the missing ones only.
   */
  seed(count: number, options: SeedOptions = {}): { devicesAdded: number; usersAdded: number } {
    let devicesAdded = 0;
    let usersAdded = 0;
    if (count > 0) this.seedName ??= options.seed ?? DEFAULT_SEED;
    // An empty directory takes the DRS of its seed, so that its devices are those of seededDevice().
    if (count > 0 && !this.drsGiven && this.deviceOrder.length === 0)
      this.drs = CloudDrs.forSeed(this.seedName ?? DEFAULT_SEED);
    const seedOptions: SeedOptions = { ...options, seed: this.seedName, drs: options.drs ?? this.drs };
    this.write(() => {
      const userTotal = seededUserCount(count, seedOptions);
      const userIds: string[] = [];
      for (let j = 0; j < userTotal; j++) {
        const user = seededUser(j, seedOptions);
        const existing =
          this.usersById.get(user.id) ?? this.usersByUpn.get(user.userPrincipalName.toLowerCase());
        userIds.push(existing ? existing.id : this.insertUser(user).id);
        if (!existing) usersAdded++;
      }
      const from = this.seededDevices;
      const added: { index: number; device: EmulatedDevice }[] = [];
      // In batches: their certificates are issued together (in parallel), a batch at a time.
      for (let start = from; start < count; start += SEED_BATCH) {
        const batch = seededDevices(
          start,
          Math.min(count, start + SEED_BATCH),
          seedOptions,
          (j) => userIds[j],
        );
        batch.forEach(({ device, ownerUserIndex }, i) => {
          if (this.devicesById.has(device.id)) return;
          const owner = ownerUserIndex === undefined ? undefined : userIds[ownerUserIndex];
          this.insertDevice(device, {
            registeredOwners: owner ? [owner] : [],
            registeredUsers: owner ? [owner] : [],
          });
          added.push({ index: start + i, device });
          devicesAdded++;
        });
      }
      if (count > 0) this.seedGroups(seedOptions, added);
      if (count > this.seededDevices) this.seededDevices = count;
      this.saveMeta();
    });
    return { devicesAdded, usersAdded };
  }

  /** The seed's groups (made once), with the devices just seeded that belong in them. */
  private seedGroups(options: SeedOptions, added: { index: number; device: EmulatedDevice }[]): void {
    const groups = seededGroups(options);
    const byKey = new Map<string, GroupRecord>();
    for (const seeded of groups) {
      const record = this.groupsById.get(seeded.group.id) ?? this.insertGroup(clone(seeded.group));
      byKey.set(seeded.key, record);
    }
    for (const seeded of groups) {
      const record = byKey.get(seeded.key);
      if (record?.state !== 'active') continue;
      const members = added
        .filter(({ index, device }) => seeded.holdsDevice(index, device))
        .map((a) => a.device.id);
      for (const key of seeded.nestedGroups) {
        const nested = byKey.get(key);
        if (nested?.state === 'active') members.push(nested.group.id);
      }
      this.addMembers(record.group.id, members);
    }
  }

  /**
   * Object ids of the active devices at positions `from` … `to - 1` in creation order (in a seeded
   * directory, seed order): a quick way to fill a large group.
   */
  deviceIdsAt(from: number, to: number): string[] {
    const out: string[] = [];
    let position = 0;
    for (const record of this.deviceOrder) {
      if (record.state !== 'active') continue;
      if (position >= to) break;
      if (position >= from) out.push(record.device.id);
      position++;
    }
    return out;
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

  private requireGroup(id: string): GroupRecord {
    const record = this.activeGroup(id);
    if (!record) throw notFound(id);
    return record;
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
    this.persistence?.append({
      t: 'device',
      ordinal: record.ordinal,
      state: record.state,
      device: record.device,
      registeredOwners: record.registeredOwners,
      registeredUsers: record.registeredUsers,
    });
    this.persistence?.append({ t: 'change', seq: entry.seq, objectId: entry.objectId, kind, properties });
  }

  private appendGroup(record: GroupRecord, kind: GroupChangeKind, properties: string[]): void {
    const entry: GroupChangeEntry = {
      seq: this.groupLog.length + 1,
      groupId: record.group.id,
      kind,
      properties,
      indexInGroup: record.changes.length,
    };
    this.groupLog.push(entry);
    record.changes.push(entry);
    this.persistence?.append({
      t: 'group',
      ordinal: record.ordinal,
      state: record.state,
      group: record.group,
    });
    this.persistence?.append({ t: 'groupChange', seq: entry.seq, groupId: entry.groupId, kind, properties });
  }

  /**
   * Applies one membership change and logs it under `seq`: the sequence number of the group-log
   * entry that is about to be appended for it (the caller appends that entry right after).
   */
  private recordMembership(
    record: GroupRecord,
    memberId: string,
    added: boolean,
    seq = this.groupLog.length + 1,
  ): void {
    const groupId = record.group.id;
    this.memberIdCache.delete(record);
    if (added) {
      record.members.add(memberId);
      let groups = this.memberOf.get(memberId);
      if (!groups) this.memberOf.set(memberId, (groups = new Set()));
      groups.add(groupId);
    } else {
      record.members.delete(memberId);
      this.memberOf.get(memberId)?.delete(groupId);
    }
    record.membershipLog.push({ seq, memberId, added });
    this.persistence?.append({ t: 'membership', seq, groupId, memberId, added });
  }

  /** A deleted object leaves every group it was a direct member of, each change logged. */
  private leaveAllGroups(objectId: string): void {
    const groups = this.memberOf.get(objectId);
    if (!groups) return;
    for (const groupId of [...groups]) {
      const group = this.groupsById.get(groupId);
      if (group?.state !== 'active') continue;
      this.recordMembership(group, objectId, false);
      this.appendGroup(group, 'updated', ['members']);
    }
    this.memberOf.delete(objectId);
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
    const meta: Record<string, string> = {
      storeId: this.storeId,
      deltaGeneration: String(this.deltaGeneration),
      seededDevices: String(this.seededDevices),
      drsSecret: this.drs.secret,
    };
    if (this.seedName !== undefined) meta.seed = this.seedName;
    for (const [key, value] of Object.entries(meta)) this.persistence?.append({ t: 'meta', key, value });
  }

  private restore(snapshot: StoreSnapshot): void {
    this.storeId = snapshot.meta.storeId ?? this.storeId;
    this.deltaGeneration = Number(snapshot.meta.deltaGeneration ?? 1);
    this.seededDevices = Number(snapshot.meta.seededDevices ?? 0);
    if (snapshot.meta.drsSecret) this.drs = CloudDrs.fromSecret(snapshot.meta.drsSecret);
    this.seedName = snapshot.meta.seed;
    for (const { user } of [...snapshot.users].sort((a, b) => a.ordinal - b.ordinal)) {
      const complete = completeUser(user);
      this.userOrder.push(complete);
      this.usersById.set(complete.id, complete);
      this.usersByUpn.set(complete.userPrincipalName.toLowerCase(), complete);
    }
    for (const saved of [...snapshot.devices].sort((a, b) => a.ordinal - b.ordinal)) {
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
    for (const saved of [...snapshot.changes].sort((a, b) => a.seq - b.seq)) {
      const record = this.devicesById.get(saved.objectId);
      if (!record || saved.seq !== this.log.length + 1)
        throw new Error(`the device change log is inconsistent at ${saved.seq}`);
      const entry: ChangeEntry = {
        seq: saved.seq,
        objectId: saved.objectId,
        kind: saved.kind,
        properties: saved.properties,
        indexInDevice: record.changes.length,
      };
      this.log.push(entry);
      record.changes.push(entry);
    }
    for (const saved of [...snapshot.groups].sort((a, b) => a.ordinal - b.ordinal)) {
      const record: GroupRecord = {
        ordinal: this.groupOrder.length,
        group: completeGroup(saved.group),
        state: saved.state,
        members: new Set(),
        changes: [],
        membershipLog: [],
      };
      this.groupOrder.push(record);
      this.groupsById.set(record.group.id, record);
    }
    for (const saved of [...snapshot.groupChanges].sort((a, b) => a.seq - b.seq)) {
      const record = this.groupsById.get(saved.groupId);
      if (!record || saved.seq !== this.groupLog.length + 1)
        throw new Error(`the group change log is inconsistent at ${saved.seq}`);
      const entry: GroupChangeEntry = {
        seq: saved.seq,
        groupId: saved.groupId,
        kind: saved.kind,
        properties: saved.properties,
        indexInGroup: record.changes.length,
      };
      this.groupLog.push(entry);
      record.changes.push(entry);
    }
    // Membership is the replay of each group's membership log.
    for (const saved of snapshot.memberships) {
      const record = this.groupsById.get(saved.groupId);
      if (!record) throw new Error(`a membership change names an unknown group at ${saved.seq}`);
      if (saved.added) record.members.add(saved.memberId);
      else record.members.delete(saved.memberId);
      record.membershipLog.push({ seq: saved.seq, memberId: saved.memberId, added: saved.added });
    }
    for (const record of this.groupOrder) {
      if (record.state !== 'active') continue;
      for (const memberId of record.members) {
        let groups = this.memberOf.get(memberId);
        if (!groups) this.memberOf.set(memberId, (groups = new Set()));
        groups.add(record.group.id);
      }
    }
  }
}
