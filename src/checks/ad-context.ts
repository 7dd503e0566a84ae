// The AD resources the ad.* checks share during one run, opened once and cached in the check
// context: the session bound AS THE CONNECTOR (never as an administrator: the checks measure what
// the connector itself may do), the RootDSE, the schema, the connector's token and the device
// registration configuration as the connector sees it.
import { type AdConnection, SdFlagsControl, buf, bufs, str, strs, type AdEntry } from '../ad/connection.js';
import {
  deviceContainerDn,
  deviceRegistrationDns,
  discoverSchema,
  readRootDse,
  type RootDse,
  type SchemaCapabilities,
} from '../ad/discovery.js';
import { domainToDn } from '../ad/dn.js';
import { openConnectorSession as bindAsConnector } from '../ad/settings.js';
import { filter } from '../ad/filter.js';
import { bytesToGuid } from '../ad/guid.js';
import { decodeSecurityDescriptor, type SecurityDescriptor } from '../ad/security-descriptor.js';
import { bytesToSid } from '../ad/sid.js';
import {
  REGISTRATION_SERVICE_ATTRIBUTES,
  registrationServiceSettings,
  type RegistrationServiceSettings,
} from '../ad/registration-service.js';
import { readSchemaIdGuids } from '../prepare/forest.js';
import type { CheckContext } from './types.js';
import { CheckSkipped } from './support.js';

export interface AdSession {
  conn: AdConnection;
  rootDse: RootDse;
}

async function cached<T>(ctx: CheckContext, key: string, make: () => Promise<T>): Promise<T> {
  let value = ctx.cache.get(key) as Promise<T> | undefined;
  if (!value) {
    value = make();
    value.catch(() => undefined); // failures are reported by whoever awaits it
    ctx.cache.set(key, value);
  }
  return value;
}

/** Opens (once) the session as the connector account; rejects with the connect/bind error. */
export function openConnectorSession(ctx: CheckContext): Promise<AdSession> {
  return cached(ctx, 'ad.session', async () => {
    const conn = await bindAsConnector(ctx.forest.ad);
    try {
      return { conn, rootDse: await readRootDse(conn) };
    } catch (err) {
      await conn.close();
      throw err;
    }
  });
}

/** The connector session for checks that need it; skips the check when ad.connect failed. */
export async function adSession(ctx: CheckContext): Promise<AdSession> {
  try {
    return await openConnectorSession(ctx);
  } catch {
    throw new CheckSkipped('no connection to Active Directory (see ad.connect)');
  }
}

export async function closeAdSession(ctx: CheckContext): Promise<void> {
  const session = ctx.cache.get('ad.session') as Promise<AdSession> | undefined;
  if (!session) return;
  const s = await session.catch(() => undefined);
  await s?.conn.close();
}

export function schemaOf(ctx: CheckContext): Promise<SchemaCapabilities> {
  return cached(ctx, 'ad.schema', async () => {
    const { conn, rootDse } = await adSession(ctx);
    return discoverSchema(conn, rootDse.schemaNamingContext);
  });
}

/** Skips the check when the schema has no device classes (ad.schema reports that). */
export async function requireDeviceSchema(ctx: CheckContext): Promise<SchemaCapabilities> {
  const schema = await schemaOf(ctx);
  if (!schema.hasDeviceClasses) throw new CheckSkipped('the schema has no device classes (see ad.schema)');
  return schema;
}

/** The SIDs in the connector's token, as the domain controller computed them (RootDSE tokenGroups). */
export function connectorToken(ctx: CheckContext): Promise<Set<string>> {
  return cached(ctx, 'ad.token', async () => {
    const { conn } = await adSession(ctx);
    const root = await conn.read('', ['tokenGroups']);
    return new Set(root ? bufs(root, 'tokenGroups').map((b) => bytesToSid(b)) : []);
  });
}

