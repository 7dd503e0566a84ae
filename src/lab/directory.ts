// Lab directory helpers, used by the demo, the tests and the benchmarks: an administrator session
// on a lab DC, and users with passwords (unicodePwd over LDAPS).
import { AdConnection } from '../ad/connection.js';
import { childDn } from '../ad/dn.js';
import { bytesToSid } from '../ad/sid.js';
import type { SambaDc } from './samba.js';

export async function adminSession(dc: SambaDc): Promise<AdConnection> {
  return AdConnection.open(
    { url: dc.url, startTls: false, caFile: dc.caFile, insecureSkipVerify: false, timeoutSeconds: 20 },
    { user: dc.adminUpn, password: dc.adminPassword },
  );
}

export interface LabUser {
  dn: string;
  sAMAccountName: string;
  userPrincipalName: string;
  sid: string;
  password: string;
}

/** Creates an enabled user with a password; returns its DN and SID. */
export async function createUser(
  session: AdConnection,
  dc: SambaDc,
  name: string,
  password: string,
  options: { parentDn?: string; displayName?: string } = {},
): Promise<LabUser> {
  const parent = options.parentDn ?? `CN=Users,${dc.forest.domainDn}`;
  const dn = childDn('CN', name, parent);
  const upn = `${name}@${dc.forest.domain}`;
  await session.add(dn, {
    objectClass: ['top', 'person', 'organizationalPerson', 'user'],
    sAMAccountName: name,
    userPrincipalName: upn,
    displayName: options.displayName ?? name,
    unicodePwd: Buffer.from(`"${password}"`, 'utf16le'),
    userAccountControl: '512',
  });
  const entry = await session.read(dn, ['objectSid']);
  const sidBytes = entry?.objectSid;
  if (!Buffer.isBuffer(sidBytes)) throw new Error(`created ${dn} but could not read its objectSid`);
  return { dn, sAMAccountName: name, userPrincipalName: upn, sid: bytesToSid(sidBytes), password };
}
