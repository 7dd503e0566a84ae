// The name init-ad binds as for the administrator (--admin, DWB_ADMIN_USER), in the same forms as the
// connector account: a DN, a UPN and DOMAIN\name go to the DC as they are (AD accepts all three in a
// simple bind, MS-ADTS 5.1.1.1.1); a bare sAMAccountName does not bind, and nothing can be looked up
// before a bind, so it becomes the implicit UPN name@<DNS name of the domain> — the domain of
// --domain / ad.domain, or else the forest root domain, read from the RootDSE that AD shows to anyone.
import { AdConnection, describeConnectError, type AdEndpoint } from '../ad/connection.js';
import { readRootDse } from '../ad/discovery.js';
import { dnToDomain } from '../ad/dn.js';
import { DwbError } from '../errors.js';
import { looksLikeDn } from './connector-account.js';

export interface AdminBindName {
  /** As the user gave it. */
  given: string;
  /** What is sent in the bind request. */
  bindName: string;
  /** How a bare sAMAccountName was completed, for messages; absent when the name was used as given. */
  lookedUpIn?: string;
}

/** The bind name for `given`; `domain` is the DNS name of --domain / ad.domain when set. */
export async function adminBindName(
  endpoint: AdEndpoint,
  given: string,
  domain: string | undefined,
): Promise<AdminBindName> {
  const name = given.trim();
  if (!name) throw new DwbError('DWB_USAGE', 'the administrator name (--admin or DWB_ADMIN_USER) is empty.');
  if (looksLikeDn(name) || name.includes('\\') || name.includes('@')) return { given: name, bindName: name };
  if (domain) {
    return { given: name, bindName: `${name}@${domain}`, lookedUpIn: `${domain} (--domain or ad.domain)` };
  }
  const root = await forestRootDomain(endpoint);
  return { given: name, bindName: `${name}@${root}`, lookedUpIn: `${root} (the forest root domain)` };
}

async function forestRootDomain(endpoint: AdEndpoint): Promise<string> {
  const conn = await AdConnection.openAnonymous(endpoint);
  try {
    const root = await readRootDse(conn);
    if (!root.rootDomainNamingContext) throw new Error('the RootDSE names no rootDomainNamingContext');
    return dnToDomain(root.rootDomainNamingContext);
  } catch (err) {
    throw describeConnectError(err, conn.where);
  } finally {
    await conn.close();
  }
}
