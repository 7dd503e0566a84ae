// Golden values for the codecs come from the running Samba DC, not from memory.
import { describe, expect, it } from 'vitest';
import { buf, str } from '../../src/ad/connection.js';
import { childDn, parseDn } from '../../src/ad/dn.js';
import { binaryEquals, filter } from '../../src/ad/filter.js';
import { bytesToGuid, guidToBytes } from '../../src/ad/guid.js';
import { bytesToSid, sidToBytes } from '../../src/ad/sid.js';
import { ldapsearch, sambaTool, useDc } from '../support/samba.js';

const lab = useDc();

function ldifValue(ldif: string, name: string): string {
  const m = new RegExp(`^${name}:(:?) (.*)$`, 'm').exec(ldif);
  if (!m) throw new Error(`${name} not in LDIF`);
  return m[2]!;
}

describe('codecs against Samba', () => {
  it('GUID and SID bytes match what samba-tool prints', async () => {
    const shown = await sambaTool(lab.dc, [
      'user',
      'show',
      'Administrator',
      '--attributes=objectGUID,objectSid',
    ]);
    const guidText = /objectGUID: ([0-9a-f-]{36})/.exec(shown)![1]!;
    const sidText = /objectSid: (S-1-[0-9-]+)/.exec(shown)![1]!;
    const ldif = await ldapsearch(lab.dc, lab.dc.adminDn, ['-s', 'base', 'objectGUID', 'objectSid']);
    const guidBytes = Buffer.from(ldifValue(ldif, 'objectGUID'), 'base64');
    const sidBytes = Buffer.from(ldifValue(ldif, 'objectSid'), 'base64');
    expect(bytesToGuid(guidBytes)).toBe(guidText);
    expect(bytesToSid(sidBytes)).toBe(sidText);
    expect(sidToBytes(sidText).equals(sidBytes)).toBe(true);
    expect(sidText.startsWith(lab.dc.domainSid)).toBe(true);
  });

  it('finds an object by its binary GUID in a filter', async () => {
    const entry = await lab.admin.read(lab.dc.adminDn, ['objectGUID']);
    const guid = bytesToGuid(buf(entry!, 'objectGUID')!);
    const found = await lab.admin.search(lab.dc.forest.domainDn, {
      filter: binaryEquals('objectGUID', guidToBytes(guid)),
      attributes: ['cn'],
    });
    expect(found.map((e) => e.dn)).toEqual([lab.dc.adminDn]);
  });

  it('a CN full of DN and filter metacharacters is written, read back and found exactly', async () => {
    const hostile = '#dév,+"\\<>;=*()x ';
    const dn = childDn('CN', hostile, `CN=Users,${lab.dc.forest.domainDn}`);
    await lab.admin.add(dn, { objectClass: ['top', 'container'] });
    await lab.admin.add(childDn('CN', 'decoy', `CN=Users,${lab.dc.forest.domainDn}`), {
      objectClass: ['top', 'container'],
    });
    const found = await lab.admin.search(`CN=Users,${lab.dc.forest.domainDn}`, {
      scope: 'one',
      filter: filter`(cn=${hostile})`,
      attributes: ['cn'],
    });
    expect(found).toHaveLength(1);
    expect(str(found[0]!, 'cn')).toBe(hostile);
    expect(parseDn(found[0]!.dn)[0]![0]!.value).toBe(hostile);
    // A wildcard in user data is a literal, not a pattern.
    const star = await lab.admin.search(`CN=Users,${lab.dc.forest.domainDn}`, {
      scope: 'one',
      filter: filter`(cn=${'*'})`,
    });
    expect(star).toHaveLength(0);
  });
});
