// Security descriptors (MS-DTYP 2.4.6): the self-relative binary form of nTSecurityDescriptor and the
// SDDL text form, both ways, plus the ACE helpers forest preparation needs (equality, a merge that
// adds only missing ACEs in canonical order). Pure: no I/O.
//
// Binary: decode keeps everything needed to re-encode the same bytes (part order, ACL padding, data
// after an ACE's SID, ACE types of unknown layout), so a descriptor read from AD, changed in one ACE
// and written back differs from the original only by that ACE.
//
// SDDL: the output makes the same choices as Samba (the oracle of the tests): rights letters in
// Samba's order (RPWPCRCCDCLCLORCWOWDSDDTSW, then GA GR GW GX), a mask with any bit that has no letter
// as 0x%08x, ACE flags in the order OI CI NP IO ID SA FA, ACL flags P AR AI, lower-case GUIDs, the
// two-letter SID aliases Samba knows (domain-relative ones only when the domain SID is given).
// Parsing is strict where Samba is lax: an unknown token is an error, never a silently dropped right.
import { bytesToGuid, guidToBytes, isGuid } from './guid.js';
import { readSid, sidToBytes } from './sid.js';

/** SECURITY_DESCRIPTOR_CONTROL bits. */
export const SdControl = {
  OWNER_DEFAULTED: 0x0001,
  GROUP_DEFAULTED: 0x0002,
  DACL_PRESENT: 0x0004,
  DACL_DEFAULTED: 0x0008,
  SACL_PRESENT: 0x0010,
  SACL_DEFAULTED: 0x0020,
  DACL_TRUSTED: 0x0040,
  SERVER_SECURITY: 0x0080,
  DACL_AUTO_INHERIT_REQ: 0x0100,
  SACL_AUTO_INHERIT_REQ: 0x0200,
  DACL_AUTO_INHERITED: 0x0400,
  SACL_AUTO_INHERITED: 0x0800,
  DACL_PROTECTED: 0x1000,
  SACL_PROTECTED: 0x2000,
  RM_CONTROL_VALID: 0x4000,
  SELF_RELATIVE: 0x8000,
} as const;

export const AceType = {
  ACCESS_ALLOWED: 0x00,
  ACCESS_DENIED: 0x01,
  SYSTEM_AUDIT: 0x02,
  SYSTEM_ALARM: 0x03,
  ACCESS_ALLOWED_COMPOUND: 0x04,
  ACCESS_ALLOWED_OBJECT: 0x05,
  ACCESS_DENIED_OBJECT: 0x06,
  SYSTEM_AUDIT_OBJECT: 0x07,
  SYSTEM_ALARM_OBJECT: 0x08,
  ACCESS_ALLOWED_CALLBACK: 0x09,
  ACCESS_DENIED_CALLBACK: 0x0a,
  ACCESS_ALLOWED_CALLBACK_OBJECT: 0x0b,
  ACCESS_DENIED_CALLBACK_OBJECT: 0x0c,
  SYSTEM_AUDIT_CALLBACK: 0x0d,
  SYSTEM_ALARM_CALLBACK: 0x0e,
  SYSTEM_AUDIT_CALLBACK_OBJECT: 0x0f,
  SYSTEM_ALARM_CALLBACK_OBJECT: 0x10,
  SYSTEM_MANDATORY_LABEL: 0x11,
  SYSTEM_RESOURCE_ATTRIBUTE: 0x12,
  SYSTEM_SCOPED_POLICY_ID: 0x13,
} as const;

export const AceFlag = {
  OBJECT_INHERIT: 0x01,
  CONTAINER_INHERIT: 0x02,
  NO_PROPAGATE_INHERIT: 0x04,
  INHERIT_ONLY: 0x08,
  INHERITED: 0x10,
  SUCCESSFUL_ACCESS: 0x40,
  FAILED_ACCESS: 0x80,
} as const;

/** Access mask bits of directory service objects (MS-ADTS 5.1.3.2) and the standard/generic ones. */
export const AccessMask = {
  CREATE_CHILD: 0x00000001,
  DELETE_CHILD: 0x00000002,
  LIST_CHILDREN: 0x00000004,
  SELF_WRITE: 0x00000008,
  READ_PROPERTY: 0x00000010,
  WRITE_PROPERTY: 0x00000020,
  DELETE_TREE: 0x00000040,
  LIST_OBJECT: 0x00000080,
  CONTROL_ACCESS: 0x00000100,
  DELETE: 0x00010000,
  READ_CONTROL: 0x00020000,
  WRITE_DAC: 0x00040000,
  WRITE_OWNER: 0x00080000,
  SYNCHRONIZE: 0x00100000,
  ACCESS_SYSTEM_SECURITY: 0x01000000,
  MAXIMUM_ALLOWED: 0x02000000,
  GENERIC_ALL: 0x10000000,
  GENERIC_EXECUTE: 0x20000000,
  GENERIC_WRITE: 0x40000000,
  GENERIC_READ: 0x80000000,
} as const;

