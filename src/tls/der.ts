// A small DER (ASN.1 Distinguished Encoding Rules) writer: just the types an X.509 v3 certificate
// needs. Every function returns the complete TLV (tag, length, value) as a Buffer, so structures
// are built by nesting calls the way the ASN.1 definitions in RFC 5280 read.

/** Universal and context-specific tags used by certificates. */
const Tag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  objectIdentifier: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const;

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Any TLV with an explicit tag byte. */
export function tlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

export function sequence(...items: Buffer[]): Buffer {
  return tlv(Tag.sequence, Buffer.concat(items));
}

/** SET OF: DER orders the encoded elements. */
export function set(...items: Buffer[]): Buffer {
  return tlv(Tag.set, Buffer.concat([...items].sort(Buffer.compare)));
}

export function boolean(value: boolean): Buffer {
  return tlv(Tag.boolean, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(Tag.null, Buffer.alloc(0));
}

/** INTEGER from a non-negative number or big-endian unsigned bytes (a leading zero keeps it positive). */
export function integer(value: number | bigint | Buffer): Buffer {
  let bytes: Buffer;
  if (Buffer.isBuffer(value)) {
    bytes = value;
  } else {
    let hex = BigInt(value).toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    bytes = Buffer.from(hex, 'hex');
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && (bytes[start + 1] ?? 0) < 0x80) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if ((bytes[0] ?? 0) >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(Tag.integer, bytes);
}

export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((part) => {
    if (!/^\d+$/.test(part)) throw new Error(`not an object identifier: ${dotted}`);
    return BigInt(part);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined) throw new Error(`not an object identifier: ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const groups: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...groups);
  }
  return tlv(Tag.objectIdentifier, Buffer.from(bytes));
}

export function octetString(value: Buffer): Buffer {
  return tlv(Tag.octetString, value);
}

/** BIT STRING holding whole bytes (signatures, keys). */
export function bitString(value: Buffer, unusedBits = 0): Buffer {
  return tlv(Tag.bitString, Buffer.concat([Buffer.from([unusedBits]), value]));
}

/**
 * A named BIT STRING such as KeyUsage: bit 0 is the most significant bit of the first byte, and DER
 * drops trailing zero bits.
 */
export function namedBits(bits: number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  return bitString(bytes, 7 - (highest & 7));
}

export function utf8String(value: string): Buffer {
  return tlv(Tag.utf8String, Buffer.from(value, 'utf8'));
}

export function printableString(value: string): Buffer {
  return tlv(Tag.printableString, Buffer.from(value, 'ascii'));
}

export function ia5String(value: string): Buffer {
  return tlv(Tag.ia5String, Buffer.from(value, 'ascii'));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always in UTC with seconds. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2025-01-02T03:04:05.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // 20250102030405
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(Tag.utcTime, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tlv(Tag.generalizedTime, Buffer.from(`${digits}Z`, 'ascii'));
}

/** [n] EXPLICIT: wraps a complete TLV. */
export function explicit(tagNumber: number, inner: Buffer): Buffer {
  return tlv(0xa0 | tagNumber, inner);
}

/** [n] IMPLICIT primitive: replaces the tag of a primitive value. */
export function implicitPrimitive(tagNumber: number, value: Buffer): Buffer {
  return tlv(0x80 | tagNumber, value);
}

/** One TLV as found by {@link readTlv}: where its value starts and where the whole element ends. */
export interface TlvSpan {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

/** Reads the TLV header at `offset` (definite lengths only, as DER requires). */
export function readTlv(der: Buffer, offset = 0): TlvSpan {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error('DER: truncated element');
  let length = first;
  let valueStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new Error('DER: unsupported length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
    valueStart += count;
  }
  const end = valueStart + length;
  if (end > der.length) throw new Error('DER: element runs past the end');
  return { tag, start: offset, valueStart, end };
}

/** The direct children of a constructed element. */
export function children(der: Buffer, parent: TlvSpan): TlvSpan[] {
  const out: TlvSpan[] = [];
  for (let offset = parent.valueStart; offset < parent.end;) {
    const child = readTlv(der, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/**
 * RFC 5280's subjectPublicKey: the contents of the BIT STRING inside a SubjectPublicKeyInfo
 * (SEQUENCE { AlgorithmIdentifier, BIT STRING }), without its unused-bits octet.
 */
export function subjectPublicKey(spki: Buffer): Buffer {
  const outer = readTlv(spki);
  if (outer.tag !== 0x30) throw new TypeError('SubjectPublicKeyInfo is not a SEQUENCE');
  const [algorithm, bits] = children(spki, outer);
  if (algorithm?.tag !== 0x30) throw new TypeError('AlgorithmIdentifier is not a SEQUENCE');
  if (bits?.tag !== 0x03) throw new TypeError('subjectPublicKey is not a BIT STRING');
  if (spki[bits.valueStart] !== 0) throw new TypeError('subjectPublicKey has unused bits');
  return spki.subarray(bits.valueStart + 1, bits.end);
}
