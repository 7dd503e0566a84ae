// The domains of a forest, as routing needs them: each domain's DNS name, NetBIOS name and SID,
// read from the forest itself (the crossRef objects of CN=Partitions in the configuration NC). The
// SID comes with nCName when the DC honours the extended-DN control (Active Directory and Samba
// do), so a child domain whose head is on another DC is routable too; otherwise it is read from
// the domain head's objectSid, and a domain whose head this DC does not hold is named without a
// SID (its users cannot be routed: say so).
import { type AdConnection, buf, ExtendedDnControl, parseExtendedDn, str } from './connection.js';
import type { RootDse } from './discovery.js';
import { bytesToSid } from './sid.js';

export interface ForestDomain {
  dnsName: string;
  netbiosName: string | null;
  /** S-1-5-21-a-b-c, or null when this DC cannot read the domain's head. */
  sid: string | null;
  dn: string;
}

/** systemFlags bit FLAG_CR_NTDS_DOMAIN: the crossRef of a domain naming context. */
const DOMAIN_CROSS_REF = '(&(objectClass=crossRef)(systemFlags:1.2.840.113556.1.4.803:=2))';

/** A domain SID as a crossRef's extended DN gives it. */
const DOMAIN_SID = /^S-1-5-21-\d+-\d+-\d+$/;

export async function readForestDomains(conn: AdConnection, rootDse: RootDse): Promise<ForestDomain[]> {
  const crossRefs = await conn.search(`CN=Partitions,${rootDse.configurationNamingContext}`, {
    scope: 'one',
    filter: DOMAIN_CROSS_REF,
    attributes: ['nCName', 'dnsRoot', 'nETBIOSName'],
    controls: [new ExtendedDnControl()],
  });
  const domains: ForestDomain[] = [];
  for (const ref of crossRefs) {
    const value = str(ref, 'nCName');
    if (!value) continue;
    const extended = parseExtendedDn(value);
    const dn = extended.dn;
    let sid: string | null = extended.sid && DOMAIN_SID.test(extended.sid) ? extended.sid : null;
    if (!sid) {
      try {
        const head = await conn.read(dn, ['objectSid']);
        const bytes = head ? buf(head, 'objectSid') : undefined;
        sid = bytes ? bytesToSid(bytes) : null;
      } catch {
        sid = null; // a referral to another domain's DC: named, not routable from here
      }
    }
    domains.push({
      dn,
      dnsName: (str(ref, 'dnsRoot') ?? '').toLowerCase(),
      netbiosName: str(ref, 'nETBIOSName') ?? null,
      sid,
    });
  }
  return domains;
}
