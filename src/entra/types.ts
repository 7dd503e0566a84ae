// What the Entra connector hands to the rest of the engine: Graph devices as Graph names them, plus
// the SIDs of their registered owners and users. Nothing here knows about LDAP.

/** One device as the engine needs it (Graph v1.0 `device` properties, SPEC §2). */
export interface CloudDevice {
  /** Graph object id (the `id` property). */
  id: string;
  /** The device's own id (`deviceId`); expected to be a GUID, checked by the planner. */
  deviceId: string;
  displayName: string | null;
  accountEnabled: boolean | null;
  operatingSystem: string | null;
  operatingSystemVersion: string | null;
  /** Workplace, AzureAd or ServerAd. */
  trustType: string | null;
  isManaged: boolean | null;
  isCompliant: boolean | null;
  deviceVersion: number | null;
  /** ISO 8601 date-time. */
  approximateLastSignInDateTime: string | null;
  physicalIds: string[];
  alternativeSecurityIds: AlternativeSecurityId[];
}

export interface AlternativeSecurityId {
  type: number;
  identityProvider: string | null;
  /** Base64 (Graph `Edm.Binary`). */
  key: string;
}

/** A registered owner or user of a device. */
export interface DevicePrincipal {
  id: string;
  userPrincipalName: string | null;
  /** On-premises SID (S-1-5-21-…); null for cloud-only users. */
  onPremisesSecurityIdentifier: string | null;
}

export interface DeviceRelations {
  registeredOwners: DevicePrincipal[];
  registeredUsers: DevicePrincipal[];
}

/** A device property set as it arrives in a delta page: any property but `id` may be absent. */
export type PartialCloudDevice = Partial<CloudDevice> & { id: string };

export type DeviceChange =
  /** New or changed: carries only what Graph sent; merge with the last known state. */
  | { kind: 'upsert'; device: PartialCloudDevice }
  /** `@removed`: soft (changed) or hard (deleted) deletion; either way the device leaves AD. */
  | { kind: 'removed'; id: string; reason: 'changed' | 'deleted' }
  /** A device object that failed validation: quarantined with the reason, the rest go on. */
  | { kind: 'invalid'; id?: string; deviceId?: string; reason: string };

export interface DeltaPage {
  /** Set by the connector so that a page and a reset can be told apart; optional for callers. */
  kind?: 'page';
  changes: DeviceChange[];
  /** Present on the last page only: where the next delta read starts. */
  deltaLink?: string;
}

/** The delta link was refused (expired, or the tenant was moved): what follows is a full read. */
export interface DeltaReset {
  kind: 'reset';
  /** Why, as Graph said it; logged and shown in the run history. */
  reason: string;
}

/** What `EntraConnector.readDelta` yields: pages, and a reset before a fallback full read. */
export type DeltaReadEvent = DeltaPage | DeltaReset;

/** A change as it leaves the connector: upserts carry whole devices (merged, see merge.ts). */
export type CloudChange =
  | { kind: 'upsert'; device: CloudDevice }
  | Extract<DeviceChange, { kind: 'removed' }>
  | Extract<DeviceChange, { kind: 'invalid' }>;

export interface CloudPage {
  kind: 'page';
  changes: CloudChange[];
  /** Present on the last page only: where the next delta read starts. */
  deltaLink?: string;
}

/** What `EntraConnector.readDevices` yields: pages of whole devices, and a reset before a full read. */
export type CloudReadEvent = CloudPage | DeltaReset;

/** What a member of a group is, as far as the scope cares: a device, a nested group, or anything else. */
export type GroupMemberKind = 'device' | 'group' | 'other';

/** One entry of `members@delta`: a member added (or listed, in a first round) or removed. */
export interface GroupMemberChange {
  id: string;
  kind: GroupMemberKind;
  removed: boolean;
}

export type GroupChange =
  /**
   * A group of the round: in a first round with all its members (a large group may come on several
   * pages, each with a part of them), in a later round with only the members added and removed.
   */
  | { kind: 'group'; id: string; displayName: string | null; members: GroupMemberChange[] }
  /** `@removed`: the group was deleted. */
  | { kind: 'removed'; id: string };

export interface GroupDeltaPage {
  kind: 'page';
  groups: GroupChange[];
  /** Present on the last page only: where the next round starts. */
  deltaLink?: string;
}

/** What `EntraConnector.readGroupDelta` yields: pages, and a reset before a fallback first round. */
export type GroupDeltaEvent = GroupDeltaPage | DeltaReset;

/** One groups/delta read: the groups it covers, and where it goes on (none: a first round). */
export interface GroupDeltaRequest {
  groupIds: readonly string[];
  deltaLink?: string;
}

/** A group as found by id. */
export interface GroupSummary {
  id: string;
  displayName: string | null;
}
