#!/usr/bin/env node
// `npm run docs`: regenerates the generated sections of docs/configuration.md (from the zod schema
// of src/config/schema.ts) and docs/errors.md (from the error registry), from the built code in
// dist/ (`npm run docs` builds first). `--check` changes nothing and exits 1 when a page is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { configurationPage } from './config-doc.mjs';
import { errorsPage } from './errors-doc.mjs';

const root = new URL('../', import.meta.url);
const { configSchema } = await import(new URL('dist/config/schema.js', root).href);
const { errorCatalog } = await import(new URL('dist/errors.js', root).href);
const { deviceErrorCatalog } = await import(new URL('dist/sync/attribute-flow.js', root).href);

const pages = {
  'docs/configuration.md': (page) => configurationPage(page, configSchema),
  'docs/errors.md': (page) => errorsPage(page, errorCatalog, deviceErrorCatalog),
};

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, render] of Object.entries(pages)) {
  const url = new URL(file, root);
  const before = readFileSync(url, 'utf8');
  const after = await render(before);
  if (after === before) {
    console.log(`${file}: up to date`);
  } else if (check) {
    console.log(`${file}: out of date (run npm run docs)`);
    stale++;
  } else {
    writeFileSync(url, after);
    console.log(`${file}: regenerated`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
