// Extended DNs (`<GUID=…>;<SID=…>;dn`, the string form of the extended-DN control, MS-ADTS
// 3.1.1.3.4.1.5) split into their parts; a plain DN passes through.
import { describe, expect, it } from 'vitest';
import { parseExtendedDn } from '../../src/ad/connection.js';

describe('parseExtendedDn', () => {
  it('splits the GUID, the SID and the DN of a child domain', () => {
    expect(
      parseExtendedDn(
        '<GUID=88a8fff4-c567-42b1-912d-2fe3bf650676>;<SID=S-1-5-21-1-2-3>;DC=emea,DC=corp,DC=test',
      ),
    ).toEqual({
      guid: '88a8fff4-c567-42b1-912d-2fe3bf650676',
      sid: 'S-1-5-21-1-2-3',
      dn: 'DC=emea,DC=corp,DC=test',
    });
  });

  it('takes an object without a SID (a configuration partition) and a plain DN', () => {
    expect(
      parseExtendedDn('<GUID=0d9adcd8-0e7e-4b2c-bc8a-620fc7995315>;CN=Configuration,DC=corp,DC=test'),
    ).toEqual({
      guid: '0d9adcd8-0e7e-4b2c-bc8a-620fc7995315',
      sid: null,
      dn: 'CN=Configuration,DC=corp,DC=test',
    });
    expect(parseExtendedDn('DC=corp,DC=test')).toEqual({ guid: null, sid: null, dn: 'DC=corp,DC=test' });
  });

  it('leaves a DN whose first RDN value starts with < alone when it is not an extended part', () => {
    expect(parseExtendedDn('CN=\\<x\\>,DC=corp,DC=test').dn).toBe('CN=\\<x\\>,DC=corp,DC=test');
  });
});
