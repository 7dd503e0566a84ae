// LDAP filter value escaping (RFC 4515): the only way user data enters a filter.

/** Escape a string for use as an assertion value in a filter: * ( ) \ NUL, and non-ASCII as UTF-8 \hh. */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x2a || byte === 0x28 || byte === 0x29 || byte === 0x5c || byte === 0x00 || byte >= 0x80) {
      out += `\\${byte.toString(16).padStart(2, '0')}`;
    } else {
      out += String.fromCharCode(byte);
    }
  }
  return out;
}

/** Tagged template that escapes every interpolated value: filter`(cn=${name})`. */
export function filter(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += escapeFilterValue(String(v)) + (strings[i + 1] ?? '');
  });
  return out;
}
