// Helpers for the forest preparation and check tests: a configuration file for a lab DC with the
// connector as ad.bindDn, the CLI run as a stranger would run it, and a raw ldapsearch dump of the
// whole directory (domain and configuration partitions, every attribute and security descriptor).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AdConnection } from '../../src/ad/connection.js';
import type { SambaDc } from '../../src/lab/samba.js';
import { runCli, type CliResult } from './cli.js';
import { ldapsearch, type LabUser } from './samba.js';

export interface LabConfig {
  dir: string;
  file: string;
  /** The environment a user would set: the connector's and the admin's passwords. */
  env: Record<string, string>;
}

export function writeLabConfig(
  dc: SambaDc,
  connector: LabUser,
  options: { yaml?: string; caFile?: string; password?: string; domain?: string | null } = {},
): LabConfig {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-prepare-'));
  const file = path.join(dir, 'device-writeback.yaml');
  const domain = options.domain === undefined ? dc.forest.domain : options.domain;
  writeFileSync(
    file,
    options.yaml ??
      `ad:
  url: ${dc.url}
  bindDn: "${connector.dn}"
  password: { env: DWB_AD_PASSWORD }
  caFile: ${options.caFile ?? dc.caFile}
${domain ? `  domain: ${domain}\n` : ''}state:
  sqlite: ${path.join(dir, 'state.db')}
`,
  );
  return {
    dir,
    file,
    env: { DWB_AD_PASSWORD: options.password ?? connector.password, DWB_ADMIN_PASSWORD: dc.adminPassword },
  };
}

/** Runs `device-writeback <args> --config <file>` with the lab's environment (plus overrides). */
export function dwb(config: LabConfig, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli([...args, '--config', config.file], { env: { ...config.env, DWB_CONFIG: '', ...env } });
}

export interface CheckJson {
  ok: boolean;
  checks: {
    id: string;
    title: string;
    status: 'pass' | 'warn' | 'fail' | 'skip';
    detail: string;
    fix: string;
    code: string | null;
  }[];
}

export async function checkJson(
  config: LabConfig,
  env: Record<string, string> = {},
): Promise<{ result: CliResult; report: CheckJson }> {
  const result = await dwb(config, ['check', '--json'], env);
  return { result, report: JSON.parse(result.stdout) as CheckJson };
}

export function byId(report: CheckJson, id: string): CheckJson['checks'][number] {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${JSON.stringify(report)}`);
  return found;
}

/** Every entry of the domain and configuration partitions with all attributes, as ldapsearch prints them. */
export async function dumpDirectory(dc: SambaDc): Promise<string> {
  const attrs = ['*', '+', 'nTSecurityDescriptor'];
  return (
    (await ldapsearch(dc, dc.forest.domainDn, attrs)) + (await ldapsearch(dc, dc.forest.configDn, attrs))
  );
}

export function sessionAs(dc: SambaDc, user: { dn: string; password: string }): Promise<AdConnection> {
  return AdConnection.open(
    { url: dc.url, startTls: false, caFile: dc.caFile, insecureSkipVerify: false, timeoutSeconds: 20 },
    { user: user.dn, password: user.password },
  );
}

/** Asserts that no secret of the lab appears in a CLI run's output. */
export function leakedSecrets(result: CliResult, secrets: string[]): string[] {
  return secrets.filter((s) => result.stdout.includes(s) || result.stderr.includes(s));
}
