// Two independent lab forests for the multi-forest tests (SPEC §8): corp and fabrikam run at the
// same time, each with its own realm, NetBIOS name, CA and domain SID, and a DC of one can go down
// and come back while the other serves.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { AdConnection, str } from '../../src/ad/connection.js';
import { readRootDse } from '../../src/ad/discovery.js';
import { bytesToSid } from '../../src/ad/sid.js';
import { adminSession, createUser } from '../../src/lab/directory.js';
import { alive, type SambaDc } from '../../src/lab/samba.js';
import { addUser, startForestDc, useForestDc } from '../support/samba.js';

/** The LDAPS handshake with only `caFile` trusted: the error text, or 'trusted'. */
function handshake(dc: SambaDc, caFile: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: dc.address, port: 636, ca: readFileSync(caFile) });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('trusted');
    });
    socket.once('error', (err) => {
      socket.destroy();
      resolve(err.message);
    });
  });
}

async function domainSidOf(session: AdConnection, domainDn: string): Promise<string> {
  const entry = await session.read(domainDn, ['objectSid']);
  const sid = entry?.objectSid;
  if (!Buffer.isBuffer(sid)) throw new Error(`no objectSid on ${domainDn}`);
  return bytesToSid(sid);
}

async function netbiosNameOf(session: AdConnection, configDn: string): Promise<string | undefined> {
  const [partition] = await session.search(`CN=Partitions,${configDn}`, {
    scope: 'one',
    filter: '(&(objectClass=crossRef)(nETBIOSName=*))',
    attributes: ['nETBIOSName'],
  });
  return partition ? str(partition, 'nETBIOSName') : undefined;
}

async function canBind(dc: SambaDc, user: { userPrincipalName: string; password: string }): Promise<boolean> {
  try {
    const session = await AdConnection.open(
      { url: dc.url, startTls: false, caFile: dc.caFile, insecureSkipVerify: false, timeoutSeconds: 10 },
      { user: user.userPrincipalName, password: user.password },
    );
    await session.close();
    return true;
  } catch {
    return false;
  }
}

describe('two lab forests', () => {
  const corp = useForestDc('corp');
  const fabrikam = useForestDc('fabrikam');

  it('run at once, each with its own realm, NetBIOS name, CA and domain SID', async () => {
    const [a, b] = [corp.dc, fabrikam.dc];
    expect(a.address).not.toBe(b.address);
    expect(alive(a.pid) && alive(b.pid)).toBe(true);

    expect(a.forest.realm).toBe('CORP.EXAMPLE.TEST');
    expect(b.forest.realm).toBe('FABRIKAM.EXAMPLE.TEST');
    for (const lab of [corp, fabrikam]) {
      const rootDse = await readRootDse(lab.admin);
      expect(rootDse.defaultNamingContext).toBe(lab.dc.forest.domainDn);
      expect(rootDse.rootDomainNamingContext).toBe(lab.dc.forest.domainDn);
      expect(rootDse.dnsHostName).toBe(`dc1.${lab.dc.forest.domain}`);
      expect(await netbiosNameOf(lab.admin, lab.dc.forest.configDn)).toBe(lab.dc.forest.netbios);
      // the SID the harness reports is the one the directory holds
      expect(await domainSidOf(lab.admin, lab.dc.forest.domainDn)).toBe(lab.dc.domainSid);
    }
    expect(b.forest.netbios).toBe('FABRIKAM');
    expect(a.domainSid).not.toBe(b.domainSid);

    // each forest's CA vouches for its own DCs only
    expect(readFileSync(a.caFile, 'utf8')).not.toBe(readFileSync(b.caFile, 'utf8'));
    expect(await handshake(a, a.caFile)).toBe('trusted');
    expect(await handshake(b, b.caFile)).toBe('trusted');
    expect(await handshake(b, a.caFile)).not.toBe('trusted');
    expect(await handshake(a, b.caFile)).not.toBe('trusted');

    // users of each forest carry its domain SID and exist in that forest only
    const alice = await addUser(corp, 'alice.multi', 'Corp-Alice-Pa55word!');
    const bob = await addUser(fabrikam, 'bob.multi', 'Fabrikam-Bob-Pa55word!');
    expect(alice.sid.startsWith(`${a.domainSid}-`)).toBe(true);
    expect(bob.sid.startsWith(`${b.domainSid}-`)).toBe(true);
    expect(bob.userPrincipalName).toBe('bob.multi@fabrikam.example.test');
    expect(await canBind(b, bob)).toBe(true);
    expect(await canBind(a, { ...bob, userPrincipalName: 'bob.multi@corp.example.test' })).toBe(false);
    expect(await canBind(a, alice)).toBe(true);
  });

  it('stops and starts a DC of the second forest again while the first one serves', async () => {
    const a = corp.dc;
    const b = fabrikam.dc;
    const carol = await addUser(fabrikam, 'carol.multi', 'Fabrikam-Carol-Pa55word!');
    await fabrikam.admin.close();

    const before = b.pid;
    await b.kill();
    expect(alive(before)).toBe(false);
    expect(await handshake(b, b.caFile)).toMatch(/ECONNREFUSED/);
    // corp goes on serving meanwhile
    expect(await domainSidOf(corp.admin, a.forest.domainDn)).toBe(a.domainSid);
    const dave = await addUser(corp, 'dave.multi', 'Corp-Dave-Pa55word!');
    expect(await canBind(a, dave)).toBe(true);

    await b.restart();
    expect(b.pid).not.toBe(before);
    expect(await canBind(b, carol)).toBe(true);
    fabrikam.admin = await adminSession(b);
    expect(await domainSidOf(fabrikam.admin, b.forest.domainDn)).toBe(b.domainSid);

    // a new DC of the same forest, from its template, while corp still runs: same SID and CA
    const b2 = await startForestDc('fabrikam');
    try {
      expect(b2.address).not.toBe(b.address);
      expect(b2.domainSid).toBe(b.domainSid);
      expect(await handshake(b2, b.caFile)).toBe('trusted');
      const session = await adminSession(b2);
      const erin = await createUser(session, b2, 'erin.multi', 'Fabrikam-Erin-Pa55word!');
      expect(erin.sid.startsWith(`${b.domainSid}-`)).toBe(true);
      await session.close();
    } finally {
      await b2.stop();
    }
    expect(alive(a.pid)).toBe(true);
    expect(await canBind(a, dave)).toBe(true);
  });
});