/** ACE_OBJECT_TYPE_PRESENT / ACE_INHERITED_OBJECT_TYPE_PRESENT in an object ACE. */
const OBJECT_TYPE_PRESENT = 0x1;
const INHERITED_OBJECT_TYPE_PRESENT = 0x2;

/** An ACE whose layout is known: header, access mask, [object types], SID, [application data]. */
export interface AccessAce {
  type: number;
  flags: number;
  mask: number;
  sid: string;
  /** Object ACEs only: the schemaIDGUID of a class/attribute, a property set or an extended right. */
  objectType?: string;
  /** Object ACEs only: the schemaIDGUID of the class of objects that inherit the ACE. */
  inheritedObjectType?: string;
  /** Bytes after the SID inside the ACE (callback ACE conditions, or padding); kept as read. */
  applicationData?: Buffer;
}

/** An ACE of a type whose layout this codec does not interpret; kept byte for byte. */
export interface OpaqueAce {
  type: number;
  flags: number;
  /** The ACE body after the 4-byte header. */
  opaque: Buffer;
}

export type Ace = AccessAce | OpaqueAce;

export interface Acl {
  /** 2 (ACL_REVISION) or 4 (ACL_REVISION_DS, required when the ACL has object ACEs). */
  revision: number;
  aces: Ace[];
  /** Bytes between the last ACE and the ACL's declared size, kept as read. */
  padding?: Buffer;
}

export type SdPart = 'owner' | 'group' | 'sacl' | 'dacl';

export interface SecurityDescriptor {
  revision: number;
  /** The Sbz1 byte (resource manager control bits when RM_CONTROL_VALID is set). */
  rmControl?: number;
  /** SdControl bits. */
  control: number;
  owner?: string;
  group?: string;
  /** Undefined: no SACL (or, with SACL_PRESENT, a NULL SACL). */
  sacl?: Acl;
  /** Undefined: no DACL (or, with DACL_PRESENT, a NULL DACL, which grants everyone everything). */
  dacl?: Acl;
  /** The order of the parts in the binary this was decoded from; Samba's order when absent. */
  layout?: SdPart[];
}

export function isOpaqueAce(ace: Ace): ace is OpaqueAce {
  return 'opaque' in ace;
}

const OBJECT_ACE_TYPES = new Set<number>([
  AceType.ACCESS_ALLOWED_OBJECT,
  AceType.ACCESS_DENIED_OBJECT,
  AceType.SYSTEM_AUDIT_OBJECT,
  AceType.SYSTEM_ALARM_OBJECT,
  AceType.ACCESS_ALLOWED_CALLBACK_OBJECT,
  AceType.ACCESS_DENIED_CALLBACK_OBJECT,
  AceType.SYSTEM_AUDIT_CALLBACK_OBJECT,
  AceType.SYSTEM_ALARM_CALLBACK_OBJECT,
]);

const BASIC_ACE_TYPES = new Set<number>([
  AceType.ACCESS_ALLOWED,
  AceType.ACCESS_DENIED,
  AceType.SYSTEM_AUDIT,
  AceType.SYSTEM_ALARM,
  AceType.ACCESS_ALLOWED_CALLBACK,
  AceType.ACCESS_DENIED_CALLBACK,
  AceType.SYSTEM_AUDIT_CALLBACK,
  AceType.SYSTEM_ALARM_CALLBACK,
  AceType.SYSTEM_MANDATORY_LABEL,
  AceType.SYSTEM_RESOURCE_ATTRIBUTE,
  AceType.SYSTEM_SCOPED_POLICY_ID,
]);

const DENY_ACE_TYPES = new Set<number>([
  AceType.ACCESS_DENIED,
  AceType.ACCESS_DENIED_OBJECT,
  AceType.ACCESS_DENIED_CALLBACK,
  AceType.ACCESS_DENIED_CALLBACK_OBJECT,
]);

export function isObjectAceType(type: number): boolean {
  return OBJECT_ACE_TYPES.has(type);
}

