// LDAP filter value escaping (RFC 4515): the only way user data enters a filter. Binary values
// (GUIDs, SIDs) go in as filter objects carrying the raw bytes, because ldapts decodes \hh escapes
// of a string filter into characters and would re-encode bytes >= 0x80 as UTF-8.
import { AndFilter, EqualityFilter, type Filter, OrFilter } from 'ldapts';

/**
 * Escape a string for use as an assertion value in a filter: * ( ) \ and NUL become \hh. Other
 * characters (including non-ASCII, which RFC 4515 allows as UTF-8) are left as they are.
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code === 0x2a || code === 0x28 || code === 0x29 || code === 0x5c || code === 0x00) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/** (attribute=<exact bytes>) for binary attributes such as objectGUID or msDS-DeviceID. */
export function binaryEquals(attribute: string, value: Buffer): Filter {
  return new EqualityFilter({ attribute, value });
}

/** An equality assertion on a text value (the value goes in as it is, never parsed as a filter). */
export function equals(attribute: string, value: string): Filter {
  return new EqualityFilter({ attribute, value });
}

export function allOf(...filters: Filter[]): Filter {
  return new AndFilter({ filters });
}

export function anyOf(...filters: Filter[]): Filter {
  return new OrFilter({ filters });
}

/** Tagged template that escapes every interpolated value: filter`(cn=${name})`. */
export function filter(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += escapeFilterValue(String(v)) + (strings[i + 1] ?? '');
  });
  return out;
}
