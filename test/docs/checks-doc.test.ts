// docs/checks.md has one section per check id, each opened by an explicit <a id="<check id>">, in
// the order `check` runs them: every check of the code is documented and every documented one exists.
import { describe, expect, it } from 'vitest';
import { checks } from '../../src/checks/index.js';
import { explicitAnchors, readPage } from './markdown.js';

describe('docs/checks.md', () => {
  const page = readPage('docs/checks.md');
  const documented = explicitAnchors(page);
  const ids = checks.map((c) => c.id);

  it('has an anchor for every check id of src/checks', () => {
    expect(ids.length).toBeGreaterThan(5);
    expect(
      ids.filter((id) => !documented.includes(id)),
      'document the new check in docs/checks.md under <a id="<check id>"></a>',
    ).toEqual([]);
  });

  it('documents no check that the code does not have', () => {
    expect(
      documented.filter((id) => !ids.includes(id)),
      'this anchor names no check of src/checks/index.ts: remove or rename its section',
    ).toEqual([]);
  });

  it('lists the checks once each, in the order `check` runs them', () => {
    expect(documented).toEqual(ids);
  });

  it('opens each section with its anchor, then a heading naming the id', () => {
    for (const id of ids) {
      const escaped = id.replace(/\./g, '\\.');
      expect(page, id).toMatch(new RegExp(`<a id="${escaped}"></a>\\n+#{2,4} \`${escaped}\``));
    }
  });
});