const SD_HEADER = 20;
const ACL_HEADER = 8;
const SAMBA_LAYOUT: readonly SdPart[] = ['owner', 'group', 'sacl', 'dacl'];

// ---------------------------------------------------------------------------------------------
// Binary

/** Decodes a self-relative security descriptor (the value of nTSecurityDescriptor). */
export function decodeSecurityDescriptor(bytes: Uint8Array): SecurityDescriptor {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < SD_HEADER) throw new TypeError(`security descriptor truncated (${b.length} bytes)`);
  const revision = b[0]!;
  if (revision !== 1) throw new TypeError(`unknown security descriptor revision ${revision}`);
  const rmControl = b[1]!;
  const control = b.readUInt16LE(2);
  if (!(control & SdControl.SELF_RELATIVE)) throw new TypeError('not a self-relative security descriptor');
  const offsets: Record<SdPart, number> = {
    owner: b.readUInt32LE(4),
    group: b.readUInt32LE(8),
    sacl: b.readUInt32LE(12),
    dacl: b.readUInt32LE(16),
  };
  const sd: SecurityDescriptor = { revision, control };
  if (rmControl !== 0) sd.rmControl = rmControl;
  const extents: { part: SdPart; start: number; end: number }[] = [];
  for (const part of SAMBA_LAYOUT) {
    const offset = offsets[part];
    if (offset === 0) continue;
    if (offset < SD_HEADER || offset >= b.length)
      throw new TypeError(`${part} offset ${offset} is out of range`);
    if (part === 'owner' || part === 'group') {
      const { sid, length } = readSid(b, offset);
      sd[part] = sid;
      extents.push({ part, start: offset, end: offset + length });
    } else {
      const { acl, length } = decodeAcl(b, offset);
      sd[part] = acl;
      extents.push({ part, start: offset, end: offset + length });
    }
  }
  extents.sort((x, y) => x.start - y.start);
  const layout = extents.map((e) => e.part);
  if (layout.join() !== SAMBA_LAYOUT.filter((p) => layout.includes(p)).join()) sd.layout = layout;
  return sd;
}

function decodeAcl(b: Buffer, offset: number): { acl: Acl; length: number } {
  if (b.length < offset + ACL_HEADER) throw new TypeError('ACL truncated');
  const revision = b[offset]!;
  const size = b.readUInt16LE(offset + 2);
  const count = b.readUInt16LE(offset + 4);
  if (size < ACL_HEADER || offset + size > b.length) throw new TypeError(`ACL size ${size} is out of range`);
  const aces: Ace[] = [];
  let pos = offset + ACL_HEADER;
  const end = offset + size;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > end) throw new TypeError(`ACE ${i} truncated`);
    const aceSize = b.readUInt16LE(pos + 2);
    if (aceSize < 4 || pos + aceSize > end) throw new TypeError(`ACE ${i} size ${aceSize} is out of range`);
    aces.push(decodeAce(b.subarray(pos, pos + aceSize)));
    pos += aceSize;
  }
  const acl: Acl = { revision, aces };
  if (pos < end) acl.padding = Buffer.from(b.subarray(pos, end));
  return { acl, length: size };
}

function decodeAce(b: Buffer): Ace {
  const type = b[0]!;
  const flags = b[1]!;
  if (!BASIC_ACE_TYPES.has(type) && !OBJECT_ACE_TYPES.has(type)) {
    return { type, flags, opaque: Buffer.from(b.subarray(4)) };
  }
  if (b.length < 8) throw new TypeError(`ACE of type ${type} truncated`);
  const ace: AccessAce = { type, flags, mask: b.readUInt32LE(4), sid: '' };
  let pos = 8;
  if (OBJECT_ACE_TYPES.has(type)) {
    if (b.length < 12) throw new TypeError(`object ACE truncated`);
    const objectFlags = b.readUInt32LE(8);
    pos = 12;
    if (objectFlags & OBJECT_TYPE_PRESENT) {
      ace.objectType = bytesToGuid(b.subarray(pos, pos + 16));
      pos += 16;
    }
    if (objectFlags & INHERITED_OBJECT_TYPE_PRESENT) {
      ace.inheritedObjectType = bytesToGuid(b.subarray(pos, pos + 16));
      pos += 16;
    }
  }
  const { sid, length } = readSid(b, pos);
  ace.sid = sid;
  pos += length;
  if (pos < b.length) ace.applicationData = Buffer.from(b.subarray(pos));
  return ace;
}

