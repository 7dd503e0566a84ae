// Test harness for a real Samba AD DC: each test file starts its own DC(s) from the run's template,
// on its own loopback address, and stops them afterwards (the global teardown sweeps leftovers).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, inject } from 'vitest';
import type { AdConnection } from '../../src/ad/connection.js';
import { adminSession, createUser, type LabUser } from '../../src/lab/directory.js';
import { readTemplate, startDc, type SambaDc, type SchemaVersion } from '../../src/lab/samba.js';

const run = promisify(execFile);

export type { SambaDc, LabUser };

export async function startTestDc(schema: SchemaVersion = '2012_R2'): Promise<SambaDc> {
  const unavailable = inject('sambaUnavailable');
  if (unavailable) {
    throw new Error(
      `Samba AD DC tests cannot run here: ${unavailable}. Run "npm test" as root so that it installs them.`,
    );
  }
  const root = inject('sambaRoot');
  const template = readTemplate(path.join(root, `template-${schema}`));
  return startDc(template, { workDir: path.join(root, 'dcs') });
}

/**
 * Starts a DC before the tests of the file and stops it after them. Returns a getter-backed
 * object so that tests read `lab.dc` once beforeAll has run.
 */
export function useDc(schema: SchemaVersion = '2012_R2'): { dc: SambaDc; admin: AdConnection } {
  const holder = {} as { dc: SambaDc; admin: AdConnection };
  beforeAll(async () => {
    holder.dc = await startTestDc(schema);
    holder.admin = await adminSession(holder.dc);
  });
  afterAll(async () => {
    await holder.admin?.close();
    await holder.dc?.stop();
  });
  return holder;
}

export async function addUser(
  lab: { dc: SambaDc; admin: AdConnection },
  name: string,
  password: string,
): Promise<LabUser> {
  return createUser(lab.admin, lab.dc, name, password);
}

/** `ldapsearch` as Administrator over LDAPS: the raw tool, for comparisons that do not trust our code. */
export async function ldapsearch(dc: SambaDc, base: string, args: string[] = []): Promise<string> {
  const { stdout } = await run(
    'ldapsearch',
    [
      '-LLL',
      '-o',
      'ldif-wrap=no',
      '-H',
      dc.url,
      '-x',
      '-D',
      dc.adminUpn,
      '-w',
      dc.adminPassword,
      '-b',
      base,
      ...args,
    ],
    { env: { ...process.env, LDAPTLS_CACERT: dc.caFile }, maxBuffer: 256 * 1024 * 1024 },
  );
  return stdout;
}

/** samba-tool against the DC's own database (as the DC's root user would run it). */
export async function sambaTool(dc: SambaDc, args: string[]): Promise<string> {
  const { stdout } = await run(
    'samba-tool',
    [...args, '-s', path.join(dc.dir, 'etc', 'smb.conf'), '-H', path.join(dc.dir, 'private', 'sam.ldb')],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout;
}