export interface DeviceRegistration {
  serviceDn: string;
  service?: AdEntry;
  /** The service's settings (stale-device cleanup, cloud issuer), when the object exists. */
  settings?: RegistrationServiceSettings;
  /** msDS-DeviceLocation, when set. */
  location?: string;
  /** Where devices go: msDS-DeviceLocation, else ad.domain, else the connector's domain. */
  containerDn: string;
  containerSource: 'msDS-DeviceLocation' | 'ad.domain' | 'default naming context';
}

export function deviceRegistration(ctx: CheckContext): Promise<DeviceRegistration> {
  return cached(ctx, 'ad.registration', async () => {
    const { conn, rootDse } = await adSession(ctx);
    const serviceDn = deviceRegistrationDns(rootDse.configurationNamingContext).service;
    const service = await conn.read(serviceDn, REGISTRATION_SERVICE_ATTRIBUTES);
    const settings = service ? registrationServiceSettings(service) : undefined;
    const location = settings?.deviceLocation;
    if (location) {
      return {
        serviceDn,
        service,
        settings,
        location,
        containerDn: location,
        containerSource: 'msDS-DeviceLocation',
      };
    }
    if (ctx.forest.ad.domain) {
      return {
        serviceDn,
        service,
        settings,
        containerDn: deviceContainerDn(domainToDn(ctx.forest.ad.domain)),
        containerSource: 'ad.domain',
      };
    }
    return {
      serviceDn,
      service,
      settings,
      containerDn: deviceContainerDn(rootDse.defaultNamingContext),
      containerSource: 'default naming context',
    };
  });
}

/** schemaIDGUIDs by lDAPDisplayName (classes and attributes), read once per name. */
export async function schemaIdGuids(
  ctx: CheckContext,
  names: readonly string[],
): Promise<Map<string, string>> {
  const { conn, rootDse } = await adSession(ctx);
  return readSchemaIdGuids(conn, rootDse.schemaNamingContext, names);
}

export interface AttributeIdentity {
  name: string;
  schemaIdGuid: string;
  /** The property set the attribute belongs to (attributeSecurityGUID), if any. */
  propertySet?: string;
}

/** schemaIDGUID and property set of each named attribute the schema has. */
export async function attributeIdentities(
  ctx: CheckContext,
  names: readonly string[],
): Promise<AttributeIdentity[]> {
  const { conn, rootDse } = await adSession(ctx);
  const entries = await conn.search(rootDse.schemaNamingContext, {
    scope: 'one',
    filter: `(&(objectClass=attributeSchema)(|${names.map((n) => filter`(lDAPDisplayName=${n})`).join('')}))`,
    attributes: ['lDAPDisplayName', 'schemaIDGUID', 'attributeSecurityGUID'],
  });
  const order = (name: string): number => names.findIndex((n) => n.toLowerCase() === name.toLowerCase());
  const found = entries.flatMap((e) => {
    const id = buf(e, 'schemaIDGUID');
    const set = buf(e, 'attributeSecurityGUID');
    const name = str(e, 'lDAPDisplayName');
    if (!id || id.length !== 16 || !name) return [];
    return [
      { name, schemaIdGuid: bytesToGuid(id), propertySet: set?.length === 16 ? bytesToGuid(set) : undefined },
    ];
  });
  return found.sort((a, b) => order(a.name) - order(b.name));
}

/** The DACL of an object as the connector may read it (SD-flags: DACL only); undefined if not readable. */
export async function daclAsConnector(
  ctx: CheckContext,
  dn: string,
): Promise<SecurityDescriptor | undefined> {
  const { conn } = await adSession(ctx);
  const entry = await conn.read(dn, ['nTSecurityDescriptor'], [new SdFlagsControl(SdFlagsControl.DACL)]);
  const bytes = entry && buf(entry, 'nTSecurityDescriptor');
  return bytes ? decodeSecurityDescriptor(bytes) : undefined;
}

export function hasObjectClass(entry: AdEntry | undefined, name: string): boolean {
  return !!entry && strs(entry, 'objectClass').some((c) => c.toLowerCase() === name.toLowerCase());
}

export function mostSpecificClass(entry: AdEntry | undefined): string {
  const classes = entry ? strs(entry, 'objectClass') : [];
  return classes[classes.length - 1] ?? 'unknown';
}
