// The attribute table of SPEC §2, in one place and one order: every attribute of an msDS-Device
// that this product writes, its syntax in AD, whether the class requires it, and the Graph property
// it flows from. Schema discovery, the attribute flow, the planner, the checks, the console and the
// tests all read this list; nothing else spells it out.

export type DeviceAttributeSyntax =
  /** Bytes: a GUID in AD byte order, a binary SID, or UTF-8 text stored as an octet string. */
  | 'octet-string'
  | 'unicode'
  | 'boolean'
  | 'integer'
  /** FILETIME as decimal text. */
  | 'large-integer';

export interface DeviceAttributeDefinition {
  name: string;
  syntax: DeviceAttributeSyntax;
  multiValued: boolean;
  /** msDS-Device cannot exist without it. */
  required: boolean;
  /** Where the value comes from in Graph (for people: the console and the docs). */
  graphSource: string;
}

/** SPEC §2, in the SPEC's order. */
export const DEVICE_ATTRIBUTE_TABLE = [
  {
    name: 'msDS-DeviceID',
    syntax: 'octet-string',
    multiValued: false,
    required: true,
    graphSource: 'deviceId',
  },
  { name: 'displayName', syntax: 'unicode', multiValued: false, required: true, graphSource: 'displayName' },
  {
    name: 'msDS-IsEnabled',
    syntax: 'boolean',
    multiValued: false,
    required: true,
    graphSource: 'accountEnabled',
  },
  {
    name: 'altSecurityIdentities',
    syntax: 'unicode',
    multiValued: true,
    required: true,
    graphSource: 'alternativeSecurityIds (type 2)',
  },
  {
    name: 'msDS-DeviceOSType',
    syntax: 'unicode',
    multiValued: false,
    required: false,
    graphSource: 'operatingSystem',
  },
  {
    name: 'msDS-DeviceOSVersion',
    syntax: 'unicode',
    multiValued: false,
    required: false,
    graphSource: 'operatingSystemVersion',
  },
  {
    name: 'msDS-DevicePhysicalIDs',
    syntax: 'unicode',
    multiValued: true,
    required: false,
    graphSource: 'physicalIds',
  },
  {
    name: 'msDS-IsManaged',
    syntax: 'boolean',
    multiValued: false,
    required: false,
    graphSource: 'isManaged',
  },
  {
    name: 'msDS-IsCompliant',
    syntax: 'boolean',
    multiValued: false,
    required: false,
    graphSource: 'isCompliant',
  },
  {
    name: 'msDS-DeviceTrustType',
    syntax: 'integer',
    multiValued: false,
    required: false,
    graphSource: 'trustType',
  },
  {
    name: 'msDS-DeviceObjectVersion',
    syntax: 'integer',
    multiValued: false,
    required: false,
    graphSource: 'deviceVersion',
  },
  {
    name: 'msDS-ApproximateLastLogonTimeStamp',
    syntax: 'large-integer',
    multiValued: false,
    required: false,
    graphSource: 'approximateLastSignInDateTime',
  },
  {
    name: 'msDS-RegisteredOwner',
    syntax: 'octet-string',
    multiValued: false,
    required: false,
    graphSource: 'registeredOwners[0].onPremisesSecurityIdentifier',
  },
  {
    name: 'msDS-RegisteredUsers',
    syntax: 'octet-string',
    multiValued: true,
    required: false,
    graphSource: 'registeredUsers[].onPremisesSecurityIdentifier',
  },
  {
    name: 'msDS-CloudAnchor',
    syntax: 'octet-string',
    multiValued: false,
    required: false,
    graphSource: 'id (as Device_<id>)',
  },
] as const satisfies readonly DeviceAttributeDefinition[];

export type DeviceAttribute = (typeof DEVICE_ATTRIBUTE_TABLE)[number]['name'];

/** Every attribute this product writes (the ones it owns on a managed object), in the table's order. */
export const DEVICE_ATTRIBUTES: readonly DeviceAttribute[] = DEVICE_ATTRIBUTE_TABLE.map((a) => a.name);

/** Attributes msDS-Device cannot exist without. */
export const REQUIRED_DEVICE_ATTRIBUTES: readonly DeviceAttribute[] = DEVICE_ATTRIBUTE_TABLE.filter(
  (a) => a.required,
).map((a) => a.name);

/** Written only where the schema has them (SPEC §2); absence is a warning, not an error. */
export const OPTIONAL_DEVICE_ATTRIBUTES: readonly DeviceAttribute[] = DEVICE_ATTRIBUTE_TABLE.filter(
  (a) => !a.required,
).map((a) => a.name);

/** Attributes whose values are bytes rather than text (they must come back from LDAP as Buffers). */
export const BINARY_DEVICE_ATTRIBUTES: ReadonlySet<string> = new Set(
  DEVICE_ATTRIBUTE_TABLE.filter((a) => a.syntax === 'octet-string').map((a) => a.name),
);

const byName = new Map<string, DeviceAttributeDefinition>(
  DEVICE_ATTRIBUTE_TABLE.map((a) => [a.name.toLowerCase(), a]),
);

/** The definition of a device attribute, by name in any case. */
export function deviceAttribute(name: string): DeviceAttributeDefinition | undefined {
  return byName.get(name.toLowerCase());
}
