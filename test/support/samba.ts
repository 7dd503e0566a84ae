// Test harness for a real Samba AD DC: each test file starts its own DC(s) from the run's template,
// on its own loopback address, and stops them afterwards (the global teardown sweeps leftovers).
// Multi-forest tests start DCs of the second forest (fabrikam), whose template the first file that
// asks for it provisions, once per run.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, inject } from 'vitest';
import type { AdConnection } from '../../src/ad/connection.js';
import { adminSession, createUser, type LabUser } from '../../src/lab/directory.js';
import {
  LEASE_DIR,
  ensureTemplate,
  labForests,
  readTemplate,
  startDc,
  type LabForestName,
  type SambaDc,
  type SambaTemplate,
  type SchemaVersion,
} from '../../src/lab/samba.js';

const run = promisify(execFile);

export type { SambaDc, LabUser, LabForestName };

function sambaRoot(): string {
  const unavailable = inject('sambaUnavailable');
  if (unavailable) {
    throw new Error(
      `Samba AD DC tests cannot run here: ${unavailable}. Run "npm test" as root so that it installs them.`,
    );
  }
  return inject('sambaRoot');
}

export async function startTestDc(schema: SchemaVersion = '2012_R2'): Promise<SambaDc> {
  const root = sambaRoot();
  const template = readTemplate(path.join(root, `template-${schema}`));
  return startDc(template, { workDir: path.join(root, 'dcs') });
}

/**
 * The run's template of a lab forest (2012 R2 schema): corp is provisioned by the global setup;
 * fabrikam by the first test file that asks for it (later files, in any worker, reuse it), since
 * provisioning a third template beside the other two would slow every run down.
 */
export async function forestTemplate(name: LabForestName): Promise<SambaTemplate> {
  const root = sambaRoot();
  const corp = readTemplate(path.join(root, 'template-2012_R2'));
  if (name === 'corp') return corp;
  const template = await ensureTemplate(path.join(root, `template-${name}`), '2012_R2', labForests[name]);
  // Routing by owner SID (SPEC §8) relies on this; provisioning draws a random domain SID.
  if (template.domainSid === corp.domainSid)
    throw new Error(`the ${name} forest has the same domain SID as corp (${corp.domainSid})`);
  return template;
}

/** Starts a DC of a lab forest (corp or fabrikam) on a loopback address of its own. */
export async function startForestDc(name: LabForestName): Promise<SambaDc> {
  const template = await forestTemplate(name);
  return startDc(template, { workDir: path.join(sambaRoot(), 'dcs'), name: `dc-${name}` });
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

/** Like useDc, for a DC of the named lab forest (read `lab.dc`, `lab.admin` once beforeAll ran). */
export function useForestDc(name: LabForestName): { dc: SambaDc; admin: AdConnection } {
  const holder = {} as { dc: SambaDc; admin: AdConnection };
  beforeAll(async () => {
    holder.dc = await startForestDc(name);
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

/**
 * A stopped DC's address is gone from lo, or another DC (a parallel test file) has since claimed
 * it: an address is added only under a lease and removed before its lease is released, so an
 * address on lo without a lease would be one left behind.
 */
export function addressReleased(address: string): boolean {
  const addresses = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  if (!addresses.includes(` ${address}/`)) return true;
  return existsSync(path.join(LEASE_DIR, address.split('.').pop()!));
}

/** Processes whose command line mentions `text` (a lab's folder): none may outlive the lab. */
export function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(text)) found.push(`${entry}: ${cmdline}`);
    } catch {
      /* gone */
    }
  }
  return found;
}
