// RootDSE and schema discovery: where the naming contexts are, how old the forest is, and which of
// the device classes and attributes of SPEC §2 the connected schema has (with their range limits).
import { filter } from './filter.js';
import { type AdConnection, str, strs } from './connection.js';
import { DEVICE_ATTRIBUTES, OPTIONAL_DEVICE_ATTRIBUTES } from './device-attributes.js';

export interface RootDse {
  defaultNamingContext: string;
  configurationNamingContext: string;
  schemaNamingContext: string;
  rootDomainNamingContext: string;
  namingContexts: string[];
  dnsHostName?: string;
  forestFunctionality?: number;
  domainFunctionality?: number;
  domainControllerFunctionality?: number;
  supportedControls: string[];
}

export async function readRootDse(conn: AdConnection): Promise<RootDse> {
  const entry = await conn.read('', [
    'defaultNamingContext',
    'configurationNamingContext',
    'schemaNamingContext',
    'rootDomainNamingContext',
    'namingContexts',
    'dnsHostName',
    'forestFunctionality',
    'domainFunctionality',
    'domainControllerFunctionality',
    'supportedControl',
  ]);
  if (!entry) throw new Error('the server returned no RootDSE');
  const num = (name: string): number | undefined => {
    const v = str(entry, name);
    return v === undefined ? undefined : Number(v);
  };
  return {
    defaultNamingContext: str(entry, 'defaultNamingContext') ?? '',
    configurationNamingContext: str(entry, 'configurationNamingContext') ?? '',
    schemaNamingContext: str(entry, 'schemaNamingContext') ?? '',
    rootDomainNamingContext: str(entry, 'rootDomainNamingContext') ?? '',
    namingContexts: strs(entry, 'namingContexts'),
    dnsHostName: str(entry, 'dnsHostName'),
    forestFunctionality: num('forestFunctionality'),
    domainFunctionality: num('domainFunctionality'),
    domainControllerFunctionality: num('domainControllerFunctionality'),
    supportedControls: strs(entry, 'supportedControl'),
  };
}

/** Functional levels as Windows names them. */
export function functionalLevelName(level: number | undefined): string {
  const names: Record<number, string> = {
    0: 'Windows 2000',
    1: 'Windows Server 2003 interim',
    2: 'Windows Server 2003',
    3: 'Windows Server 2008',
    4: 'Windows Server 2008 R2',
    5: 'Windows Server 2012',
    6: 'Windows Server 2012 R2',
    7: 'Windows Server 2016',
  };
  return level === undefined ? 'unknown' : (names[level] ?? `level ${level}`);
}

/** The classes the product needs; all three arrived with the Windows Server 2012 R2 schema. */
export const REQUIRED_CLASSES = [
  'msDS-Device',
  'msDS-DeviceContainer',
  'msDS-DeviceRegistrationService',
] as const;

export interface AttributeSchema {
  name: string;
  syntax: string;
  singleValued: boolean;
  rangeLower?: number;
  rangeUpper?: number;
}

export interface SchemaCapabilities {
  classes: Record<(typeof REQUIRED_CLASSES)[number], boolean>;
  attributes: Map<string, AttributeSchema>;
  /** True when every required class exists. */
  hasDeviceClasses: boolean;
  missingOptionalAttributes: string[];
  has(attribute: string): boolean;
}

export async function discoverSchema(conn: AdConnection, schemaNc: string): Promise<SchemaCapabilities> {
  const classFilter = `(&(objectClass=classSchema)(|${REQUIRED_CLASSES.map((c) => filter`(lDAPDisplayName=${c})`).join('')}))`;
  const classEntries = await conn.search(schemaNc, {
    scope: 'one',
    filter: classFilter,
    attributes: ['lDAPDisplayName'],
  });
  const foundClasses = new Set(classEntries.map((e) => (str(e, 'lDAPDisplayName') ?? '').toLowerCase()));
  const classes = Object.fromEntries(
    REQUIRED_CLASSES.map((c) => [c, foundClasses.has(c.toLowerCase())]),
  ) as SchemaCapabilities['classes'];

  const attrFilter = `(&(objectClass=attributeSchema)(|${DEVICE_ATTRIBUTES.map((a) => filter`(lDAPDisplayName=${a})`).join('')}))`;
  const attrEntries = await conn.search(schemaNc, {
    scope: 'one',
    filter: attrFilter,
    attributes: ['lDAPDisplayName', 'attributeSyntax', 'isSingleValued', 'rangeLower', 'rangeUpper'],
  });
  const attributes = new Map<string, AttributeSchema>();
  for (const e of attrEntries) {
    const name = str(e, 'lDAPDisplayName') ?? '';
    const lower = str(e, 'rangeLower');
    const upper = str(e, 'rangeUpper');
    attributes.set(name.toLowerCase(), {
      name,
      syntax: str(e, 'attributeSyntax') ?? '',
      singleValued: (str(e, 'isSingleValued') ?? 'FALSE').toUpperCase() === 'TRUE',
      rangeLower: lower === undefined ? undefined : Number(lower),
      rangeUpper: upper === undefined ? undefined : Number(upper),
    });
  }
  const has = (attribute: string): boolean => attributes.has(attribute.toLowerCase());
  return {
    classes,
    attributes,
    hasDeviceClasses: REQUIRED_CLASSES.every((c) => classes[c]),
    missingOptionalAttributes: OPTIONAL_DEVICE_ATTRIBUTES.filter((a) => !has(a)),
    has,
  };
}

/** The well-known DNs of the device registration configuration (SPEC §2). */
export function deviceRegistrationDns(configNc: string): {
  configuration: string;
  services: string;
  service: string;
} {
  const configuration = `CN=Device Registration Configuration,CN=Services,${configNc}`;
  const services = `CN=Device Registration Services,${configuration}`;
  return { configuration, services, service: `CN=DeviceRegistrationService,${services}` };
}

export function deviceContainerDn(domainDn: string): string {
  return `CN=RegisteredDevices,${domainDn}`;
}
