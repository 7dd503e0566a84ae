import { describe, expect, it } from 'vitest';
import { bytesToGuid, guidToBytes, isGuid } from '../../src/ad/guid.js';
import { bytesToSid, readSid, sidToBytes } from '../../src/ad/sid.js';
import {
  childDn,
  dnEquals,
  dnToDomain,
  domainToDn,
  escapeDnValue,
  firstRdnValue,
  isDirectChild,
  parentDn,
  parseDn,
} from '../../src/ad/dn.js';
import { escapeFilterValue, filter } from '../../src/ad/filter.js';

describe('GUID codec', () => {
  it('puts the first three groups little-endian', () => {
    expect(guidToBytes('00112233-4455-6677-8899-aabbccddeeff').toString('hex')).toBe(
      '33221100554477668899aabbccddeeff',
    );
  });
  it('round-trips and lower-cases', () => {
    const text = '6F9619FF-8B86-D011-B42D-00C04FC964FF';
    expect(bytesToGuid(guidToBytes(text))).toBe(text.toLowerCase());
    expect(isGuid('{6F9619FF-8B86-D011-B42D-00C04FC964FF}')).toBe(true);
  });
  it('refuses what is not a GUID', () => {
    expect(() => guidToBytes('not-a-guid')).toThrow(/not a GUID/);
    expect(() => guidToBytes('6F9619FF8B86D011B42D00C04FC964FF')).toThrow();
    expect(() => bytesToGuid(Buffer.alloc(15))).toThrow(/16 bytes/);
  });
});

describe('SID codec', () => {
  it('encodes the well-known layout', () => {
    // S-1-5-32-544 (BUILTIN\Administrators), as documented in MS-DTYP 2.4.2.2
    expect(sidToBytes('S-1-5-32-544').toString('hex')).toBe('01020000000000052000000020020000');
  });
  it('round-trips domain SIDs', () => {
    for (const sid of [
      'S-1-5-21-1861414007-246399542-3503338937-500',
      'S-1-1-0',
      'S-1-5-18',
      'S-1-5-21-4294967295-1-2-3',
    ]) {
      expect(bytesToSid(sidToBytes(sid))).toBe(sid);
    }
  });
  it('reads a SID embedded in a larger buffer', () => {
    const inner = sidToBytes('S-1-5-11');
    const { sid, length } = readSid(Buffer.concat([Buffer.from([9, 9]), inner, Buffer.from([7])]), 2);
    expect(sid).toBe('S-1-5-11');
    expect(length).toBe(inner.length);
  });
  it('refuses malformed input', () => {
    expect(() => sidToBytes('S-1-5-21-x')).toThrow(/not a SID/);
    expect(() => sidToBytes('S-1-5-21-4294967296')).toThrow(/range/);
    expect(() => bytesToSid(Buffer.from([1, 2, 0, 0]))).toThrow(/truncated/);
    expect(() => bytesToSid(Buffer.concat([sidToBytes('S-1-5-18'), Buffer.from([0])]))).toThrow(/trailing/);
  });
});

describe('DN codec (RFC 4514)', () => {
  it('escapes the special characters, leading # and space, trailing space and NUL', () => {
    expect(escapeDnValue('a,b+c"d\\e<f>g;h=i')).toBe('a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i');
    expect(escapeDnValue('#lead')).toBe('\\#lead');
    expect(escapeDnValue(' both ')).toBe('\\ both\\ ');
    expect(escapeDnValue('nul\u0000x')).toBe('nul\\00x');
    expect(escapeDnValue('mid # ok')).toBe('mid # ok');
  });
  it('parses what it escapes back to the same value', () => {
    const hostile = ' #,+"\\<>;=\u0000\nemoji😀 ';
    const dn = childDn('CN', hostile, 'CN=RegisteredDevices,DC=corp,DC=example,DC=test');
    expect(parseDn(dn)[0]![0]!.value).toBe(hostile);
    expect(firstRdnValue(dn)).toBe(hostile);
    expect(isDirectChild(dn, 'cn=registereddevices,dc=CORP,dc=example,dc=test')).toBe(true);
    expect(isDirectChild(`CN=x,${dn}`, 'CN=RegisteredDevices,DC=corp,DC=example,DC=test')).toBe(false);
  });
  it('reads hex escapes and compares case-insensitively', () => {
    expect(parseDn('CN=Caf\\C3\\A9,DC=x')[0]![0]!.value).toBe('Café');
    expect(dnEquals('CN=A\\,B, DC=Corp', 'cn=a\\2cb,dc=corp')).toBe(true);
    expect(parentDn('CN=a,CN=b,DC=c')).toBe('CN=b,DC=c');
  });
  it('converts between DNS names and domain DNs', () => {
    expect(domainToDn('corp.example.test')).toBe('DC=corp,DC=example,DC=test');
    expect(dnToDomain('CN=Users,DC=corp,DC=example,DC=test')).toBe('corp.example.test');
  });
  it('refuses broken DNs', () => {
    expect(() => parseDn('CN')).toThrow(/no "="/);
    expect(() => parseDn('CN=a\\')).toThrow(/trailing backslash/);
  });
});

describe('filter escaping (RFC 4515)', () => {
  it('escapes * ( ) \\ and NUL, and leaves UTF-8 text as it is', () => {
    expect(escapeFilterValue('a*(b)\\c\u0000é')).toBe('a\\2a\\28b\\29\\5cc\\00é');
  });
  it('escapes every interpolated value of the template', () => {
    expect(filter`(&(cn=${'*'})(sn=${'x)(uid=*'}))`).toBe('(&(cn=\\2a)(sn=x\\29\\28uid=\\2a))');
  });
});
