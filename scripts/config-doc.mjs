// The generated part of docs/configuration.md: every key of the configuration schema with its type,
// default and description, read from the JSON Schema that zod derives from src/config/schema.ts
// (z.toJSONSchema, io: 'input', i.e. what a user writes). Nothing here names a key: sections come
// from the top-level objects, nested objects and lists of objects are walked, so that a key added to
// the schema appears on the next `npm run docs`. Pure: takes the JSON Schema, returns Markdown.
import { z } from 'zod';
import { cell, formatMarkdown, prose, replaceGenerated } from './generated-section.mjs';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function resolver(root) {
  return (node) => {
    let seen = 0;
    while (node && typeof node.$ref === 'string' && seen++ < 32) {
      const { $ref, ...rest } = node;
      if (!$ref.startsWith('#/')) throw new Error(`unsupported $ref ${$ref}`);
      const target = $ref
        .slice(2)
        .split('/')
        .reduce((at, part) => at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], root);
      if (!target) throw new Error(`unresolved $ref ${$ref}`);
      // Keywords beside the $ref (a description, a default) describe this use and win.
      node = { ...target, ...rest };
    }
    return node ?? {};
  };
}

/** The properties of an object schema, merged across allOf / anyOf / oneOf members (first wins). */
function propertiesOf(node, deref) {
  node = deref(node);
  const properties = { ...(node.properties ?? {}) };
  const required = new Set(node.required ?? []);
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    for (const member of node[key] ?? []) {
      const inner = propertiesOf(member, deref);
      for (const [name, schema] of Object.entries(inner.properties))
        if (!(name in properties)) properties[name] = schema;
      // Required in a branch of a choice is not required overall; in allOf it is.
      if (key === 'allOf') for (const name of inner.required) required.add(name);
    }
  }
  return { properties, required: [...required] };
}

// A named type (with a title, e.g. "secret") is one value to the reader: its inside is not walked.
const isObject = (node) =>
  !node.title &&
  (node.type === 'object' ||
    node.properties !== undefined ||
    ['allOf', 'anyOf', 'oneOf'].some((k) =>
      (node[k] ?? []).some((m) => m.type === 'object' || m.properties),
    ));

const code = (value) => `\`${value}\``;

/** A default value as it would be written in YAML (flow style for lists and maps). */
function yamlValue(value) {
  if (Array.isArray(value)) return `[${value.map(yamlValue).join(', ')}]`;
  if (value && typeof value === 'object')
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${k}: ${yamlValue(v)}`)
      .join(', ')} }`.replace('{  }', '{}');
  return String(value);
}

function range(node) {
  const parts = [];
  const low = node.minimum ?? node.exclusiveMinimum;
  const high = node.maximum !== undefined && node.maximum < MAX_SAFE ? node.maximum : node.exclusiveMaximum;
  if (node.minimum !== undefined && high !== undefined && node.exclusiveMaximum === undefined)
    return `${node.minimum}–${high}`;
  if (low !== undefined) parts.push(`${node.exclusiveMinimum !== undefined ? '>' : '≥'} ${low}`);
  if (high !== undefined) parts.push(`${node.exclusiveMaximum !== undefined ? '<' : '≤'} ${high}`);
  return parts.join(', ');
}