/** Encodes a security descriptor in self-relative form. */
export function encodeSecurityDescriptor(sd: SecurityDescriptor): Buffer {
  const header = Buffer.alloc(SD_HEADER);
  header[0] = sd.revision;
  header[1] = sd.rmControl ?? 0;
  header.writeUInt16LE((sd.control | SdControl.SELF_RELATIVE) & 0xffff, 2);
  const chunks: Buffer[] = [header];
  let offset = SD_HEADER;
  const slot: Record<SdPart, number> = { owner: 4, group: 8, sacl: 12, dacl: 16 };
  const order = sd.layout ?? SAMBA_LAYOUT;
  const parts = [...order, ...SAMBA_LAYOUT.filter((p) => !order.includes(p))];
  for (const part of parts) {
    let chunk: Buffer | undefined;
    if (part === 'owner' || part === 'group') {
      const sid = sd[part];
      if (sid !== undefined) chunk = sidToBytes(sid);
    } else {
      const acl = sd[part];
      if (acl !== undefined) chunk = encodeAcl(acl);
    }
    if (!chunk) continue;
    header.writeUInt32LE(offset, slot[part]);
    chunks.push(chunk);
    offset += chunk.length;
  }
  return Buffer.concat(chunks);
}

export function encodeAcl(acl: Acl): Buffer {
  const aces = acl.aces.map(encodeAce);
  const padding = acl.padding ?? Buffer.alloc(0);
  const size = ACL_HEADER + aces.reduce((n, a) => n + a.length, 0) + padding.length;
  if (size > 0xffff) throw new RangeError(`ACL too large (${size} bytes, at most 65535)`);
  const header = Buffer.alloc(ACL_HEADER);
  header[0] = acl.revision;
  header.writeUInt16LE(size, 2);
  header.writeUInt16LE(acl.aces.length, 4);
  return Buffer.concat([header, ...aces, padding]);
}

export function encodeAce(ace: Ace): Buffer {
  let body: Buffer;
  if (isOpaqueAce(ace)) {
    body = ace.opaque;
  } else {
    const parts: Buffer[] = [];
    const mask = Buffer.alloc(4);
    mask.writeUInt32LE(ace.mask >>> 0);
    parts.push(mask);
    if (OBJECT_ACE_TYPES.has(ace.type)) {
      const objectFlags = Buffer.alloc(4);
      objectFlags.writeUInt32LE(
        (ace.objectType ? OBJECT_TYPE_PRESENT : 0) |
          (ace.inheritedObjectType ? INHERITED_OBJECT_TYPE_PRESENT : 0),
      );
      parts.push(objectFlags);
      if (ace.objectType) parts.push(guidToBytes(ace.objectType));
      if (ace.inheritedObjectType) parts.push(guidToBytes(ace.inheritedObjectType));
    } else if (ace.objectType || ace.inheritedObjectType) {
      throw new TypeError(`ACE type ${ace.type} is not an object ACE and cannot carry object types`);
    }
    parts.push(sidToBytes(ace.sid));
    if (ace.applicationData) parts.push(ace.applicationData);
    body = Buffer.concat(parts);
  }
  const size = 4 + body.length;
  if (size > 0xffff) throw new RangeError(`ACE too large (${size} bytes)`);
  const header = Buffer.alloc(4);
  header[0] = ace.type;
  header[1] = ace.flags;
  header.writeUInt16LE(size, 2);
  return Buffer.concat([header, body]);
}

// ---------------------------------------------------------------------------------------------
// SDDL

type FlagMap = readonly (readonly [string, number])[];

/** Samba's order for rights letters; every entry is one bit. */
const RIGHTS: FlagMap = [
  ['RP', AccessMask.READ_PROPERTY],
  ['WP', AccessMask.WRITE_PROPERTY],
  ['CR', AccessMask.CONTROL_ACCESS],
  ['CC', AccessMask.CREATE_CHILD],
  ['DC', AccessMask.DELETE_CHILD],
  ['LC', AccessMask.LIST_CHILDREN],
  ['LO', AccessMask.LIST_OBJECT],
  ['RC', AccessMask.READ_CONTROL],
  ['WO', AccessMask.WRITE_OWNER],
  ['WD', AccessMask.WRITE_DAC],
  ['SD', AccessMask.DELETE],
  ['DT', AccessMask.DELETE_TREE],
  ['SW', AccessMask.SELF_WRITE],
  ['GA', AccessMask.GENERIC_ALL],
  ['GR', AccessMask.GENERIC_READ],
  ['GW', AccessMask.GENERIC_WRITE],
  ['GX', AccessMask.GENERIC_EXECUTE],
];

