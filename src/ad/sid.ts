// Security identifiers: the text form S-1-<authority>-<sub>… and the binary form stored in AD
// (revision, sub-authority count, 48-bit big-endian authority, 32-bit little-endian sub-authorities).

const SID_RE = /^S-1-(\d+)((?:-\d+){0,15})$/i;

export function isSid(text: string): boolean {
  try {
    sidToBytes(text);
    return true;
  } catch {
    return false;
  }
}

export function sidToBytes(text: string): Buffer {
  const m = SID_RE.exec(text.trim());
  if (!m) throw new TypeError(`not a SID: ${JSON.stringify(text)}`);
  const authority = BigInt(m[1]!);
  if (authority >= 1n << 48n) throw new TypeError(`SID authority out of range: ${text}`);
  const subs = m[2]
    ? m[2]
        .slice(1)
        .split('-')
        .map((s) => BigInt(s))
    : [];
  const buf = Buffer.alloc(8 + 4 * subs.length);
  buf[0] = 1;
  buf[1] = subs.length;
  buf.writeUIntBE(Number(authority), 2, 6);
  subs.forEach((sub, i) => {
    if (sub > 0xffffffffn) throw new TypeError(`SID sub-authority out of range: ${text}`);
    buf.writeUInt32LE(Number(sub), 8 + 4 * i);
  });
  return buf;
}

/** Binary SID -> text. Returns the SID and how many bytes it used (SIDs are embedded in ACEs). */
export function readSid(bytes: Uint8Array, offset = 0): { sid: string; length: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < offset + 8) throw new TypeError('SID truncated');
  const revision = b[offset]!;
  const count = b[offset + 1]!;
  if (revision !== 1) throw new TypeError(`unknown SID revision ${revision}`);
  if (count > 15) throw new TypeError(`SID has ${count} sub-authorities (at most 15)`);
  const length = 8 + 4 * count;
  if (b.length < offset + length) throw new TypeError('SID truncated');
  const authority = b.readUIntBE(offset + 2, 6);
  const parts = [`S-1-${authority}`];
  for (let i = 0; i < count; i++) parts.push(String(b.readUInt32LE(offset + 8 + 4 * i)));
  return { sid: parts.join('-'), length };
}

export function bytesToSid(bytes: Uint8Array): string {
  const { sid, length } = readSid(bytes);
  if (length !== bytes.length) throw new TypeError(`SID has ${bytes.length - length} trailing bytes`);
  return sid;
}
