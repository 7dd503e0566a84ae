// docs/errors.md is generated from the error registry (src/errors.ts) and the per-device codes, and
// checked both ways: every code of the code is documented, every code a page names exists.
import { describe, expect, it } from 'vitest';
import { errorsPage } from '../../scripts/errors-doc.mjs';
import { errorCatalog } from '../../src/errors.js';
import { deviceErrorCatalog } from '../../src/sync/attribute-flow.js';
import { documentationPages, explicitAnchors, readPage } from './markdown.js';

const registry = [...Object.keys(errorCatalog), ...Object.keys(deviceErrorCatalog)];

/** Environment variables the documentation names; they share the DWB_ prefix but are not codes. */
const environmentVariables = new Set([
  'DWB_CONFIG',
  'DWB_ADMIN_USER',
  'DWB_ADMIN_PASSWORD',
  'DWB_AD_PASSWORD',
  // docs/several-forests.md's example configuration names one password variable per forest
  'DWB_CORP_PASSWORD',
  'DWB_FABRIKAM_PASSWORD',
  // init-ad's per-forest admin variables (DWB_ADMIN_USER + _<NAME>), as the demo sets them
  'DWB_ADMIN_USER_CORP',
  'DWB_ADMIN_PASSWORD_CORP',
  'DWB_ADMIN_USER_FABRIKAM',
  'DWB_ADMIN_PASSWORD_FABRIKAM',
  'DWB_CLIENT_SECRET',
  'DWB_WEB_TOKEN',
  'DWB_POSTGRES_URL',
  'DWB_EMULATOR_TENANT_ID',
  'DWB_EMULATOR_CLIENT_ID',
  'DWB_EMULATOR_CLIENT_SECRET',
]);

describe('docs/errors.md', () => {
  const page = readPage('docs/errors.md');

  it('is what `npm run docs` generates from the registry (not edited by hand)', async () => {
    const regenerated = await errorsPage(page, errorCatalog, deviceErrorCatalog);
    expect(page, 'docs/errors.md is out of date: run npm run docs').toBe(regenerated);
  });

  it('documents every code of the registry, under an anchor of its own', () => {
    const anchors = explicitAnchors(page);
    expect(registry.filter((code) => !anchors.includes(code))).toEqual([]);
  });

  it('documents no code the registry does not have', () => {
    const named = new Set(page.match(/\bDWB_[A-Z0-9_]+\b/g) ?? []);
    expect([...named].filter((n) => !registry.includes(n) && !environmentVariables.has(n))).toEqual([]);
    expect(explicitAnchors(page).filter((code) => !registry.includes(code))).toEqual([]);
  });
});

describe('error codes named anywhere in the documentation', () => {
  it.each(documentationPages())('%s names only codes of the registry', (file) => {
    const named = new Set(readPage(file).match(/\bDWB_[A-Z0-9_]+\b/g) ?? []);
    expect(
      [...named].filter((n) => !registry.includes(n) && !environmentVariables.has(n)),
      'not a code of src/errors.ts (if it is an environment variable, list it in this test)',
    ).toEqual([]);
  });
});
