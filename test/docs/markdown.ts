// Reading the documentation as a reader's browser would: the pages (README.md and docs/*.md), the
// anchors a page offers (GitHub's heading ids and explicit <a id>), and the links it makes, with
// code blocks and code spans left out (a link in an example is not a link).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** README.md and every page of docs/, as paths relative to the repository. */
export function documentationPages(): string[] {
  const docs = readdirSync(path.join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

export function readPage(relative: string): string {
  return readFileSync(path.join(repoRoot, relative), 'utf8');
}

/** The text without fenced code blocks and code spans (their content is not Markdown). */
export function withoutCode(markdown: string): string {
  const prose: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      prose.push('');
      continue;
    }
    if (marker) {
      fence = marker;
      prose.push('');
      continue;
    }
    prose.push(line.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, ''));
  }
  return prose.join('\n');
}

/** GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .replace(/<[^>]+>/g, '')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every fragment a link may name on this page: heading ids (with GitHub's -1, -2 for repeats) and explicit ids. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const fenced = withoutFences(markdown);
  for (const line of fenced.split('\n')) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = headingSlug(heading);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  for (const m of fenced.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  return anchors;
}

/** Explicit `<a id="…">` anchors only, in page order. */
export function explicitAnchors(markdown: string): string[] {
  return [...withoutFences(markdown).matchAll(/<a\s+id="([^"]+)"\s*>/g)].map((m) => m[1]!);
}

function withoutFences(markdown: string): string {
  let fence: string | undefined;
  return markdown
    .split('\n')
    .map((line) => {
      const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence) {
        if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
        return '';
      }
      if (marker) fence = marker;
      return marker ? '' : line;
    })
    .join('\n');
}

export interface Link {
  target: string;
  line: number;
}

/** Links and images of the page's prose: inline, reference definitions, and HTML src/href. */
export function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  withoutCode(markdown)
    .split('\n')
    .forEach((text, i) => {
      const line = i + 1;
      for (const m of text.matchAll(/!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        links.push({ target: m[1]!, line });
      const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+["'(].*)?$/.exec(text);
      if (definition) links.push({ target: definition[1]!, line });
      for (const m of text.matchAll(/\b(?:href|src)="([^"]+)"/g)) links.push({ target: m[1]!, line });
    });
  return links;
}

export const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);
