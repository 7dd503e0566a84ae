// Text from the cloud or the directory (device names, ids, error messages) must not steer the
// operator's terminal or page (SPEC §3): control characters (C0, DEL, C1: escape sequences that
// clear or retitle a terminal start with one), bidirectional overrides, isolates and marks (which
// make "RTL\u202egnp.exe" read as "RTLexe.png"), line and paragraph separators and a few invisible
// format characters are shown escaped, as \u001b or \u202e. Each output channel applies it once,
// centrally: the CLI's out(), the console's HTML escaping, the JSON logs.

/**
 * Everything escaped except the line feed. Not escaped: U+200C/U+200D (zero-width non-joiner and
 * joiner), which Persian, Indic scripts and emoji sequences need.
 */
const UNSAFE =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

/** The same set without the C0 controls, which JSON.stringify and pino already escape. */
const UNSAFE_IN_JSON =
  /[\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

const escapeCode = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `text` with every unsafe character written as \uXXXX. Line feeds stay (the product's own output
 * is made of lines) unless `singleLine`. Idempotent: the escaped form is plain ASCII.
 */
export function escapeUnsafe(text: string, options: { singleLine?: boolean } = {}): string {
  const escaped = text.replace(UNSAFE, escapeCode);
  return options.singleLine ? escaped.replace(/\n/g, '\\u000a') : escaped;
}

/**
 * JSON text with the unsafe characters that JSON leaves raw written as \uXXXX escapes: the same JSON
 * value once parsed, but harmless on a terminal. Outside strings JSON holds only ASCII, so the
 * replacement is always inside a string.
 */
export function escapeUnsafeJson(json: string): string {
  return json.replace(UNSAFE_IN_JSON, escapeCode);
}
