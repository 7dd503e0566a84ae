// What forest preparation needs to know about the forest before it plans anything: its naming
// contexts, its domains (from the crossRef objects of CN=Partitions), which of them this domain
// controller holds, and the schema's device classes with their schemaIDGUIDs.
import { type AdConnection, type AdEntry, buf, str, strs } from '../ad/connection.js';
import { discoverSchema, readRootDse, type RootDse, type SchemaCapabilities } from '../ad/discovery.js';
import { dnEquals, dnToDomain } from '../ad/dn.js';
import { filter } from '../ad/filter.js';
import { bytesToGuid } from '../ad/guid.js';
import { bytesToSid } from '../ad/sid.js';

export interface ForestDomain {
  /** DNS name, e.g. corp.example.test. */
  dnsName: string;
  /** The domain naming context, e.g. DC=corp,DC=example,DC=test. */
  dn: string;
  netbiosName?: string;
  /** The domain SID, when this domain controller holds the domain. */
  sid?: string;
  /** True when the connected domain controller holds this domain's naming context. */
  heldByThisDc: boolean;
}

export interface ForestFacts {
  rootDse: RootDse;
  /** DNS name of the forest root domain. */
  rootDomain: string;
  domains: ForestDomain[];
  schema: SchemaCapabilities;
  /** schemaIDGUID of each device class the schema has, by lDAPDisplayName. */
  classGuids: Map<string, string>;
}

/** lDAPDisplayName -> schemaIDGUID for the given classes or attributes (only those that exist). */
export async function readSchemaIdGuids(
  conn: AdConnection,
  schemaNc: string,
  names: readonly string[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (names.length === 0) return found;
  const entries = await conn.search(schemaNc, {
    scope: 'one',
    filter: `(|${names.map((n) => filter`(lDAPDisplayName=${n})`).join('')})`,
    attributes: ['lDAPDisplayName', 'schemaIDGUID'],
  });
  for (const e of entries) {
    const name = str(e, 'lDAPDisplayName');
    const guid = buf(e, 'schemaIDGUID');
    if (name && guid?.length === 16) found.set(name, bytesToGuid(guid));
  }
  // Return the caller's spelling of each name.
  const byLower = new Map([...found].map(([k, v]) => [k.toLowerCase(), v]));
  return new Map(
    names.flatMap((n) => (byLower.has(n.toLowerCase()) ? [[n, byLower.get(n.toLowerCase())!]] : [])),
  );
}

/** The domains of the forest, from the crossRef objects of the Partitions container. */
export async function readForestDomains(conn: AdConnection, rootDse: RootDse): Promise<ForestDomain[]> {
  const partitions = `CN=Partitions,${rootDse.configurationNamingContext}`;
  // systemFlags bit 2 (FLAG_CR_NTDS_DOMAIN) marks the crossRef of a domain naming context.
  const entries = await conn.search(partitions, {
    scope: 'one',
    filter: '(&(objectClass=crossRef)(systemFlags:1.2.840.113556.1.4.803:=2))',
    attributes: ['nCName', 'dnsRoot', 'nETBIOSName'],
  });
  const domains: ForestDomain[] = [];
  for (const e of entries) {
    const dn = str(e, 'nCName');
    if (!dn) continue;
    const heldByThisDc = rootDse.namingContexts.some((nc) => dnEquals(nc, dn));
    const domain: ForestDomain = {
      dnsName: (str(e, 'dnsRoot') ?? dnToDomain(dn)).toLowerCase(),
      dn,
      netbiosName: str(e, 'nETBIOSName'),
      heldByThisDc,
    };
    if (heldByThisDc) {
      const head = await conn.read(dn, ['objectSid']);
      const sid = head && buf(head, 'objectSid');
      if (sid) domain.sid = bytesToSid(sid);
    }
    domains.push(domain);
  }
  // A DC always holds its own domain, even if the crossRef could not be read.
  if (!domains.some((d) => dnEquals(d.dn, rootDse.defaultNamingContext))) {
    const head = await conn.read(rootDse.defaultNamingContext, ['objectSid']);
    const sid = head && buf(head, 'objectSid');
    domains.push({
      dnsName: dnToDomain(rootDse.defaultNamingContext).toLowerCase(),
      dn: rootDse.defaultNamingContext,
      sid: sid ? bytesToSid(sid) : undefined,
      heldByThisDc: true,
    });
  }
  return domains;
}

export async function readForestFacts(conn: AdConnection): Promise<ForestFacts> {
  const rootDse = await readRootDse(conn);
  const schema = await discoverSchema(conn, rootDse.schemaNamingContext);
  const domains = await readForestDomains(conn, rootDse);
  const classGuids = await readSchemaIdGuids(conn, rootDse.schemaNamingContext, [
    'msDS-Device',
    'msDS-DeviceContainer',
    'msDS-DeviceRegistrationService',
    'msDS-DeviceRegistrationServiceContainer',
  ]);
  return {
    rootDse,
    rootDomain: dnToDomain(rootDse.rootDomainNamingContext || rootDse.defaultNamingContext).toLowerCase(),
    domains,
    schema,
    classGuids,
  };
}

/** Finds a domain of the forest by DNS name (case-insensitive, trailing dot ignored). */
export function findDomain(forest: ForestFacts, dnsName: string): ForestDomain | undefined {
  const wanted = dnsName.replace(/\.$/, '').toLowerCase();
  return forest.domains.find((d) => d.dnsName === wanted);
}

export function objectClasses(entry: AdEntry | undefined): string[] {
  return entry ? strs(entry, 'objectClass') : [];
}

export function hasClass(classes: readonly string[], name: string): boolean {
  return classes.some((c) => c.toLowerCase() === name.toLowerCase());
}
