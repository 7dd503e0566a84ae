// LDIF (RFC 2849) in one place: the lines `init-ad --dry-run` prints for the forest preparation and
// the ones `sync --dry-run` prints for device operations, in a form ldapmodify accepts. A value that
// is not plain printable ASCII goes base64 (`attr:: …`): binary values, and any text that holds a
// control character, an escape sequence or a non-ASCII character, so a dry run never writes raw
// cloud text to a terminal.
import { BINARY_DEVICE_ATTRIBUTES } from './device-attributes.js';

/** RFC 2849 SAFE-STRING, narrowed to printable ASCII. */
function isSafe(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value) && !/^[ :<]/.test(value) && !value.endsWith(' ');
}

/** One `attribute: value` line; bytes and unsafe text as `attribute:: base64`. */
export function ldifLine(
  attribute: string,
  value: string | Buffer,
  options: { binary?: boolean } = {},
): string {
  if (Buffer.isBuffer(value)) {
    const text = value.toString('utf8');
    if (options.binary === false && isSafe(text) && Buffer.from(text, 'utf8').equals(value))
      return `${attribute}: ${text}`;
    return `${attribute}:: ${value.toString('base64')}`;
  }
  return isSafe(value)
    ? `${attribute}: ${value}`
    : `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

/** A line of an msDS-Device attribute: binary ones (GUID, SIDs) always base64, text ones readable. */
export function deviceLdifLine(attribute: string, value: string | Buffer): string {
  if (typeof value === 'string') return ldifLine(attribute, value);
  const binary = BINARY_DEVICE_ATTRIBUTES.has(attribute) && attribute !== 'msDS-CloudAnchor';
  return ldifLine(attribute, value, { binary });
}

export interface LdifModification {
  operation: 'add' | 'replace' | 'delete';
  attribute: string;
  values: readonly (string | Buffer)[];
}

type LineOf = (attribute: string, value: string | Buffer) => string;

/** `changetype: add` of an object with the given attributes. */
export function ldifAdd(
  dn: string,
  attributes: Iterable<[string, readonly (string | Buffer)[]]>,
  line: LineOf = ldifLine,
): string {
  const lines = [ldifLine('dn', dn), 'changetype: add'];
  for (const [attribute, values] of attributes) for (const v of values) lines.push(line(attribute, v));
  return lines.join('\n');
}

/** `changetype: modify`; `controls` are `control:` lines, which RFC 2849 puts between dn and changetype. */
export function ldifModify(
  dn: string,
  changes: readonly LdifModification[],
  line: LineOf = ldifLine,
  controls: readonly string[] = [],
): string {
  const lines = [ldifLine('dn', dn), ...controls, 'changetype: modify'];
  for (const c of changes) {
    lines.push(`${c.operation}: ${c.attribute}`);
    for (const v of c.values) lines.push(line(c.attribute, v));
    lines.push('-');
  }
  return lines.join('\n');
}

export function ldifDelete(dn: string): string {
  return [ldifLine('dn', dn), 'changetype: delete'].join('\n');
}