const ACE_FLAGS: FlagMap = [
  ['OI', AceFlag.OBJECT_INHERIT],
  ['CI', AceFlag.CONTAINER_INHERIT],
  ['NP', AceFlag.NO_PROPAGATE_INHERIT],
  ['IO', AceFlag.INHERIT_ONLY],
  ['ID', AceFlag.INHERITED],
  ['SA', AceFlag.SUCCESSFUL_ACCESS],
  ['FA', AceFlag.FAILED_ACCESS],
];

/** ACL flags, as the DACL bits of the control; the SACL bits are these shifted left by one. */
const ACL_FLAGS: FlagMap = [
  ['P', SdControl.DACL_PROTECTED],
  ['AR', SdControl.DACL_AUTO_INHERIT_REQ],
  ['AI', SdControl.DACL_AUTO_INHERITED],
];

const ACE_TYPE_NAMES: FlagMap = [
  ['A', AceType.ACCESS_ALLOWED],
  ['D', AceType.ACCESS_DENIED],
  ['OA', AceType.ACCESS_ALLOWED_OBJECT],
  ['OD', AceType.ACCESS_DENIED_OBJECT],
  ['AU', AceType.SYSTEM_AUDIT],
  ['AL', AceType.SYSTEM_ALARM],
  ['OU', AceType.SYSTEM_AUDIT_OBJECT],
  ['OL', AceType.SYSTEM_ALARM_OBJECT],
  ['ML', AceType.SYSTEM_MANDATORY_LABEL],
];

/** Well-known SIDs with an SDDL alias (the set Samba 4.17 knows). */
const WELL_KNOWN_SIDS: FlagMapOf<string> = [
  ['WD', 'S-1-1-0'],
  ['CO', 'S-1-3-0'],
  ['CG', 'S-1-3-1'],
  ['OW', 'S-1-3-4'],
  ['NU', 'S-1-5-2'],
  ['IU', 'S-1-5-4'],
  ['SU', 'S-1-5-6'],
  ['AN', 'S-1-5-7'],
  ['ED', 'S-1-5-9'],
  ['PS', 'S-1-5-10'],
  ['AU', 'S-1-5-11'],
  ['RC', 'S-1-5-12'],
  ['SY', 'S-1-5-18'],
  ['LS', 'S-1-5-19'],
  ['NS', 'S-1-5-20'],
  ['WR', 'S-1-5-33'],
  ['BA', 'S-1-5-32-544'],
  ['BU', 'S-1-5-32-545'],
  ['BG', 'S-1-5-32-546'],
  ['PU', 'S-1-5-32-547'],
  ['AO', 'S-1-5-32-548'],
  ['SO', 'S-1-5-32-549'],
  ['PO', 'S-1-5-32-550'],
  ['BO', 'S-1-5-32-551'],
  ['RE', 'S-1-5-32-552'],
  ['RU', 'S-1-5-32-554'],
  ['RD', 'S-1-5-32-555'],
  ['NO', 'S-1-5-32-556'],
  ['MU', 'S-1-5-32-558'],
  ['LU', 'S-1-5-32-559'],
  ['IS', 'S-1-5-32-568'],
  ['CY', 'S-1-5-32-569'],
  ['ER', 'S-1-5-32-573'],
  ['CD', 'S-1-5-32-574'],
  ['RA', 'S-1-5-32-575'],
  ['ES', 'S-1-5-32-576'],
  ['MS', 'S-1-5-32-577'],
  ['HA', 'S-1-5-32-578'],
  ['AA', 'S-1-5-32-579'],
  ['RM', 'S-1-5-32-580'],
  ['UD', 'S-1-5-84-0-0-0-0-0'],
  ['AC', 'S-1-15-2-1'],
  ['LW', 'S-1-16-4096'],
  ['ME', 'S-1-16-8192'],
  ['MP', 'S-1-16-8448'],
  ['HI', 'S-1-16-12288'],
  ['SI', 'S-1-16-16384'],
  ['AS', 'S-1-18-1'],
  ['SS', 'S-1-18-2'],
];

type FlagMapOf<T> = readonly (readonly [string, T])[];

/** Aliases relative to the domain SID (given to toSddl/fromSddl). */
const DOMAIN_RIDS: FlagMapOf<number> = [
  ['RO', 498],
  ['LA', 500],
  ['LG', 501],
  ['DA', 512],
  ['DU', 513],
  ['DG', 514],
  ['DC', 515],
  ['DD', 516],
  ['CA', 517],
  ['SA', 518],
  ['EA', 519],
  ['PA', 520],
  ['CN', 522],
  ['AP', 525],
  ['KA', 526],
  ['EK', 527],
  ['RS', 553],
];

