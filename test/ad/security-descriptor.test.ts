import { describe, expect, it } from 'vitest';
import {
  AccessMask,
  AceFlag,
  AceType,
  SdControl,
  aceEquals,
  accessMaskToSddl,
  decodeSecurityDescriptor,
  encodeSecurityDescriptor,
  fromSddl,
  mergeAces,
  mergeDacl,
  missingAces,
  sidFromSddl,
  sidToSddl,
  toSddl,
  type AccessAce,
  type Ace,
  type SecurityDescriptor,
} from '../../src/ad/security-descriptor.js';

// Golden values read from a Samba 4.17 AD DC (CN=Users of a freshly provisioned forest), with the
// SDDL that `samba-tool dsacl get` printed for the same object.
const GOLDEN_DOMAIN_SID = 'S-1-5-21-3986992505-1560993991-3121579153';
const GOLDEN_USERS_SD =
  'AQAXjBQAAAAwAAAATAAAAMQAAAABBQAAAAAABRUAAAB5raTtx+AKXZGED7oAAgAAAQUAAAAAAAUVAAAAea2k7cfgCl2RhA+6AAIAAAQAeAACAAAAB1o4ACAAAAADAAAAvjsO8/Cf0RG2AwAA+ANnwaV6lr/mDdARooUAqgAwSeIBAQAAAAAAAQAAAAAHWjgAIAAAAAMAAAC/Ow7z8J/REbYDAAD4A2fBpXqWv+YN0BGihQCqADBJ4gEBAAAAAAABAAAAAAQABAUbAAAAAAAUAP8BDwABAQAAAAAABRIAAAAAACQAvwEOAAEFAAAAAAAFFQAAAHmtpO3H4ApdkYQPugACAAAFACwAAwAAAAEAAAC6epa/5g3QEaKFAKoAMEniAQIAAAAAAAUgAAAAJAIAAAUALAADAAAAAQAAAJx6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAkAgAABQAsAAMAAAABAAAAqHqWv+YN0BGihQCqADBJ4gECAAAAAAAFIAAAACYCAAAAABQAlAACAAEBAAAAAAAFCwAAAAUALAADAAAAAQAAABTMKEg3FLxFmwetbwFeXygBAgAAAAAABSAAAAAkAgAABRo8ABAAAAADAAAAAEIWTMAg0BGnaACqAG4FKRTMKEg3FLxFmwetbwFeXygBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAAEIWTMAg0BGnaACqAG4FKbp6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAECAgX6V50BGQIADAT8LUzxTMKEg3FLxFmwetbwFeXygBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAECAgX6V50BGQIADAT8LUz7p6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAQMIKvKl50BGQIADAT8LUzxTMKEg3FLxFmwetbwFeXygBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAQMIKvKl50BGQIADAT8LUz7p6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAQi+6WaJ50BGQIADAT8LTzxTMKEg3FLxFmwetbwFeXygBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAAQi+6WaJ50BGQIADAT8LTz7p6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAA+IhwA+EK0hG0IgCgyWj5ORTMKEg3FLxFmwetbwFeXygBAgAAAAAABSAAAAAqAgAABRo8ABAAAAADAAAA+IhwA+EK0hG0IgCgyWj5Obp6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAqAgAABRo4ABAAAAADAAAAbZ7Gt8cs0hGFTgCgyYP2CIZ6lr/mDdARooUAqgAwSeIBAQAAAAAABQkAAAAFGjgAEAAAAAMAAABtnsa3xyzSEYVOAKDJg/YInHqWv+YN0BGihQCqADBJ4gEBAAAAAAAFCQAAAAUaOAAQAAAAAwAAAG2exrfHLNIRhU4AoMmD9gi6epa/5g3QEaKFAKoAMEniAQEAAAAAAAUJAAAABRosAJQAAgACAAAAFMwoSDcUvEWbB61vAV5fKAECAAAAAAAFIAAAACoCAAAFGiwAlAACAAIAAACcepa/5g3QEaKFAKoAMEniAQIAAAAAAAUgAAAAKgIAAAUaLACUAAIAAgAAALp6lr/mDdARooUAqgAwSeIBAgAAAAAABSAAAAAqAgAABRIoADABAAABAAAA3kfmkW/ZcEuVV9Y/9PPM2AEBAAAAAAAFCgAAAAASJAD/AQ8AAQUAAAAAAAUVAAAAea2k7cfgCl2RhA+6BwIAAAASGAAEAAAAAQIAAAAAAAUgAAAAKgIAAAASGAC9AQ8AAQIAAAAAAAUgAAAAIAIAAA==';
