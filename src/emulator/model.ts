// The directory objects the emulator holds, named and shaped as Microsoft Graph v1.0 documents
// them (`device`, `user`, `group`), plus the property lists that $select, defaults and validation use.

export interface EmulatedAlternativeSecurityId {
  type: number;
  identityProvider: string | null;
  /** Base64 (Edm.Binary). */
  key: string;
}

/** A Graph `device` with every property the emulator serves; SPEC §2 names the ones the product reads. */
export interface EmulatedDevice {
  id: string;
  deletedDateTime: string | null;
  accountEnabled: boolean;
  approximateLastSignInDateTime: string | null;
  complianceExpirationDateTime: string | null;
  createdDateTime: string | null;
  deviceCategory: string | null;
  deviceId: string;
  deviceMetadata: string | null;
  deviceOwnership: string | null;
  deviceVersion: number | null;
  displayName: string;
  domainName: string | null;
  enrollmentProfileName: string | null;
  enrollmentType: string | null;
  externalSourceName: string | null;
  isCompliant: boolean | null;
  isManaged: boolean | null;
  isRooted: boolean | null;
  managementType: string | null;
  manufacturer: string | null;
  mdmAppId: string | null;
  model: string | null;
  onPremisesLastSyncDateTime: string | null;
  onPremisesSecurityIdentifier: string | null;
  onPremisesSyncEnabled: boolean | null;
  operatingSystem: string | null;
  operatingSystemVersion: string | null;
  physicalIds: string[];
  profileType: string | null;
  registrationDateTime: string | null;
  sourceType: string | null;
  systemLabels: string[];
  trustType: string | null;
  extensionAttributes: Record<string, string | null>;
  alternativeSecurityIds: EmulatedAlternativeSecurityId[];
}

export type DeviceProperty = keyof EmulatedDevice;

/** Every device property in the order Graph returns them; the default when there is no $select. */
export const deviceProperties: readonly DeviceProperty[] = [
  'id',
  'deletedDateTime',
  'accountEnabled',
  'approximateLastSignInDateTime',
  'complianceExpirationDateTime',
  'createdDateTime',
  'deviceCategory',
  'deviceId',
  'deviceMetadata',
  'deviceOwnership',
  'deviceVersion',
  'displayName',
  'domainName',
  'enrollmentProfileName',
  'enrollmentType',
  'externalSourceName',
  'isCompliant',
  'isManaged',
  'isRooted',
  'managementType',
  'manufacturer',
  'mdmAppId',
  'model',
  'onPremisesLastSyncDateTime',
  'onPremisesSecurityIdentifier',
  'onPremisesSyncEnabled',
  'operatingSystem',
  'operatingSystemVersion',
  'physicalIds',
  'profileType',
  'registrationDateTime',
  'sourceType',
  'systemLabels',
  'trustType',
  'extensionAttributes',
  'alternativeSecurityIds',
];

/** A Graph `user`, limited to what device ownership needs plus Graph's default properties. */
export interface EmulatedUser {
  id: string;
  accountEnabled: boolean;
  businessPhones: string[];
  displayName: string | null;
  givenName: string | null;
  jobTitle: string | null;
  mail: string | null;
  mailNickname: string | null;
  mobilePhone: string | null;
  officeLocation: string | null;
  onPremisesSamAccountName: string | null;
  onPremisesSecurityIdentifier: string | null;
  onPremisesSyncEnabled: boolean | null;
  preferredLanguage: string | null;
  surname: string | null;
  userPrincipalName: string;
}

export type UserProperty = keyof EmulatedUser;

export const userProperties: readonly UserProperty[] = [
  'id',
  'accountEnabled',
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mailNickname',
  'mobilePhone',
  'officeLocation',
  'onPremisesSamAccountName',
  'onPremisesSecurityIdentifier',
  'onPremisesSyncEnabled',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
];

/**
 * What Graph v1.0 returns for a user without $select. Notably not `onPremisesSecurityIdentifier`:
 * clients must ask for it, and the emulator makes them.
 */
export const defaultUserProperties: readonly UserProperty[] = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
];

/**
 * A Graph `group`: the properties Graph returns for a security group, in the order of the
 * documented example (https://learn.microsoft.com/graph/api/group-post-groups, "Create a group
 * with owners and members"). Membership is kept by the store, not here.
 */
export interface EmulatedGroup {
  id: string;
  deletedDateTime: string | null;
  classification: string | null;
  createdDateTime: string | null;
  description: string | null;
  displayName: string;
  expirationDateTime: string | null;
  groupTypes: string[];
  isAssignableToRole: boolean | null;
  mail: string | null;
  mailEnabled: boolean;
  mailNickname: string;
  membershipRule: string | null;
  membershipRuleProcessingState: string | null;
  onPremisesDomainName: string | null;
  onPremisesLastSyncDateTime: string | null;
  onPremisesNetBiosName: string | null;
  onPremisesSamAccountName: string | null;
  onPremisesSecurityIdentifier: string | null;
  onPremisesSyncEnabled: boolean | null;
  preferredDataLocation: string | null;
  preferredLanguage: string | null;
  proxyAddresses: string[];
  renewedDateTime: string | null;
  resourceBehaviorOptions: string[];
  resourceProvisioningOptions: string[];
  securityEnabled: boolean;
  securityIdentifier: string | null;
  theme: string | null;
  visibility: string | null;
  onPremisesProvisioningErrors: unknown[];
}

export type GroupProperty = keyof EmulatedGroup;