const SID_TEXT = /^S-1-\d+(?:-\d+)*$/;

function normalizeSid(sid: string): string {
  return sid.replace(/^s-/, 'S-');
}

/** The SDDL form of a SID: its alias when it has one, its S-1-… text otherwise. */
export function sidToSddl(sid: string, domainSid?: string): string {
  const text = normalizeSid(sid);
  for (const [alias, known] of WELL_KNOWN_SIDS) if (known === text) return alias;
  if (domainSid && text.startsWith(`${domainSid}-`)) {
    const rest = text.slice(domainSid.length + 1);
    if (/^\d+$/.test(rest)) {
      const rid = Number(rest);
      for (const [alias, known] of DOMAIN_RIDS) if (known === rid) return alias;
    }
  }
  return text;
}

/** A SID alias or S-1-… text -> SID text. */
export function sidFromSddl(text: string, domainSid?: string): string {
  if (SID_TEXT.test(text)) {
    sidToBytes(text); // range checks
    return text;
  }
  for (const [alias, known] of WELL_KNOWN_SIDS) if (alias === text) return known;
  for (const [alias, rid] of DOMAIN_RIDS) {
    if (alias === text) {
      if (!domainSid)
        throw new TypeError(`SID alias ${text} is relative to a domain, and no domain SID was given`);
      return `${domainSid}-${rid}`;
    }
  }
  throw new TypeError(`unknown SID or SID alias ${JSON.stringify(text)}`);
}

function flagsToLetters(map: FlagMap, value: number): string | undefined {
  let rest = value >>> 0;
  let out = '';
  for (const [letters, bit] of map) {
    if ((rest & bit) >>> 0 === bit) {
      out += letters;
      rest = (rest & ~bit) >>> 0;
    }
  }
  return rest === 0 ? out : undefined;
}

function lettersToFlags(map: FlagMap, text: string, what: string): number {
  let value = 0;
  let i = 0;
  outer: while (i < text.length) {
    for (const [letters, bit] of map) {
      if (text.startsWith(letters, i)) {
        value = (value | bit) >>> 0;
        i += letters.length;
        continue outer;
      }
    }
    throw new TypeError(`unknown ${what} ${JSON.stringify(text.slice(i, i + 2))} in ${JSON.stringify(text)}`);
  }
  return value;
}

/** An access mask in SDDL: rights letters when every bit has one, else 0x%08x (as Samba does). */
export function accessMaskToSddl(mask: number): string {
  return flagsToLetters(RIGHTS, mask) ?? `0x${(mask >>> 0).toString(16).padStart(8, '0')}`;
}

export function accessMaskFromSddl(text: string): number {
  if (/^0x[0-9a-fA-F]{1,8}$/.test(text)) return Number.parseInt(text.slice(2), 16) >>> 0;
  return lettersToFlags(RIGHTS, text, 'right');
}

/** One ACE in SDDL, without the parentheses. */
export function aceToSddl(ace: Ace, domainSid?: string): string {
  const type = ACE_TYPE_NAMES.find(([, t]) => t === ace.type)?.[0];
  if (type === undefined || isOpaqueAce(ace) || ace.applicationData) {
    throw new TypeError(`an ACE of type 0x${ace.type.toString(16)} with this content has no SDDL form here`);
  }
  const flags = flagsToLetters(ACE_FLAGS, ace.flags);
  if (flags === undefined) throw new TypeError(`ACE flags 0x${ace.flags.toString(16)} have no SDDL form`);
  return [
    type,
    flags,
    ace.mask === 0 ? '' : accessMaskToSddl(ace.mask),
    ace.objectType?.toLowerCase() ?? '',
    ace.inheritedObjectType?.toLowerCase() ?? '',
    sidToSddl(ace.sid, domainSid),
  ].join(';');
}

function aclToSddl(acl: Acl | undefined, aclFlags: number, domainSid?: string): string {
  if (!acl) return 'NO_ACCESS_CONTROL';
  const flags = flagsToLetters(ACL_FLAGS, aclFlags) ?? '';
  return flags + acl.aces.map((ace) => `(${aceToSddl(ace, domainSid)})`).join('');
}