const GOLDEN_USERS_SDDL =
  'O:DAG:DAD:AI(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)(A;;RPWPCRCCDCLCLORCWOWDSW;;;DA)(OA;;CCDC;bf967aba-0de6-11d0-a285-00aa003049e2;;AO)(OA;;CCDC;bf967a9c-0de6-11d0-a285-00aa003049e2;;AO)(OA;;CCDC;bf967aa8-0de6-11d0-a285-00aa003049e2;;PO)(A;;RPLCLORC;;;AU)(OA;;CCDC;4828cc14-1437-45bc-9b07-ad6f015e5f28;;AO)(OA;CIIOID;RP;4c164200-20c0-11d0-a768-00aa006e0529;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(OA;CIIOID;RP;4c164200-20c0-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;RU)(OA;CIIOID;RP;5f202010-79a5-11d0-9020-00c04fc2d4cf;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(OA;CIIOID;RP;5f202010-79a5-11d0-9020-00c04fc2d4cf;bf967aba-0de6-11d0-a285-00aa003049e2;RU)(OA;CIIOID;RP;bc0ac240-79a9-11d0-9020-00c04fc2d4cf;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(OA;CIIOID;RP;bc0ac240-79a9-11d0-9020-00c04fc2d4cf;bf967aba-0de6-11d0-a285-00aa003049e2;RU)(OA;CIIOID;RP;59ba2f42-79a2-11d0-9020-00c04fc2d3cf;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(OA;CIIOID;RP;59ba2f42-79a2-11d0-9020-00c04fc2d3cf;bf967aba-0de6-11d0-a285-00aa003049e2;RU)(OA;CIIOID;RP;037088f8-0ae1-11d2-b422-00a0c968f939;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(OA;CIIOID;RP;037088f8-0ae1-11d2-b422-00a0c968f939;bf967aba-0de6-11d0-a285-00aa003049e2;RU)(OA;CIIOID;RP;b7c69e6d-2cc7-11d2-854e-00a0c983f608;bf967a86-0de6-11d0-a285-00aa003049e2;ED)(OA;CIIOID;RP;b7c69e6d-2cc7-11d2-854e-00a0c983f608;bf967a9c-0de6-11d0-a285-00aa003049e2;ED)(OA;CIIOID;RP;b7c69e6d-2cc7-11d2-854e-00a0c983f608;bf967aba-0de6-11d0-a285-00aa003049e2;ED)(OA;CIIOID;RPLCLORC;;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)(OA;CIIOID;RPLCLORC;;bf967a9c-0de6-11d0-a285-00aa003049e2;RU)(OA;CIIOID;RPLCLORC;;bf967aba-0de6-11d0-a285-00aa003049e2;RU)(OA;CIID;RPWPCR;91e647de-d96f-4b70-9557-d63ff4f3ccd8;;PS)(A;CIID;RPWPCRCCDCLCLORCWOWDSDDTSW;;;EA)(A;CIID;LC;;;RU)(A;CIID;RPWPCRCCLCLORCWOWDSDSW;;;BA)S:AI(OU;CIIOIDSA;WP;f30e3bbe-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)(OU;CIIOIDSA;WP;f30e3bbf-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)';

