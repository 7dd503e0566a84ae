// GUIDs: the text form (8-4-4-4-12 hex) and Active Directory's 16-byte binary form, in which the
// first three groups are little-endian (as objectGUID and msDS-DeviceID are stored).

const GUID_RE =
  /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/;

export function isGuid(text: string): boolean {
  return GUID_RE.test(text);
}

/** Text GUID -> 16 bytes in AD byte order. Throws on anything that is not a GUID. */
export function guidToBytes(text: string): Buffer {
  const m = GUID_RE.exec(text);
  if (!m) throw new TypeError(`not a GUID: ${JSON.stringify(text)}`);
  const hex = (s: string): Buffer => Buffer.from(s, 'hex');
  return Buffer.concat([
    hex(m[1]!).reverse(),
    hex(m[2]!).reverse(),
    hex(m[3]!).reverse(),
    hex(m[4]!),
    hex(m[5]!),
  ]);
}

/** 16 bytes in AD byte order -> lower-case text GUID. */
export function bytesToGuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new TypeError(`a GUID has 16 bytes, got ${bytes.length}`);
  const b = Buffer.from(bytes);
  const h = (start: number, end: number, reverse: boolean): string => {
    const part = Buffer.from(b.subarray(start, end));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}