const DACL_FLAG_BITS =
  SdControl.DACL_PROTECTED | SdControl.DACL_AUTO_INHERIT_REQ | SdControl.DACL_AUTO_INHERITED;

/**
 * The SDDL text of a descriptor. With `domainSid`, SIDs of that domain get their aliases (DA, DU…).
 * A NULL DACL is written as D:NO_ACCESS_CONTROL (as Windows does; Samba omits it).
 */
export function toSddl(sd: SecurityDescriptor, domainSid?: string): string {
  let out = '';
  if (sd.owner !== undefined) out += `O:${sidToSddl(sd.owner, domainSid)}`;
  if (sd.group !== undefined) out += `G:${sidToSddl(sd.group, domainSid)}`;
  if (sd.control & SdControl.DACL_PRESENT)
    out += `D:${aclToSddl(sd.dacl, sd.control & DACL_FLAG_BITS, domainSid)}`;
  if (sd.control & SdControl.SACL_PRESENT) {
    out += `S:${aclToSddl(sd.sacl, (sd.control >> 1) & DACL_FLAG_BITS, domainSid)}`;
  }
  return out;
}

/** Parses one ACE (without parentheses). */
export function aceFromSddl(text: string, domainSid?: string): AccessAce {
  const fields = text.split(';');
  if (fields.length !== 6)
    throw new TypeError(`an ACE has 6 fields separated by ";": ${JSON.stringify(text)}`);
  const [typeText, flagsText, rightsText, objectText, inheritedText, sidText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const type = ACE_TYPE_NAMES.find(([name]) => name === typeText)?.[1];
  if (type === undefined) throw new TypeError(`unknown ACE type ${JSON.stringify(typeText)}`);
  const ace: AccessAce = {
    type,
    flags: lettersToFlags(ACE_FLAGS, flagsText, 'ACE flag'),
    mask: rightsText === '' ? 0 : accessMaskFromSddl(rightsText),
    sid: '',
  };
  const guid = (value: string, what: string): string | undefined => {
    if (value === '') return undefined;
    if (!OBJECT_ACE_TYPES.has(type)) throw new TypeError(`${what} is only allowed in object ACEs: ${text}`);
    if (!isGuid(value)) throw new TypeError(`${what} is not a GUID: ${JSON.stringify(value)}`);
    return value.replace(/[{}]/g, '').toLowerCase();
  };
  const objectType = guid(objectText, 'the object type');
  const inheritedObjectType = guid(inheritedText, 'the inherited object type');
  if (objectType) ace.objectType = objectType;
  if (inheritedObjectType) ace.inheritedObjectType = inheritedObjectType;
  ace.sid = sidFromSddl(sidText, domainSid);
  return ace;
}

/**
 * Parses SDDL into a self-relative descriptor, as Samba's from_sddl does (revision 1, ACL revision 4,
 * SELF_RELATIVE plus DACL/SACL_PRESENT and the ACL flags as control bits). Domain-relative aliases
 * (DA, DU, EA…) need `domainSid`.
 */
export function fromSddl(text: string, domainSid?: string): SecurityDescriptor {
  const sd: SecurityDescriptor = { revision: 1, control: SdControl.SELF_RELATIVE };
  const seen = new Set<string>();
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    const tag = s[i];
    if (s[i + 1] !== ':' || (tag !== 'O' && tag !== 'G' && tag !== 'D' && tag !== 'S')) {
      throw new TypeError(`expected O:, G:, D: or S: at position ${i} of ${JSON.stringify(text)}`);
    }
    if (seen.has(tag)) throw new TypeError(`${tag}: appears twice in ${JSON.stringify(text)}`);
    seen.add(tag);
    i += 2;
    if (tag === 'O' || tag === 'G') {
      const m = /^(S-1-\d+(?:-\d+)*|[A-Z]{2})/.exec(s.slice(i));
      if (!m) throw new TypeError(`expected a SID after ${tag}: in ${JSON.stringify(text)}`);
      const sid = sidFromSddl(m[1]!, domainSid);
      if (tag === 'O') sd.owner = sid;
      else sd.group = sid;
      i += m[1]!.length;
      continue;
    }
    // An ACL: flags, then (ace)(ace)…, up to the next section.
    let flagsEnd = i;
    while (
      flagsEnd < s.length &&
      s[flagsEnd] !== '(' &&
      !(s[flagsEnd + 1] === ':' && 'OGDS'.includes(s[flagsEnd]!))
    ) {
      flagsEnd++;
    }
    const flagsText = s.slice(i, flagsEnd);
    i = flagsEnd;
    let acl: Acl | undefined;
    let aclFlags = 0;
    if (flagsText === 'NO_ACCESS_CONTROL') {
      acl = undefined;
    } else {
      aclFlags = lettersToFlags(ACL_FLAGS, flagsText, 'ACL flag');
      acl = { revision: 4, aces: [] };
      while (s[i] === '(') {
        const close = s.indexOf(')', i);
        if (close < 0) throw new TypeError(`unclosed "(" in ${JSON.stringify(text)}`);
        acl.aces.push(aceFromSddl(s.slice(i + 1, close), domainSid));
        i = close + 1;
      }
    }
    if (tag === 'D') {
      sd.control |= SdControl.DACL_PRESENT | aclFlags;
      if (acl) sd.dacl = acl;
    } else {
      sd.control |= SdControl.SACL_PRESENT | (aclFlags << 1);
      if (acl) sd.sacl = acl;
    }
  }
  return sd;
}