/** Every group property, in Graph's order; also what Graph returns without $select. */
export const groupProperties: readonly GroupProperty[] = [
  'id',
  'deletedDateTime',
  'classification',
  'createdDateTime',
  'description',
  'displayName',
  'expirationDateTime',
  'groupTypes',
  'isAssignableToRole',
  'mail',
  'mailEnabled',
  'mailNickname',
  'membershipRule',
  'membershipRuleProcessingState',
  'onPremisesDomainName',
  'onPremisesLastSyncDateTime',
  'onPremisesNetBiosName',
  'onPremisesSamAccountName',
  'onPremisesSecurityIdentifier',
  'onPremisesSyncEnabled',
  'preferredDataLocation',
  'preferredLanguage',
  'proxyAddresses',
  'renewedDateTime',
  'resourceBehaviorOptions',
  'resourceProvisioningOptions',
  'securityEnabled',
  'securityIdentifier',
  'theme',
  'visibility',
  'onPremisesProvisioningErrors',
];

/** The kinds of directory object that can be group members, with their OData type names. */
export type DirectoryObjectKind = 'device' | 'user' | 'group';
export const odataType: Readonly<Record<DirectoryObjectKind, string>> = {
  device: '#microsoft.graph.device',
  user: '#microsoft.graph.user',
  group: '#microsoft.graph.group',
};

/**
 * The SID Entra gives a cloud group: `S-1-12-1-` and the object id's 16 bytes (in GUID byte
 * order) as four little-endian 32-bit numbers.
 */
export function cloudSecurityIdentifier(objectIdBytes: Buffer): string {
  const parts = [0, 4, 8, 12].map((offset) => objectIdBytes.readUInt32LE(offset));
  return `S-1-12-1-${parts.join('-')}`;
}

/** The two device relationships the product reads. */
export type DeviceRelation = 'registeredOwners' | 'registeredUsers';
export const deviceRelations: readonly DeviceRelation[] = ['registeredOwners', 'registeredUsers'];

const noExtensionAttributes: Readonly<Record<string, string | null>> = Object.freeze(
  Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`extensionAttribute${i + 1}`, null])),
);

/**
 * The 15 empty extension attributes. Shared and frozen: the store replaces a property value as a
 * whole and never edits it in place, and 100k devices should not carry 100k copies of nothing.
 */
export function emptyExtensionAttributes(): Record<string, string | null> {
  return noExtensionAttributes as Record<string, string | null>;
}

/** A device with Graph's defaults for everything not given. */
export function completeDevice(
  input: Partial<EmulatedDevice> & Pick<EmulatedDevice, 'id' | 'deviceId' | 'displayName'>,
): EmulatedDevice {
  return {
    deletedDateTime: null,
    accountEnabled: true,
    approximateLastSignInDateTime: null,
    complianceExpirationDateTime: null,
    createdDateTime: null,
    deviceCategory: null,
    deviceMetadata: null,
    deviceOwnership: null,
    deviceVersion: null,
    domainName: null,
    enrollmentProfileName: null,
    enrollmentType: null,
    externalSourceName: null,
    isCompliant: null,
    isManaged: null,
    isRooted: null,
    managementType: null,
    manufacturer: null,
    mdmAppId: null,
    model: null,
    onPremisesLastSyncDateTime: null,
    onPremisesSecurityIdentifier: null,
    onPremisesSyncEnabled: null,
    operatingSystem: null,
    operatingSystemVersion: null,
    physicalIds: [],
    profileType: null,
    registrationDateTime: null,
    sourceType: null,
    systemLabels: [],
    trustType: null,
    extensionAttributes: emptyExtensionAttributes(),
    alternativeSecurityIds: [],
    ...input,
  };
}

/** A security group with Graph's defaults for everything not given. */
export function completeGroup(
  input: Partial<EmulatedGroup> & Pick<EmulatedGroup, 'id' | 'displayName'>,
): EmulatedGroup {
  return {
    deletedDateTime: null,
    classification: null,
    createdDateTime: null,
    description: null,
    expirationDateTime: null,
    groupTypes: [],
    isAssignableToRole: null,
    mail: null,
    mailEnabled: false,
    mailNickname: input.displayName.replace(/[^A-Za-z0-9]/g, '').slice(0, 64) || 'group',
    membershipRule: null,
    membershipRuleProcessingState: null,
    onPremisesDomainName: null,
    onPremisesLastSyncDateTime: null,
    onPremisesNetBiosName: null,
    onPremisesSamAccountName: null,
    onPremisesSecurityIdentifier: null,
    onPremisesSyncEnabled: null,
    preferredDataLocation: null,
    preferredLanguage: null,
    proxyAddresses: [],
    renewedDateTime: null,
    resourceBehaviorOptions: [],
    resourceProvisioningOptions: [],
    securityEnabled: true,
    securityIdentifier: null,
    theme: null,
    visibility: null,
    onPremisesProvisioningErrors: [],
    ...input,
  };
}

export function completeUser(
  input: Partial<EmulatedUser> & Pick<EmulatedUser, 'id' | 'userPrincipalName'>,
): EmulatedUser {
  return {
    accountEnabled: true,
    businessPhones: [],
    displayName: null,
    givenName: null,
    jobTitle: null,
    mail: null,
    mailNickname: null,
    mobilePhone: null,
    officeLocation: null,
    onPremisesSamAccountName: null,
    onPremisesSecurityIdentifier: null,
    onPremisesSyncEnabled: null,
    preferredLanguage: null,
    surname: null,
    ...input,
  };
}
