#!/usr/bin/env node
// Prints the README's table of error codes from the one registry (src/errors.ts, built to dist/),
// so the documentation cannot drift from the code: `node scripts/error-table.mjs`.
import { errorCatalog } from '../dist/errors.js';
import { deviceErrorCatalog } from '../dist/sync/attribute-flow.js';

const cell = (s) => String(s).replace(/\|/g, '\\|');
console.log('| code | exit | what to do |\n|---|---|---|');
for (const [code, def] of Object.entries(errorCatalog))
  console.log(`| \`${code}\` | ${def.exit} | ${cell(def.fix)} |`);
console.log(
  '\nPer-device codes (the device is quarantined, the rest of the pass goes on, `sync` exits 3):\n',
);
console.log('| code | meaning |\n|---|---|');
for (const [code, text] of Object.entries(deviceErrorCatalog)) console.log(`| \`${code}\` | ${cell(text)} |`);