function typeOf(node, deref) {
  node = deref(node);
  // A named type (the schema's title, e.g. "secret") is explained once on the page, by name.
  if (node.title) return node.title;
  if (node.const !== undefined) return code(yamlValue(node.const));
  if (node.enum) return `one of ${node.enum.map((v) => code(yamlValue(v))).join(', ')}`;
  for (const key of ['anyOf', 'oneOf']) {
    if (node[key]) return [...new Set(node[key].map((m) => typeOf(m, deref)))].join(' or ');
  }
  const types = Array.isArray(node.type) ? node.type : [node.type];
  const names = types.map((type) => {
    switch (type) {
      case 'string':
        return node.format === 'uri' ? 'URL' : 'string';
      case 'integer':
      case 'number': {
        const r = range(node);
        return r ? `${type} ${r}` : type;
      }
      case 'boolean':
        return 'boolean';
      case 'null':
        return 'null';
      case 'array': {
        const items = node.items ? deref(node.items) : {};
        const what = isObject(items)
          ? 'objects'
          : items.enum && !items.title
            ? items.enum.map((v) => code(yamlValue(v))).join(', ')
            : typeOf(items, deref);
        return `${node.minItems > 0 ? 'non-empty ' : ''}list of ${what}`;
      }
      case 'object': {
        const extra = node.additionalProperties;
        if (extra && typeof extra === 'object' && !node.properties) return `map of ${typeOf(extra, deref)}`;
        return 'object';
      }
      default:
        return 'any';
    }
  });
  return names.join(' or ');
}

function defaultOf(node, required) {
  if (node.default !== undefined) return code(yamlValue(node.default));
  return required ? 'required' : '—';
}

/** One row per key, depth first in schema order; objects and lists of objects are walked into. */
function rows(node, prefix, deref, out) {
  const { properties, required } = propertiesOf(node, deref);
  for (const [name, raw] of Object.entries(properties)) {
    const schema = deref(raw);
    const key = `${prefix}${name}`;
    out.push({
      key,
      type: typeOf(schema, deref),
      default: defaultOf(schema, required.includes(name)),
      description: schema.description ?? '',
    });
    if (isObject(schema)) rows(schema, `${key}.`, deref, out);
    else if (schema.type === 'array' && schema.items && isObject(deref(schema.items)))
      rows(deref(schema.items), `${key}[].`, deref, out);
  }
  return out;
}

function table(list) {
  return [
    '| key | type | default | description |',
    '| --- | --- | --- | --- |',
    ...list.map((r) => `| ${code(r.key)} | ${cell(r.type)} | ${cell(r.default)} | ${prose(r.description)} |`),
  ].join('\n');
}

/** Every key of the schema, as the rows of the page (also used by the test to find undocumented keys). */
export function configKeys(jsonSchema) {
  const deref = resolver(jsonSchema);
  return rows(jsonSchema, '', deref, []);
}

export function renderConfigReference(jsonSchema) {
  const deref = resolver(jsonSchema);
  const { properties, required } = propertiesOf(jsonSchema, deref);
  const sections = [];
  const scalars = [];
  for (const [name, raw] of Object.entries(properties)) {
    const schema = deref(raw);
    const isList = schema.type === 'array' && schema.items && isObject(deref(schema.items));
    if (!isObject(schema) && !isList) {
      scalars.push({
        key: name,
        type: typeOf(schema, deref),
        default: defaultOf(schema, required.includes(name)),
        description: schema.description ?? '',
      });
      continue;
    }
    const need = required.includes(name)
      ? 'Required.'
      : schema.default !== undefined
        ? 'Optional: every key below has a default.'
        : 'Optional.';
    const lines = [`### \`${name}${isList ? '[]' : ''}\``, ''];
    if (schema.description) lines.push(prose(schema.description), '');
    lines.push(`${isList ? 'A list of objects. ' : ''}${need}`, '');
    const body = isList
      ? rows(deref(schema.items), `${name}[].`, deref, [])
      : rows(schema, `${name}.`, deref, []);
    lines.push(table(body));
    sections.push(lines.join('\n'));
  }
  if (scalars.length > 0) sections.unshift(['### Top-level keys', '', table(scalars)].join('\n'));
  return sections.join('\n\n');
}

/** The JSON Schema of what a user writes (input side: keys with a default are optional). */
export function configJsonSchema(configSchema) {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}

/** docs/configuration.md with its generated section brought up to date. */
export async function configurationPage(page, configSchema) {
  const generated = renderConfigReference(configJsonSchema(configSchema));
  return formatMarkdown(replaceGenerated(page, generated), 'docs/configuration.md');
}
