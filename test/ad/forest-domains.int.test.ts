// The domains of a forest as routing learns them, against a real Samba DC: each domain's SID comes
// with its crossRef's nCName under the extended-DN control, so that a child domain whose head is on
// another DC would be routable too (the objectSid of the head is only the fallback).
import { describe, expect, it } from 'vitest';
import { ExtendedDnControl, parseExtendedDn, str } from '../../src/ad/connection.js';
import { readRootDse } from '../../src/ad/discovery.js';
import { readForestDomains } from '../../src/ad/forest-domains.js';
import { useDc } from '../support/samba.js';

const lab = useDc();

describe('the domains of a forest', () => {
  it('the DC gives each domain crossRef its SID in the extended DN of nCName', async () => {
    const rootDse = await readRootDse(lab.admin);
    const refs = await lab.admin.search(`CN=Partitions,${rootDse.configurationNamingContext}`, {
      scope: 'one',
      filter: '(&(objectClass=crossRef)(systemFlags:1.2.840.113556.1.4.803:=2))',
      attributes: ['nCName'],
      controls: [new ExtendedDnControl()],
    });
    const parsed = refs.map((r) => parseExtendedDn(str(r, 'nCName')!));
    expect(parsed).toEqual([
      { dn: lab.dc.forest.domainDn, guid: expect.stringMatching(/^[0-9a-f-]{36}$/), sid: lab.dc.domainSid },
    ]);
  });

  it('reads the forest root domain with its DNS name, NetBIOS name and SID', async () => {
    const domains = await readForestDomains(lab.admin, await readRootDse(lab.admin));
    expect(domains).toEqual([
      {
        dn: lab.dc.forest.domainDn,
        dnsName: lab.dc.forest.domain,
        netbiosName: lab.dc.forest.netbios,
        sid: lab.dc.domainSid,
      },
    ]);
  });
});
