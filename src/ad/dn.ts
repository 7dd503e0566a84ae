// Distinguished names (RFC 4514): escaping an attribute value, parsing a DN into its RDNs, and
// comparing DNs. The only way user data enters a DN.

export interface Rdn {
  type: string;
  value: string;
}

const SPECIAL = new Set([',', '+', '"', '\\', '<', '>', ';', '=']);

/** Escape a string for use as an RDN value. */
export function escapeDnValue(value: string): string {
  let out = '';
  const chars = [...value];
  chars.forEach((ch, i) => {
    const code = ch.codePointAt(0)!;
    if (SPECIAL.has(ch)) out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, '0').toUpperCase()}`;
    else if (i === 0 && (ch === ' ' || ch === '#')) out += `\\${ch}`;
    else if (i === chars.length - 1 && ch === ' ') out += '\\ ';
    else out += ch;
  });
  return out;
}

/** Build a DN from an RDN type, a raw value and the parent DN. */
export function childDn(type: string, value: string, parent: string): string {
  return `${type}=${escapeDnValue(value)},${parent}`;
}

/** Parse a DN into RDNs (multi-valued RDNs are flattened into separate entries joined by '+'). */
export function parseDn(dn: string): Rdn[][] {
  const rdns: Rdn[][] = [];
  let current: Rdn[] = [];
  let i = 0;
  const n = dn.length;
  const skipSpaces = (): void => {
    while (i < n && dn[i] === ' ') i++;
  };
  if (dn.trim() === '') return [];
  for (;;) {
    skipSpaces();
    let type = '';
    while (i < n && dn[i] !== '=') type += dn[i++];
    if (i >= n) throw new TypeError(`invalid DN (no "=" in RDN): ${dn}`);
    i++; // '='
    type = type.trim();
    if (!/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)*)$/.test(type))
      throw new TypeError(`invalid attribute type "${type}" in DN: ${dn}`);
    const bytes: number[] = [];
    let lastSignificant = 0;
    if (dn[i] === '#') {
      // hex-encoded BER value; keep it as written
      let raw = '';
      while (i < n && dn[i] !== ',' && dn[i] !== '+') raw += dn[i++];
      bytes.push(...Buffer.from(raw.trim(), 'utf8'));
      lastSignificant = bytes.length;
    } else {
      while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
        const ch = dn[i]!;
        if (ch === '\\') {
          const next = dn[i + 1];
          if (next === undefined) throw new TypeError(`invalid DN (trailing backslash): ${dn}`);
          if (/[0-9a-fA-F]/.test(next) && /[0-9a-fA-F]/.test(dn[i + 2] ?? '')) {
            bytes.push(parseInt(dn.slice(i + 1, i + 3), 16));
            i += 3;
          } else {
            bytes.push(...Buffer.from(next, 'utf8'));
            i += 2;
          }
          lastSignificant = bytes.length;
        } else {
          const cp = dn.codePointAt(i)!;
          const s = String.fromCodePoint(cp);
          bytes.push(...Buffer.from(s, 'utf8'));
          i += s.length;
          if (ch !== ' ') lastSignificant = bytes.length;
        }
      }
    }
    const value = Buffer.from(bytes.slice(0, lastSignificant)).toString('utf8');
    current.push({ type, value });
    if (i >= n) break;
    const sep = dn[i++];
    if (sep === ',' || sep === ';') {
      rdns.push(current);
      current = [];
    }
  }
  rdns.push(current);
  return rdns;
}

/** Canonical form for comparison: types lower-cased, values lower-cased and re-escaped. */
export function normalizeDn(dn: string): string {
  return parseDn(dn)
    .map((rdn) => rdn.map((a) => `${a.type.toLowerCase()}=${escapeDnValue(a.value.toLowerCase())}`).join('+'))
    .join(',');
}

export function dnEquals(a: string, b: string): boolean {
  try {
    return normalizeDn(a) === normalizeDn(b);
  } catch {
    return false;
  }
}

export function formatDn(rdns: Rdn[][]): string {
  return rdns.map((rdn) => rdn.map((a) => `${a.type}=${escapeDnValue(a.value)}`).join('+')).join(',');
}

/** The parent of a DN, or '' for a single-RDN DN. */
export function parentDn(dn: string): string {
  return formatDn(parseDn(dn).slice(1));
}

/** True only when `dn` is a direct child of `parent`. */
export function isDirectChild(dn: string, parent: string): boolean {
  try {
    const rdns = parseDn(dn);
    return rdns.length >= 1 && normalizeDn(formatDn(rdns.slice(1))) === normalizeDn(parent);
  } catch {
    return false;
  }
}

/** The value of the first RDN (e.g. the CN of an object). */
export function firstRdnValue(dn: string): string {
  const first = parseDn(dn)[0]?.[0];
  if (!first) throw new TypeError(`empty DN`);
  return first.value;
}

/** DC=corp,DC=example,DC=test -> corp.example.test */
export function dnToDomain(dn: string): string {
  return parseDn(dn)
    .flat()
    .filter((a) => a.type.toLowerCase() === 'dc')
    .map((a) => a.value)
    .join('.');
}

/** corp.example.test -> DC=corp,DC=example,DC=test */
export function domainToDn(domain: string): string {
  return domain
    .replace(/\.$/, '')
    .split('.')
    .map((label) => `DC=${escapeDnValue(label)}`)
    .join(',');
}
