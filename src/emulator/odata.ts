// The OData query options the emulator understands ($select, $filter, $top, $expand, $count,
// Prefer: odata.maxpagesize) and the opaque paging tokens it hands out. Unsupported options are
// refused with Graph's error codes rather than silently ignored.
import { badRequest, GraphError } from './errors.js';

/** Case-insensitive $select against a type's property names; returns canonical names, `id` first. */
export function parseSelect(
  raw: string | null,
  properties: readonly string[],
  typeName: string,
): string[] | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  const byLower = lowerCaseIndex(properties);
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (!name) continue;
    const canonical = byLower.get(name.toLowerCase());
    if (!canonical)
      throw badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.${typeName}'.`);
    if (!out.includes(canonical)) out.push(canonical);
  }
  return out;
}

const lowerCaseIndexes = new WeakMap<readonly string[], Map<string, string>>();

/** A type's property names by their lower-case form (built once per list: every request asks). */
function lowerCaseIndex(properties: readonly string[]): Map<string, string> {
  let index = lowerCaseIndexes.get(properties);
  if (!index) {
    index = new Map(properties.map((p) => [p.toLowerCase(), p]));
    lowerCaseIndexes.set(properties, index);
  }
  return index;
}

/** Copies the selected properties (always `id`) of an object, in the order asked. */
export function project(source: object, selected: readonly string[]): Record<string, unknown> {
  const values = source as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (!selected.includes('id')) out.id = values.id;
  for (const property of selected) out[property] = values[property];
  return out;
}

/** `$top`: 1…max, as Graph checks it. */
export function parseTop(raw: string | null, max = 999): number | undefined {
  if (raw === null) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and ${max} inclusive.`);
  }
  return value;
}

/** `Prefer: odata.maxpagesize=N` (among other preferences). */
export function preferredPageSize(prefer: string | undefined, max = 999): number | undefined {
  if (!prefer) return undefined;
  const match = /odata\.maxpagesize\s*=\s*(\d+)/i.exec(prefer);
  if (!match?.[1]) return undefined;
  return Math.max(1, Math.min(max, Number(match[1])));
}

// ---- $filter -------------------------------------------------------------------------------

type Literal = string | number | boolean | null;
export type FilterExpression =
  | { kind: 'compare'; operator: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'; property: string; value: Literal }
  | { kind: 'startswith'; property: string; value: string }
  | { kind: 'and' | 'or'; left: FilterExpression; right: FilterExpression }
  | { kind: 'not'; operand: FilterExpression };

interface Token {
  type: 'name' | 'string' | 'number' | 'punct';
  text: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw badRequest('Invalid filter clause: unterminated string literal.');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      tokens.push({ type: 'string', text: value });
    } else if (ch === '(' || ch === ')' || ch === ',') {
      tokens.push({ type: 'punct', text: ch });
      i++;
    } else {
      const match = /^[A-Za-z0-9_.:\-/]+/.exec(text.slice(i));
      if (!match) throw badRequest(`Invalid filter clause: unexpected '${ch}'.`);
      const word = match[0];
      tokens.push({ type: /^-?\d+(\.\d+)?$/.test(word) ? 'number' : 'name', text: word });
      i += word.length;
    }
  }
  return tokens;
}

/** Parses the $filter subset: comparisons, startswith(), and, or, not, parentheses. */
export function parseFilter(raw: string, properties: readonly string[], typeName: string): FilterExpression {
  const tokens = tokenize(raw);
  let pos = 0;
  const byLower = new Map(properties.map((p) => [p.toLowerCase(), p]));
  const peek = (): Token | undefined => tokens[pos];
  const take = (): Token => {
    const token = tokens[pos++];
    if (!token) throw badRequest('Invalid filter clause: the expression ends too early.');
    return token;
  };
  const expect = (text: string): void => {
    const token = take();
    if (token.text !== text)
      throw badRequest(`Invalid filter clause: expected '${text}' but found '${token.text}'.`);
  };
  const property = (name: string): string => {
    const canonical = byLower.get(name.toLowerCase());
    if (!canonical)
      throw badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.${typeName}'.`);
    return canonical;
  };
  const literal = (): Literal => {
    const token = take();
    if (token.type === 'string') return token.text;
    if (token.type === 'number') return Number(token.text);
    if (token.type === 'name') {
      const lower = token.text.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      if (lower === 'null') return null;
      // Unquoted GUIDs and date-times are valid literals in OData.
      if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(token.text))
        return token.text;
      if (/^\d{4}-\d{2}-\d{2}T/.test(token.text)) return token.text;
    }
    throw badRequest(`Invalid filter clause: '${token.text}' is not a literal.`);
  };
  const primary = (): FilterExpression => {
    const token = take();
    if (token.text === '(') {
      const inner = orExpression();
      expect(')');
      return inner;
    }
    if (token.type !== 'name') throw badRequest(`Invalid filter clause: unexpected '${token.text}'.`);
    const lower = token.text.toLowerCase();
    if (lower === 'not') return { kind: 'not', operand: primary() };
    if (lower === 'startswith') {
      expect('(');
      const name = property(take().text);
      expect(',');
      const value = literal();
      expect(')');
      if (typeof value !== 'string') throw badRequest('Invalid filter clause: startswith needs a string.');
      return { kind: 'startswith', property: name, value };
    }
    const name = property(token.text);
    const operator = take().text.toLowerCase();
    if (!['eq', 'ne', 'gt', 'ge', 'lt', 'le'].includes(operator)) {
      throw new GraphError(
        400,
        'Request_UnsupportedQuery',
        `Unsupported or invalid query filter clause specified for property '${name}' of resource '${typeName[0]?.toUpperCase()}${typeName.slice(1)}'.`,
      );
    }
    return { kind: 'compare', operator: operator as 'eq', property: name, value: literal() };
  };
  const andExpression = (): FilterExpression => {
    let left = primary();
    while (peek()?.text.toLowerCase() === 'and') {
      take();
      left = { kind: 'and', left, right: primary() };
    }
    return left;
  };
  const orExpression = (): FilterExpression => {
    let left = andExpression();
    while (peek()?.text.toLowerCase() === 'or') {
      take();
      left = { kind: 'or', left, right: andExpression() };
    }
    return left;
  };
  const expression = orExpression();
  if (pos < tokens.length)
    throw badRequest(`Invalid filter clause: unexpected '${tokens[pos]?.text ?? ''}'.`);
  return expression;
}