// Samba's ndr_pack(security.descriptor.from_sddl(sddl, S-1-5-21-1-2-3)), and its as_sddl() output.
const DOM = 'S-1-5-21-1-2-3';
const SAMBA_PACKED: [sddl: string, hex: string, samba: string][] = [
  [
    'O:BAG:SYD:(A;;GA;;;SY)',
    '01000480140000002400000000000000300000000102000000000005200000002002000001010000000000051200000004001c00010000000000140000000010010100000000000512000000',
    'O:BAG:SYD:(A;;GA;;;SY)',
  ],
  [
    'D:PAI(OA;CIIO;RPWP;bf967a86-0de6-11d0-a285-00aa003049e2;bf967aba-0de6-11d0-a285-00aa003049e2;AU)',
    '01000494000000000000000000000000140000000400400001000000050a38003000000003000000867a96bfe60dd011a28500aa003049e2ba7a96bfe60dd011a28500aa003049e201010000000000050b000000',
    'D:PAI(OA;CIIO;RPWP;bf967a86-0de6-11d0-a285-00aa003049e2;bf967aba-0de6-11d0-a285-00aa003049e2;AU)',
  ],
  [
    'D:(A;;0x1f01ff;;;SY)',
    '010004800000000000000000000000001400000004001c000100000000001400ff011f00010100000000000512000000',
    'D:(A;;0x001f01ff;;;SY)',
  ],
  [
    'S:(OU;CIIOIDSA;WP;f30e3bbe-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)',
    '01001080000000000000000014000000000000000400400001000000075a38002000000003000000be3b0ef3f09fd111b6030000f80367c1a57a96bfe60dd011a28500aa003049e2010100000000000100000000',
    'S:(OU;CIIOIDSA;WP;f30e3bbe-9ff0-11d1-b603-0000f80367c1;bf967aa5-0de6-11d0-a285-00aa003049e2;WD)',
  ],
  [
    'D:ARAIP(A;;GA;;;SY)',
    '010004950000000000000000000000001400000004001c00010000000000140000000010010100000000000512000000',
    'D:PARAI(A;;GA;;;SY)',
  ],
  [
    'O:S-1-5-21-1-2-3-512G:S-1-5-21-1-2-3-513',
    '01000080140000003000000000000000000000000105000000000005150000000100000002000000030000000002000001050000000000051500000001000000020000000300000001020000',
    'O:DAG:DU',
  ],
  [
    'O:BAD:(A;;GA;;;SY)S:(AU;SA;GA;;;WD)',
    '01001480140000000000000024000000400000000102000000000005200000002002000004001c0001000000024014000000001001010000000000010000000004001c00010000000000140000000010010100000000000512000000',
    'O:BAD:(A;;GA;;;SY)S:(AU;SA;GA;;;WD)',
  ],
  [
    'D:(D;;CC;;;WD)(OD;;CC;bf967a86-0de6-11d0-a285-00aa003049e2;;WD)',
    '010004800000000000000000000000001400000004004400020000000100140001000000010100000000000100000000060028000100000001000000867a96bfe60dd011a28500aa003049e2010100000000000100000000',
    'D:(D;;CC;;;WD)(OD;;CC;bf967a86-0de6-11d0-a285-00aa003049e2;;WD)',
  ],
  [
    'D:(OA;;CR;{BF967A86-0DE6-11D0-A285-00AA003049E2};;WD)',
    '01000480000000000000000000000000140000000400300001000000050028000001000001000000867a96bfe60dd011a28500aa003049e2010100000000000100000000',
    'D:(OA;;CR;bf967a86-0de6-11d0-a285-00aa003049e2;;WD)',
  ],
  ['D:', '01000480000000000000000000000000140000000400080000000000', 'D:'],
  [
    'D:(A;OICINPIOIDSAFA;GA;;;SY)',
    '010004800000000000000000000000001400000004001c000100000000df140000000010010100000000000512000000',
    'D:(A;OICINPIOIDSAFA;GA;;;SY)',
  ],
];

