// The generated part of docs/errors.md: every code of the one error registry (src/errors.ts) and
// every per-device quarantine code, so that the page cannot drift from the code. Pure: it takes the
// catalogs; scripts/docs.mjs passes the built ones, test/docs/errors-doc.test.ts the sources.
import { formatMarkdown, prose, replaceGenerated } from './generated-section.mjs';

/** An anchor per code, so that other pages can link to docs/errors.md#DWB_… . */
const anchored = (code) => `<a id="${code}"></a>\`${code}\``;

export function renderErrorTables(errorCatalog, deviceErrorCatalog) {
  const lines = [
    '## Error codes',
    '',
    '| code | exit | what to do |',
    '| --- | --- | --- |',
    ...Object.entries(errorCatalog).map(
      ([code, def]) => `| ${anchored(code)} | ${def.exit} | ${prose(def.fix)} |`,
    ),
    '',
    '## Per-device codes',
    '',
    'The device is quarantined with the code and a message, the rest of the pass goes on, and `sync` exits 3.',
    '',
    '| code | meaning |',
    '| --- | --- |',
    ...Object.entries(deviceErrorCatalog).map(([code, text]) => `| ${anchored(code)} | ${prose(text)} |`),
  ];
  return lines.join('\n');
}

/** docs/errors.md with its generated section brought up to date. */
export async function errorsPage(page, errorCatalog, deviceErrorCatalog) {
  const generated = renderErrorTables(errorCatalog, deviceErrorCatalog);
  return formatMarkdown(replaceGenerated(page, generated), 'docs/errors.md');
}
