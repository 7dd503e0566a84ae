// The README is the door: small enough to read (≤ 15 KB), every command listed, every page of docs/
// reachable from it; and no link of README.md or docs/*.md leads nowhere (file, heading or anchor).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import {
  anchorsOf,
  documentationPages,
  isExternal,
  linksOf,
  readPage,
  repoRoot,
  withoutCode,
} from './markdown.js';

const README_LIMIT = 15 * 1024;

describe('README.md', () => {
  it(`stays at most ${README_LIMIT} bytes: details belong in docs/`, () => {
    const size = statSync(path.join(repoRoot, 'README.md')).size;
    expect(
      size,
      'README.md is too long: move the details to a page of docs/ and link it',
    ).toBeLessThanOrEqual(README_LIMIT);
  });

  it('lists every command of the CLI in its command table', async () => {
    const readme = readPage('README.md');
    const listed = new Set([...readme.matchAll(/^\|\s*`([a-z][a-z-]*)[^`]*`\s*\|/gm)].map((m) => m[1]!));
    const commands = (await buildProgram()).commands.map((c) => c.name());
    expect(commands.length).toBeGreaterThan(5);
    expect(
      commands.filter((c) => !listed.has(c)),
      'add the command to the table of "Commands" in README.md',
    ).toEqual([]);
  });

  it('links every page of docs/', () => {
    const linked = new Set(
      linksOf(readPage('README.md'))
        .map((l) => l.target.split('#')[0]!)
        .filter((t) => t.startsWith('docs/')),
    );
    const pages = documentationPages().filter((p) => p.startsWith('docs/'));
    expect(pages.length).toBeGreaterThan(5);
    expect(pages.filter((p) => !linked.has(p))).toEqual([]);
  });

  it('quick start: `npm run demo` and `npm test` are scripts of package.json', () => {
    const pkg = JSON.parse(readPage('package.json')) as { scripts: Record<string, string> };
    const readme = readPage('README.md');
    expect(readme).toMatch(/^npm run demo\b/m);
    expect(readme).toMatch(/^npm test\b/m);
    expect(Object.keys(pkg.scripts)).toEqual(expect.arrayContaining(['demo', 'test', 'docs']));
  });
});

describe('links in README.md and docs/*.md', () => {
  const pages = documentationPages();
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (page: string): Set<string> => {
    let set = anchors.get(page);
    if (!set) anchors.set(page, (set = anchorsOf(readPage(page))));
    return set;
  };

  it.each(pages)('%s: every relative link names an existing file, heading or anchor', (page) => {
    const broken: string[] = [];
    for (const { target, line } of linksOf(readPage(page))) {
      if (isExternal(target)) continue;
      const [file = '', fragment] = target.split('#');
      const resolved =
        file === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), file));
      if (resolved.startsWith('..') || !existsSync(path.join(repoRoot, resolved))) {
        broken.push(`${page}:${line}: ${target} (no file ${resolved})`);
        continue;
      }
      if (fragment === undefined) continue;
      if (!resolved.endsWith('.md')) {
        broken.push(`${page}:${line}: ${target} (an anchor into a file that is not Markdown)`);
        continue;
      }
      if (!anchorsIn(resolved).has(decodeURIComponent(fragment)))
        broken.push(`${page}:${line}: ${target} (no heading or anchor "#${fragment}" in ${resolved})`);
    }
    expect(broken).toEqual([]);
  });

  it('the link reader sees what a reader sees', () => {
    const sample = [
      '# Getting `started`: the demo (2 minutes)',
      '## Getting started: the demo (2 minutes)',
      '<a id="ad.connect"></a>',
      'See [the demo](getting-started.md#the-demo) and ![shot](console.png "title").',
      '`[not a link](nowhere.md)`',
      '```sh',
      '[nor this](nowhere.md)',
      '# not a heading',
      '```',
      '[ref]: operating.md#metrics',
    ].join('\n');
    expect([...anchorsOf(sample)]).toEqual([
      'getting-started-the-demo-2-minutes',
      'getting-started-the-demo-2-minutes-1',
      'ad.connect',
    ]);
    expect(linksOf(sample).map((l) => l.target)).toEqual([
      'getting-started.md#the-demo',
      'console.png',
      'operating.md#metrics',
    ]);
    expect(withoutCode(sample)).not.toContain('nowhere');
  });
});

describe('pages the code sends users to', () => {
  it('every docs/<page>.md named in src/ exists', () => {
    const files = readdirSync(path.join(repoRoot, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    const named = new Set<string>();
    for (const file of files)
      for (const m of readPage(`src/${file}`).matchAll(/\bdocs\/[a-z0-9-]+\.md\b/g)) named.add(m[0]);
    expect(named.size).toBeGreaterThan(0);
    expect([...named].filter((page) => !existsSync(path.join(repoRoot, page)))).toEqual([]);
  });
});