describe('security descriptor binary codec', () => {
  it('decodes a descriptor read from Samba and re-encodes it byte for byte', () => {
    const bytes = Buffer.from(GOLDEN_USERS_SD, 'base64');
    const sd = decodeSecurityDescriptor(bytes);
    expect(sd.owner).toBe(`${GOLDEN_DOMAIN_SID}-512`);
    expect(sd.group).toBe(`${GOLDEN_DOMAIN_SID}-512`);
    expect(sd.control & SdControl.DACL_PRESENT).toBeTruthy();
    expect(sd.dacl?.aces).toHaveLength(27);
    expect(sd.sacl?.aces).toHaveLength(2);
    expect(encodeSecurityDescriptor(sd).equals(bytes)).toBe(true);
  });

  it('prints the same SDDL as samba-tool dsacl get for that descriptor', () => {
    const sd = decodeSecurityDescriptor(Buffer.from(GOLDEN_USERS_SD, 'base64'));
    expect(toSddl(sd, GOLDEN_DOMAIN_SID)).toBe(GOLDEN_USERS_SDDL);
    // And back: Samba's SDDL parses into the same bytes (the layout is Samba's), except the
    // OWNER_DEFAULTED and GROUP_DEFAULTED control bits, which SDDL cannot express.
    const reparsed = encodeSecurityDescriptor(fromSddl(GOLDEN_USERS_SDDL, GOLDEN_DOMAIN_SID));
    const original = Buffer.from(GOLDEN_USERS_SD, 'base64');
    expect(reparsed.readUInt16LE(2)).toBe(
      original.readUInt16LE(2) & ~(SdControl.OWNER_DEFAULTED | SdControl.GROUP_DEFAULTED),
    );
    expect(reparsed.subarray(4).equals(original.subarray(4))).toBe(true);
  });

  it.each(SAMBA_PACKED)('encode(fromSddl(%s)) equals Samba ndr_pack', (sddl, hex, samba) => {
    const sd = fromSddl(sddl, DOM);
    expect(encodeSecurityDescriptor(sd).toString('hex')).toBe(hex);
    expect(toSddl(sd, DOM)).toBe(samba);
    expect(toSddl(decodeSecurityDescriptor(Buffer.from(hex, 'hex')), DOM)).toBe(samba);
  });

  it('keeps a non-Samba part order, ACL padding, application data and unknown ACE types', () => {
    // Windows order (SACL, DACL, owner, group), an ACL with 4 padding bytes, a callback ACE with
    // application data and a compound ACE (type 4) that is kept opaque.
    const sd: SecurityDescriptor = {
      revision: 1,
      control: SdControl.SELF_RELATIVE | SdControl.DACL_PRESENT | SdControl.SACL_PRESENT,
      owner: 'S-1-5-32-544',
      group: 'S-1-5-18',
      sacl: { revision: 2, aces: [{ type: AceType.SYSTEM_AUDIT, flags: 0x40, mask: 0x10, sid: 'S-1-1-0' }] },
      dacl: {
        revision: 2,
        aces: [
          {
            type: AceType.ACCESS_ALLOWED_CALLBACK,
            flags: 0,
            mask: 1,
            sid: 'S-1-5-11',
            applicationData: Buffer.from('artx\0\0\0\0', 'latin1'),
          },
          { type: AceType.ACCESS_ALLOWED_COMPOUND, flags: 0, opaque: Buffer.from('0100000001000000', 'hex') },
        ],
        padding: Buffer.alloc(4),
      },
      layout: ['sacl', 'dacl', 'owner', 'group'],
    };
    const bytes = encodeSecurityDescriptor(sd);
    expect(bytes.readUInt32LE(12)).toBe(20); // SACL first
    const back = decodeSecurityDescriptor(bytes);
    expect(back).toEqual(sd);
    expect(encodeSecurityDescriptor(back).equals(bytes)).toBe(true);
  });

  it('reads a NULL DACL as no DACL and prints it as Windows does', () => {
    const bytes = Buffer.from('0100048000000000000000000000000000000000', 'hex');
    const sd = decodeSecurityDescriptor(bytes);
    expect(sd.dacl).toBeUndefined();
    expect(toSddl(sd)).toBe('D:NO_ACCESS_CONTROL');
    expect(encodeSecurityDescriptor(fromSddl('D:NO_ACCESS_CONTROL')).equals(bytes)).toBe(true);
  });

  it('rejects truncated or malformed input with a reason', () => {
    expect(() => decodeSecurityDescriptor(Buffer.alloc(10))).toThrow(/truncated/);
    expect(() =>
      decodeSecurityDescriptor(Buffer.from('0200048000000000000000000000000000000000', 'hex')),
    ).toThrow(/revision/);
    expect(() =>
      decodeSecurityDescriptor(Buffer.from('0100040000000000000000000000000000000000', 'hex')),
    ).toThrow(/self-relative/);
    const bad = Buffer.from('01000480000000000000000000000000140000000400ff0000000000', 'hex');
    expect(() => decodeSecurityDescriptor(bad)).toThrow(/ACL size/);
  });
});

describe('SDDL', () => {
  it('writes rights letters in Samba order and a hex mask when a bit has no letter', () => {
    expect(accessMaskToSddl(0xf01ff)).toBe('RPWPCRCCDCLCLORCWOWDSDDTSW');
    expect(accessMaskToSddl(0x20094)).toBe('RPLCLORC');
    expect(accessMaskToSddl(AccessMask.GENERIC_READ)).toBe('GR');
    expect(accessMaskToSddl(0x200)).toBe('0x00000200');
    expect(accessMaskToSddl(0x120089)).toBe('0x00120089');
    expect(accessMaskToSddl(0)).toBe('');
  });

  it('maps well-known and domain-relative SIDs to their aliases', () => {
    expect(sidToSddl('S-1-5-11')).toBe('AU');
    expect(sidToSddl('S-1-5-32-544')).toBe('BA');
    expect(sidToSddl(`${DOM}-512`, DOM)).toBe('DA');
    expect(sidToSddl(`${DOM}-519`, DOM)).toBe('EA');
    expect(sidToSddl(`${DOM}-512`)).toBe(`${DOM}-512`);
    expect(sidToSddl('S-1-5-21-9-9-9-512', DOM)).toBe('S-1-5-21-9-9-9-512');
    expect(sidToSddl(`${DOM}-1105`, DOM)).toBe(`${DOM}-1105`);
    expect(sidFromSddl('DU', DOM)).toBe(`${DOM}-513`);
    expect(() => sidFromSddl('DA')).toThrow(/domain SID/);
  });

  it('refuses what Samba would silently mangle', () => {
    expect(() => fromSddl('D:(A;;CC0x4;;;WD)')).toThrow(/right/);
    expect(() => fromSddl('D:(a;;ga;;;BA)')).toThrow(/ACE type/);
    expect(() => fromSddl('D:(A;;GA;;;ba)')).toThrow(/SID/);
    expect(() => fromSddl('D:(A;;GA;;WD)')).toThrow(/6 fields/);
    expect(() => fromSddl('D:(A;;GA;bf967a86-0de6-11d0-a285-00aa003049e2;;WD)')).toThrow(/object ACEs/);
    expect(() => fromSddl('D:(OA;;GA;not-a-guid;;WD)')).toThrow(/GUID/);
    expect(() => fromSddl('D:(A;;GA;;;WD)D:')).toThrow(/twice/);
    expect(() => fromSddl('X:')).toThrow(/expected O:/);
  });

  it('round-trips text through the binary form', () => {
    const text =
      'O:DAG:DUD:PAI(D;;WD;;;WD)(OA;;CCDC;bf967a86-0de6-11d0-a285-00aa003049e2;;S-1-5-21-1-2-3-1105)(A;CIIO;0x00000200;;;CO)S:(AU;FA;GA;;;WD)';
    const sd = fromSddl(text, DOM);
    expect(toSddl(decodeSecurityDescriptor(encodeSecurityDescriptor(sd)), DOM)).toBe(text);
  });
});

