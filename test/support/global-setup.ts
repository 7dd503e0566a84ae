// Provisions the template forests once per test run (2012 R2 and 2008 R2 schemas, in parallel) and,
// at the end, stops every DC and removes every loopback address the run added, even after failures.
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { missingPrerequisites, provisionTemplate, sweep } from '../../src/lab/samba.js';

declare module 'vitest' {
  export interface ProvidedContext {
    sambaRoot: string;
    sambaUnavailable: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = path.join(os.tmpdir(), `dwb-test-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const missing = missingPrerequisites();
  let unavailable = '';
  if (missing.length > 0) unavailable = `missing: ${missing.join(', ')}`;
  else if (process.getuid?.() !== 0) unavailable = 'Samba AD DC tests need root (loopback addresses, samba)';
  if (!unavailable) {
    const started = Date.now();
    await Promise.all([
      provisionTemplate(path.join(root, 'template-2012_R2'), '2012_R2'),
      provisionTemplate(path.join(root, 'template-2008_R2'), '2008_R2'),
    ]);
    console.log(
      `[samba] templates provisioned in ${((Date.now() - started) / 1000).toFixed(1)} s under ${root}`,
    );
  }
  project.provide('sambaRoot', root);
  project.provide('sambaUnavailable', unavailable);
  return async () => {
    await sweep(path.join(root, 'dcs'));
    rmSync(root, { recursive: true, force: true });
  };
}