// ---------------------------------------------------------------------------------------------
// ACE helpers

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (!a || a.length === 0) return !b || b.length === 0;
  return !!b && a.equals(b);
}

/** True when two ACEs grant or deny the same thing to the same trustee, bit for bit. */
export function aceEquals(a: Ace, b: Ace): boolean {
  if (a.type !== b.type || a.flags !== b.flags) return false;
  if (isOpaqueAce(a) || isOpaqueAce(b)) return isOpaqueAce(a) && isOpaqueAce(b) && a.opaque.equals(b.opaque);
  return (
    a.mask >>> 0 === b.mask >>> 0 &&
    normalizeSid(a.sid) === normalizeSid(b.sid) &&
    (a.objectType ?? '').toLowerCase() === (b.objectType ?? '').toLowerCase() &&
    (a.inheritedObjectType ?? '').toLowerCase() === (b.inheritedObjectType ?? '').toLowerCase() &&
    sameBytes(a.applicationData, b.applicationData)
  );
}

export function isInheritedAce(ace: Ace): boolean {
  return (ace.flags & AceFlag.INHERITED) !== 0;
}

export function isDenyAce(ace: Ace): boolean {
  return DENY_ACE_TYPES.has(ace.type);
}

/**
 * Adds to an ACL the ACEs it does not have yet, each in its canonical place (explicit deny first,
 * then explicit allow, then inherited), without touching or reordering any ACE already there.
 * Returns a new ACL and the ACEs that were added (empty when nothing was missing).
 */
export function mergeAces(acl: Acl, wanted: readonly Ace[]): { acl: Acl; added: Ace[] } {
  const aces = [...acl.aces];
  const added: Ace[] = [];
  for (const ace of wanted) {
    if (aces.some((existing) => aceEquals(existing, ace)) || added.some((a) => aceEquals(a, ace))) continue;
    let at: number;
    if (isInheritedAce(ace)) {
      at = aces.length;
    } else if (isDenyAce(ace)) {
      at = aces.findIndex((a) => isInheritedAce(a) || !isDenyAce(a));
    } else {
      at = aces.findIndex((a) => isInheritedAce(a));
    }
    if (at < 0) at = aces.length;
    aces.splice(at, 0, ace);
    added.push(ace);
  }
  const needsDs = aces.some((a) => OBJECT_ACE_TYPES.has(a.type));
  const revision = needsDs ? Math.max(acl.revision, 4) : acl.revision;
  const merged: Acl = { revision, aces };
  if (acl.padding) merged.padding = acl.padding;
  return { acl: added.length === 0 ? acl : merged, added };
}

/**
 * Adds missing ACEs to the DACL of a descriptor (see mergeAces). Refuses a descriptor without a DACL:
 * a NULL DACL grants everyone everything, and adding ACEs to it would take rights away.
 */
export function mergeDacl(
  sd: SecurityDescriptor,
  wanted: readonly Ace[],
): { sd: SecurityDescriptor; added: Ace[] } {
  if (!sd.dacl) throw new TypeError('the security descriptor has no DACL; refusing to create one');
  const { acl, added } = mergeAces(sd.dacl, wanted);
  if (added.length === 0) return { sd, added };
  return { sd: { ...sd, control: sd.control | SdControl.DACL_PRESENT, dacl: acl }, added };
}

/** The ACEs of `wanted` that `acl` lacks. */
export function missingAces(acl: Acl | undefined, wanted: readonly Ace[]): Ace[] {
  return wanted.filter((ace) => !(acl?.aces ?? []).some((existing) => aceEquals(existing, ace)));
}
