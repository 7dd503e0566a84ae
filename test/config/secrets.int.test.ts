// Secrets and CA files as SPEC §5 wants them (issue 13, item 10), through the CLI against a real
// Samba DC: an empty secret is refused before any bind (an empty password would be an
// unauthenticated bind), a secret file must be a small regular file (/dev/zero is refused at once;
// so is `claims --cert /dev/zero`), a CA file without a certificate is a configuration error naming
// its key, and a configuration file others may write or a secret file others may read is reported.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { byId, type CheckJson } from '../support/forest.js';
import { useDc } from '../support/samba.js';

const lab = useDc();
let dir: string;

/** A configuration for the lab DC whose ad.password is `password` (YAML), written with `mode`. */
function config(options: { password?: string; caFile?: string; extra?: string; mode?: number } = {}): string {
  const file = path.join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `ad:
  url: ${lab.dc.url}
  bindDn: "${lab.dc.adminDn}"
  password: ${options.password ?? '{ env: DWB_AD_PASSWORD }'}
  caFile: ${options.caFile ?? lab.dc.caFile}
state:
  sqlite: ${path.join(dir, 'state.db')}
${options.extra ?? ''}`,
    { mode: options.mode ?? 0o600 },
  );
  chmodSync(file, options.mode ?? 0o600);
  return file;
}

function secretFile(name: string, content: string, mode = 0o600): string {
  const file = path.join(dir, name);
  writeFileSync(file, content, { mode });
  chmodSync(file, mode);
  return file;
}

function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { env: { DWB_AD_PASSWORD: lab.dc.adminPassword, DWB_CONFIG: '', ...env } });
}

async function check(
  file: string,
  env: Record<string, string> = {},
): Promise<{ r: CliResult; report: CheckJson }> {
  const r = await run(['check', '--json', '--config', file], env);
  return { r, report: JSON.parse(r.stdout) as CheckJson };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-secrets-'));
});

describe('empty secrets', () => {
  it('an empty password file is refused before any bind (check: DWB_SECRET_EMPTY; devices: exit 2)', async () => {
    const empty = secretFile('empty-password', '\n');
    const file = config({ password: `{ file: ${empty} }` });
    const { report } = await check(file);
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'fail', code: 'DWB_SECRET_EMPTY' });
    expect(byId(report, 'ad.connect').detail).toContain('ad.password');
    const devices = await run(['devices', '--config', file]);
    expect(devices.code).toBe(2);
    expect(devices.stderr).toContain('DWB_SECRET_EMPTY');
  });

  it('an environment variable set to nothing is refused the same way', async () => {
    const { report } = await check(config(), { DWB_AD_PASSWORD: '' });
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'fail', code: 'DWB_SECRET_EMPTY' });
  });
});

describe('secret and certificate files', () => {
  it('password: { file: /dev/zero } is refused at once as not a regular file (exit 2)', async () => {
    const file = config({ password: '{ file: /dev/zero }' });
    const devices = await run(['devices', '--config', file]);
    expect(devices.code).toBe(2);
    expect(devices.stderr).toContain('DWB_SECRET_FILE_INVALID');
    expect(devices.stderr).toContain('ad.password: /dev/zero is a character device, not a regular file');
  });

  it('a secret file over 64 KiB is refused', async () => {
    const big = secretFile('big-password', 'x'.repeat(64 * 1024 + 1));
    const { report } = await check(config({ password: `{ file: ${big} }` }));
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'fail', code: 'DWB_SECRET_FILE_INVALID' });
  });

  it('claims --cert /dev/zero is refused at once (exit 2)', async () => {
    const r = await run(['claims', '--cert', '/dev/zero', '--config', config()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--cert /dev/zero is a character device, not a regular file');
  });

  it('an ad.caFile (or entra.caFile) that holds no certificate is a configuration error naming the key', async () => {
    const notCa = secretFile(
      'not-a-ca.pem',
      '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
      0o644,
    );
    const file = config({ caFile: notCa });
    const devices = await run(['devices', '--config', file]);
    expect(devices.code).toBe(2);
    expect(devices.stderr).toContain(`DWB_CONFIG_INVALID: ad.caFile: ${notCa} holds no PEM certificate.`);
    expect(devices.stderr).not.toContain('DWB_AD_TLS_FAILED');
    const { report } = await check(file);
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'fail', code: 'DWB_CONFIG_INVALID' });

    const entra = config({
      extra: `entra:\n  tenantId: t\n  clientId: c\n  clientSecret: { env: DWB_AD_PASSWORD }\n  graphUrl: https://127.0.0.1:1\n  authorityHost: https://127.0.0.1:1\n  caFile: ${notCa}\n`,
    });
    const { report: entraReport } = await check(entra);
    expect(byId(entraReport, 'entra.connect')).toMatchObject({ status: 'fail', code: 'DWB_CONFIG_INVALID' });
    expect(byId(entraReport, 'entra.connect').detail).toContain(
      `entra.caFile: ${notCa} holds no PEM certificate`,
    );
  });
});

describe('file permissions', () => {
  it('warns when the configuration file is writable by other users', async () => {
    const { r } = await check(config({ mode: 0o666 }));
    expect(r.stderr).toContain('is writable by other users (mode 0666)');
    const { r: quiet } = await check(config({ mode: 0o640 }));
    expect(quiet.stderr).not.toContain('writable by other users');
  });

  it('warns when a secret file is readable by other users, and works', async () => {
    const open = secretFile('open-password', `${lab.dc.adminPassword}\n`, 0o644);
    const { r, report } = await check(config({ password: `{ file: ${open} }` }));
    expect(byId(report, 'ad.connect').status).toBe('pass');
    expect(r.stderr).toContain(`ad.password: the secret file ${open} is readable by other users (mode 0644)`);
    const closed = secretFile('closed-password', `${lab.dc.adminPassword}\n`, 0o600);
    const { r: quiet } = await check(config({ password: `{ file: ${closed} }` }));
    expect(quiet.stderr).not.toContain('readable by other users');
    expect(r.stdout + r.stderr + quiet.stdout + quiet.stderr).not.toContain(lab.dc.adminPassword);
  });
});