function compare(a: unknown, b: Literal): number {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase().localeCompare(b.toLowerCase());
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (a === b) return 0;
  return Number.NaN;
}

export function matchesFilter(item: object, expression: FilterExpression): boolean {
  const values = item as Record<string, unknown>;
  switch (expression.kind) {
    case 'and':
      return matchesFilter(item, expression.left) && matchesFilter(item, expression.right);
    case 'or':
      return matchesFilter(item, expression.left) || matchesFilter(item, expression.right);
    case 'not':
      return !matchesFilter(item, expression.operand);
    case 'startswith': {
      const value = values[expression.property];
      return typeof value === 'string' && value.toLowerCase().startsWith(expression.value.toLowerCase());
    }
    case 'compare': {
      const value = values[expression.property];
      if (expression.value === null || value === null || value === undefined) {
        const equal = (value ?? null) === expression.value;
        if (expression.operator === 'eq') return equal;
        if (expression.operator === 'ne') return !equal;
        return false;
      }
      const order = compare(value, expression.value);
      switch (expression.operator) {
        case 'eq':
          return order === 0;
        case 'ne':
          return order !== 0;
        case 'gt':
          return order > 0;
        case 'ge':
          return order >= 0;
        case 'lt':
          return order < 0;
        case 'le':
          return order <= 0;
      }
    }
  }
  return false;
}

/** `deviceId eq '…'` (alone): answered from the index instead of a scan. */
export function equalityOn(expression: FilterExpression, property: string): string | undefined {
  if (expression.kind === 'compare' && expression.operator === 'eq' && expression.property === property) {
    return typeof expression.value === 'string' ? expression.value : undefined;
  }
  return undefined;
}

// ---- $expand -------------------------------------------------------------------------------

export interface ExpandItem {
  relation: string;
  select?: string;
}

/** `registeredOwners($select=id,onPremisesSecurityIdentifier),registeredUsers`. */
export function parseExpand(raw: string | null, relations: readonly string[]): ExpandItem[] {
  if (raw === null || raw.trim() === '') return [];
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of raw) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      items.push(current);
      current = '';
    } else current += ch;
  }
  items.push(current);
  const byLower = new Map(relations.map((r) => [r.toLowerCase(), r]));
  return items.map((item) => {
    const match = /^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$/.exec(item);
    const relation = match?.[1] ? byLower.get(match[1].toLowerCase()) : undefined;
    if (!match || !relation)
      throw badRequest(
        `Parsing OData Select and Expand failed: Could not find a property named '${item.trim()}'.`,
      );
    const options = match[2] ?? '';
    const select = /\$select=([^;]*)/i.exec(options)?.[1];
    return select === undefined ? { relation } : { relation, select };
  });
}

// ---- opaque tokens --------------------------------------------------------------------------

export function encodeToken(state: object): string {
  return Buffer.from(JSON.stringify(state), 'utf8').toString('base64url');
}

export function decodeToken<T>(token: string): T | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    return value && typeof value === 'object' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Query string to URLSearchParams with OData's '+' = space. */
export function parseQueryString(search: string): URLSearchParams {
  return new URLSearchParams(search.startsWith('?') ? search.slice(1) : search);
}

/** Builds `?a=b&c=d` keeping `$` and `,` readable, as Graph's own links do. */
export function buildQuery(params: [string, string][]): string {
  if (params.length === 0) return '';
  const encode = (v: string): string => encodeURIComponent(v).replace(/%24/g, '$').replace(/%2C/g, ',');
  return `?${params.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')}`;
}