describe('ACE merge', () => {
  const connector = `${DOM}-1105`;
  const deviceClass = 'bf967a86-0de6-11d0-a285-00aa003049e2';
  const createDelete: AccessAce = {
    type: AceType.ACCESS_ALLOWED_OBJECT,
    flags: 0,
    mask: AccessMask.CREATE_CHILD | AccessMask.DELETE_CHILD,
    sid: connector,
    objectType: deviceClass,
  };
  const deny: AccessAce = { type: AceType.ACCESS_DENIED, flags: 0, mask: AccessMask.DELETE, sid: connector };

  it('compares ACEs bit for bit, ignoring only the case of GUIDs', () => {
    expect(aceEquals(createDelete, { ...createDelete, objectType: deviceClass.toUpperCase() })).toBe(true);
    expect(aceEquals(createDelete, { ...createDelete, mask: AccessMask.CREATE_CHILD })).toBe(false);
    expect(aceEquals(createDelete, { ...createDelete, flags: AceFlag.CONTAINER_INHERIT })).toBe(false);
    expect(aceEquals(createDelete, { ...createDelete, objectType: undefined })).toBe(false);
    expect(aceEquals(createDelete, { ...createDelete, sid: `${DOM}-1106` })).toBe(false);
  });

  it('adds missing ACEs in canonical order and leaves every other ACE as it was', () => {
    const sd = fromSddl('D:AI(D;;SD;;;WD)(A;;RPLCLORC;;;AU)(A;CIID;LC;;;RU)(A;CIID;GA;;;EA)', DOM);
    const { sd: merged, added } = mergeDacl(sd, [createDelete, deny]);
    expect(added).toEqual([createDelete, deny]);
    expect(toSddl(merged, DOM)).toBe(
      'D:AI(D;;SD;;;WD)(D;;SD;;;S-1-5-21-1-2-3-1105)(A;;RPLCLORC;;;AU)(OA;;CCDC;bf967a86-0de6-11d0-a285-00aa003049e2;;S-1-5-21-1-2-3-1105)(A;CIID;LC;;;RU)(A;CIID;GA;;;EA)',
    );
    // The original is not mutated.
    expect(sd.dacl?.aces).toHaveLength(4);
  });

  it('adds nothing when every ACE is already there, and never twice', () => {
    const once = mergeDacl(fromSddl('D:(A;;RC;;;AU)', DOM), [createDelete, createDelete]);
    expect(once.added).toHaveLength(1);
    const twice = mergeDacl(once.sd, [createDelete]);
    expect(twice.added).toEqual([]);
    expect(twice.sd).toBe(once.sd);
    expect(missingAces(twice.sd.dacl, [createDelete])).toEqual([]);
  });

  it('raises the ACL revision to 4 when an object ACE is added to a revision 2 ACL', () => {
    const acl = { revision: 2, aces: [] as Ace[] };
    expect(mergeAces(acl, [createDelete]).acl.revision).toBe(4);
    expect(mergeAces(acl, [deny]).acl.revision).toBe(2);
  });

  it('refuses to add ACEs to a descriptor without a DACL', () => {
    expect(() => mergeDacl(fromSddl('O:BA'), [deny])).toThrow(/no DACL/);
  });
});
