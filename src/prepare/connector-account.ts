// Resolves the connector account named on the command line (sAMAccountName, DOMAIN\name, UPN or DN)
// to exactly one security principal of the forest, with its SID: the trustee of the ACEs init-ad
// grants. None or several matches are errors that say how to name the account precisely.
import { type AdConnection, type AdEntry, buf, str } from '../ad/connection.js';
import { dnEquals, parseDn } from '../ad/dn.js';
import { filter } from '../ad/filter.js';
import { bytesToSid } from '../ad/sid.js';
import { DwbError } from '../errors.js';
import type { ForestDomain, ForestFacts } from './forest.js';

export interface ConnectorAccount {
  /** As the user gave it. */
  given: string;
  dn: string;
  sid: string;
  sAMAccountName?: string;
  /** DOMAIN\name when known, the DN otherwise: how the account is shown to people. */
  displayName: string;
}

const PRINCIPAL = '(&(objectSid=*)(|(objectClass=user)(objectClass=group)))';
const ATTRIBUTES = ['objectSid', 'sAMAccountName', 'objectClass'];

export function looksLikeDn(text: string): boolean {
  if (!text.includes('=')) return false;
  try {
    return parseDn(text).length > 0;
  } catch {
    return false;
  }
}

function toAccount(given: string, entry: AdEntry, domains: readonly ForestDomain[]): ConnectorAccount {
  const sidBytes = buf(entry, 'objectSid');
  if (!sidBytes)
    throw new DwbError(
      'DWB_AD_ACCOUNT_NOT_FOUND',
      `${entry.dn} has no objectSid, so it cannot be granted rights.`,
    );
  const sam = str(entry, 'sAMAccountName');
  const domain = domains.find((d) => entry.dn.toLowerCase().endsWith(d.dn.toLowerCase()));
  const displayName = sam && domain?.netbiosName ? `${domain.netbiosName}\\${sam}` : entry.dn;
  return { given, dn: entry.dn, sid: bytesToSid(sidBytes), sAMAccountName: sam, displayName };
}

async function searchDomains(
  conn: AdConnection,
  domains: readonly ForestDomain[],
  assertion: string,
): Promise<AdEntry[]> {
  const found: AdEntry[] = [];
  for (const domain of domains.filter((d) => d.heldByThisDc)) {
    found.push(
      ...(await conn.search(domain.dn, {
        scope: 'sub',
        filter: `(&${PRINCIPAL}${assertion})`,
        attributes: ATTRIBUTES,
        sizeLimit: 10,
      })),
    );
  }
  return found;
}

/** Resolves `name` to one account; throws DWB_AD_ACCOUNT_NOT_FOUND or DWB_AD_ACCOUNT_AMBIGUOUS. */
export async function resolveConnectorAccount(
  conn: AdConnection,
  forest: ForestFacts,
  name: string,
): Promise<ConnectorAccount> {
  const given = name.trim();
  if (!given) throw new DwbError('DWB_AD_ACCOUNT_NOT_FOUND', 'the connector account is empty.');
  const domains = forest.domains;
  let matches: AdEntry[];
  let how: string;
  if (looksLikeDn(given)) {
    how = 'DN';
    const entry = await conn.read(given, ATTRIBUTES);
    matches = entry && buf(entry, 'objectSid') ? [entry] : [];
  } else if (given.includes('\\')) {
    how = 'DOMAIN\\name';
    const [netbios, sam] = given.split('\\', 2) as [string, string];
    const domain = domains.find((d) => (d.netbiosName ?? '').toLowerCase() === netbios.toLowerCase());
    if (!domain) {
      throw new DwbError(
        'DWB_AD_ACCOUNT_NOT_FOUND',
        `no domain of the forest has the NetBIOS name ${netbios} (the forest has: ${domains
          .map((d) => d.netbiosName ?? d.dnsName)
          .join(', ')}).`,
      );
    }
    matches = await searchDomains(conn, [domain], filter`(sAMAccountName=${sam})`);
  } else if (given.includes('@')) {
    how = 'UPN';
    matches = await searchDomains(conn, domains, filter`(userPrincipalName=${given})`);
    if (matches.length === 0) {
      // The implicit UPN sAMAccountName@dns-domain works for a bind even without userPrincipalName.
      const at = given.lastIndexOf('@');
      const domain = domains.find((d) => d.dnsName === given.slice(at + 1).toLowerCase());
      if (domain)
        matches = await searchDomains(conn, [domain], filter`(sAMAccountName=${given.slice(0, at)})`);
    }
  } else {
    how = 'sAMAccountName';
    matches = await searchDomains(conn, domains, filter`(sAMAccountName=${given})`);
  }
  const unique = matches.filter((m, i) => matches.findIndex((o) => dnEquals(o.dn, m.dn)) === i);
  if (unique.length === 0) {
    throw new DwbError(
      'DWB_AD_ACCOUNT_NOT_FOUND',
      `no user, computer or group matches the connector account "${given}" (looked it up as a ${how} in ${domains
        .filter((d) => d.heldByThisDc)
        .map((d) => d.dnsName)
        .join(', ')}).`,
    );
  }
  if (unique.length > 1) {
    throw new DwbError(
      'DWB_AD_ACCOUNT_AMBIGUOUS',
      `the connector account "${given}" matches ${unique.length} accounts: ${unique.map((m) => m.dn).join('; ')}.`,
    );
  }
  return toAccount(given, unique[0]!, domains);
}
