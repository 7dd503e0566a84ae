// The architecture, kept by a test: the import graph of src/ has no cycle, only src/ad/ imports
// ldapts, and no SQL is written outside src/state/ (see docs/architecture.md).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');

function sources(dir = SRC): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

const files = sources();
const rel = (file: string): string => path.relative(SRC, file);

/** Every module a file imports (static, type-only and dynamic), as specifiers. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\bfrom\s+'([^']+)'|\bimport\s*\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm))
    found.push((m[1] ?? m[2] ?? m[3])!);
  return found;
}

function graph(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const targets = specifiers(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => rel(path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts'))));
    edges.set(rel(file), targets);
  }
  return edges;
}

/** The cycles of a directed graph (Tarjan's strongly connected components of more than one node). */
function cycles(edges: Map<string, string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    indexOf.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, indexOf.get(next)!));
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (edges.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!indexOf.has(node)) visit(node);
  return found;
}

describe('architecture', () => {
  it('the import graph of src/ has no cycle', () => {
    expect(cycles(graph())).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const edges = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(edges)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('only src/ad/ imports ldapts', () => {
    const offenders = files.filter(
      (f) => !rel(f).startsWith(`ad${path.sep}`) && specifiers(readFileSync(f, 'utf8')).includes('ldapts'),
    );
    expect(offenders.map(rel)).toEqual([]);
  });

  it('no SQL outside src/state/', () => {
    const sql = /SELECT |INSERT |UPDATE |CREATE (TABLE|INDEX)/;
    const offenders = files.filter(
      (f) => !rel(f).startsWith(`state${path.sep}`) && sql.test(readFileSync(f, 'utf8')),
    );
    expect(offenders.map(rel)).toEqual([]);
  });

  it('no database handle outside src/state/', () => {
    const offenders = files.filter(
      (f) =>
        !rel(f).startsWith(`state${path.sep}`) && /better-sqlite3|from 'pg'/.test(readFileSync(f, 'utf8')),
    );
    expect(offenders.map(rel)).toEqual([]);
  });
});
