// docs/configuration.md is generated from the zod schema (src/config/schema.ts), descriptions
// included; the generator walks the schema, so keys added later (lists, nested objects) appear
// without a change to it.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  configJsonSchema,
  configKeys,
  configurationPage,
  renderConfigReference,
} from '../../scripts/config-doc.mjs';
import { configSchema } from '../../src/config/schema.js';
import { readPage } from './markdown.js';

describe('docs/configuration.md', () => {
  const page = readPage('docs/configuration.md');

  it('is what `npm run docs` generates from the schema', async () => {
    const regenerated = await configurationPage(page, configSchema);
    expect(page, 'docs/configuration.md is out of date: run npm run docs').toBe(regenerated);
  });

  it('has a description for every key, written in the schema', () => {
    const keys = configKeys(configJsonSchema(configSchema));
    expect(keys.map((k) => k.key)).toEqual(
      expect.arrayContaining(['ad.url', 'entra.clientSecret', 'web.token']),
    );
    expect(
      keys.filter((k) => k.description.trim() === '').map((k) => k.key),
      'add .meta({ description }) to these keys in src/config/schema.ts, then run npm run docs',
    ).toEqual([]);
  });

  it('shows every key with its full path, type and default', () => {
    for (const { key } of configKeys(configJsonSchema(configSchema))) {
      // Top-level objects are the sections; every other key is a row of its section's table.
      if (/[.[]/.test(key)) expect(page).toContain(`| \`${key}\``);
      else expect(page).toMatch(new RegExp(`### \`${key}(\\[\\])?\``));
    }
    expect(page).toMatch(/\| `writeback\.deleteThreshold` +\| integer ≥ 0 +\| `500` +\|/);
    expect(page).toMatch(/\| `ad\.password` +\| secret +\| required +\|/);
    expect(page).toMatch(/\| `web\.listen` +\| string +\| `127\.0\.0\.1:8080` +\|/);
  });
});

describe('the configuration reference generator', () => {
  // A schema shaped like what is coming (several forests, scope rules), to show that the generator
  // needs no change for lists of objects and nested objects.
  const secret = z.strictObject({ env: z.string() }).meta({ title: 'secret' });
  const ad = z.strictObject({
    url: z.string().meta({ description: 'a domain controller' }),
    password: secret.meta({ description: 'its password' }),
  });
  const future = z.strictObject({
    ad: ad.optional().meta({ description: 'one forest' }),
    forests: z
      .array(z.strictObject({ name: z.string().meta({ description: 'a label' }), ad }))
      .optional()
      .meta({ description: 'several forests' }),
    writeback: z
      .strictObject({
        deleteWindowSeconds: z.number().int().positive().default(3600).meta({ description: 'window' }),
        scope: z
          .strictObject({
            operatingSystems: z.array(z.string()).optional().meta({ description: 'OS names' }),
            managedOnly: z.boolean().default(false).meta({ description: 'managed only' }),
          })
          .prefault({})
          .meta({ description: 'scope rules' }),
      })
      .prefault({}),
  });

  it('walks lists of objects and nested objects', () => {
    const keys = configKeys(configJsonSchema(future));
    expect(keys.map((k) => k.key)).toEqual([
      'ad',
      'ad.url',
      'ad.password',
      'forests',
      'forests[].name',
      'forests[].ad',
      'forests[].ad.url',
      'forests[].ad.password',
      'writeback',
      'writeback.deleteWindowSeconds',
      'writeback.scope',
      'writeback.scope.operatingSystems',
      'writeback.scope.managedOnly',
    ]);
    const byKey = new Map(keys.map((k) => [k.key, k]));
    expect(byKey.get('forests[].ad.password')).toMatchObject({ type: 'secret', default: 'required' });
    expect(byKey.get('writeback.deleteWindowSeconds')).toMatchObject({
      type: 'integer > 0',
      default: '`3600`',
    });
    expect(byKey.get('writeback.scope.operatingSystems')).toMatchObject({
      type: 'list of string',
      default: '—',
    });
  });

  it('gives each top-level object or list its own section', () => {
    const text = renderConfigReference(configJsonSchema(future));
    expect(text).toContain('### `forests[]`');
    expect(text).toContain('| `forests[].ad.url` ');
    expect(text).toContain('| `writeback.scope.managedOnly` | boolean | `false` | managed only |');
  });
});
