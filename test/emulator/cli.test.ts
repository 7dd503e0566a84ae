// `device-writeback emulator` as users run it (the built CLI, after `npm run build`): it prints the
// URL, credentials, CA file and an entra: block, serves Graph, keeps --data across restarts, and
// stops cleanly on SIGTERM.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, startCli, type CliProcess } from '../support/cli.js';
import { getToken, readAll, type Target } from './http.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-emulator-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const built = existsSync(path.resolve(path.dirname(BIN), '../dist/cli/emulator.js'));

async function waitFor(process: CliProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const started = Date.now();
  for (;;) {
    const { stdout, stderr } = process.output();
    if (pattern.test(stdout)) return stdout;
    if (process.child.exitCode !== null || Date.now() - started > timeoutMs) {
      throw new Error(`emulator did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function field(stdout: string, label: string): string {
  const match = new RegExp(`^\\s+${label}\\s+(\\S+)`, 'm').exec(stdout);
  if (!match?.[1]) throw new Error(`no ${label} in:\n${stdout}`);
  return match[1];
}

describe.skipIf(!built)('device-writeback emulator (CLI)', () => {
  it('prints what a client needs, serves the seeded devices and stops on SIGTERM', async () => {
    const cwd = mkdtempSync(path.join(dir, 'run-'));
    const emulator = startCli(['emulator', '--listen', '127.0.0.1:0', '--devices', '5'], { cwd });
    try {
      const stdout = await waitFor(emulator, /Stop with Ctrl\+C/);
      const url = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1] ?? '';
      const target: Target = {
        url,
        tenantId: field(stdout, 'tenant id'),
        clientId: field(stdout, 'client id'),
        clientSecret: field(stdout, 'client secret'),
        caPem: readFileSync(field(stdout, 'CA file'), 'utf8'),
      };
      expect(field(stdout, 'CA file')).toBe(path.join(cwd, '.emulator', 'emulator-ca.pem'));
      expect(stdout).toContain(
        [
          'entra:',
          `  tenantId: ${target.tenantId}`,
          `  clientId: ${target.clientId}`,
          '  clientSecret: { env: DWB_CLIENT_SECRET }',
          `  graphUrl: ${url}`,
          `  authorityHost: ${url}`,
          `  caFile: "${path.join(cwd, '.emulator', 'emulator-ca.pem')}"`,
        ].join('\n'),
      );
      const token = await getToken(target);
      const devices = await readAll(target, token, '/v1.0/devices?$select=id,deviceId');
      expect(devices.items).toHaveLength(5);
      // The DRS issuer, ready for init-ad --cloud-issuer, next to the data.
      const issuerFile = field(stdout, 'cloud issuer');
      expect(issuerFile).toBe(path.join(cwd, '.emulator', 'emulator-cloud-issuer.pem'));
      expect(readFileSync(issuerFile, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(stdout).toContain(`init-ad --cloud-issuer "${issuerFile}"`);

      emulator.child.kill('SIGTERM');
      const result = await emulator.done;
      expect(result.code).toBe(0);
      expect(result.stderr).not.toContain(target.clientSecret);
      expect(result.stderr).not.toContain(token);
    } finally {
      if (emulator.child.exitCode === null) emulator.child.kill('SIGKILL');
    }
  });

  it('takes fixed credentials, prints JSON, and keeps --data across restarts (deterministic seeding)', async () => {
    const tenant = '8a4d2d43-0000-4000-8000-000000000001';
    const clientId = '8a4d2d43-0000-4000-8000-000000000002';
    const secret = 'fixed-test-secret-for-the-emulator';
    const dataFile = path.join(dir, 'persist', 'emulator.db');
    const start = async (
      extra: string[],
    ): Promise<{ process: CliProcess; info: Record<string, string> & Target }> => {
      const process = startCli(
        [
          'emulator',
          '--listen',
          '127.0.0.1:0',
          '--json',
          '--tenant',
          tenant,
          '--client-id',
          clientId,
          ...extra,
        ],
        {
          cwd: dir,
          env: { DWB_EMULATOR_CLIENT_SECRET: secret },
        },
      );
      const stdout = await waitFor(process, /\n/);
      const info = JSON.parse(stdout.split('\n')[0] ?? '') as Record<string, string>;
      return {
        process,
        info: { ...info, caPem: readFileSync(info.caFile ?? '', 'utf8') } as Record<string, string> & Target,
      };
    };
    const stop = async (process: CliProcess): Promise<void> => {
      process.child.kill('SIGTERM');
      expect((await process.done).code).toBe(0);
    };

    const first = await start(['--devices', '8', '--data', dataFile]);
    expect(first.info).toMatchObject({
      tenantId: tenant,
      clientId,
      clientSecret: secret,
      dataFile,
      devices: 8,
    });
    expect(first.info.caFile).toBe(path.join(path.dirname(dataFile), 'emulator-ca.pem'));
    expect(first.info.cloudIssuerFile).toBe(path.join(path.dirname(dataFile), 'emulator-cloud-issuer.pem'));
    const issuer = readFileSync(first.info.cloudIssuerFile ?? '', 'utf8');
    const firstIds = (
      await readAll(first.info, await getToken(first.info), '/v1.0/devices?$select=id')
    ).items.map((d) => d.id);
    await stop(first.process);

    const second = await start(['--data', dataFile]);
    const secondIds = (
      await readAll(second.info, await getToken(second.info), '/v1.0/devices?$select=id')
    ).items.map((d) => d.id);
    expect(secondIds).toEqual(firstIds);
    expect(readFileSync(second.info.cloudIssuerFile ?? '', 'utf8')).toBe(issuer);
    await stop(second.process);

    // Another folder, same --devices: the same devices.
    const third = await start(['--devices', '8', '--data-dir', path.join(dir, 'elsewhere')]);
    const thirdIds = (
      await readAll(third.info, await getToken(third.info), '/v1.0/devices?$select=id')
    ).items.map((d) => d.id);
    expect(thirdIds).toEqual(firstIds);
    // The same seed, the same DRS: the same issuer (and so the same device keys) in any folder.
    expect(readFileSync(third.info.cloudIssuerFile ?? '', 'utf8')).toBe(issuer);
    await stop(third.process);
  });

  it.each([
    [['--domain-sid', 'S-1-5-32'], /--domain-sid/],
    [['--owner-sids', 'S-1-5-21-1-2-3-500,nope'], /--owner-sids/],
    [['--devices', 'many'], /--devices/],
    [['--listen', 'localhost'], /--listen/],
  ])('refuses %j with a usage error (exit 2)', async (args, message) => {
    const result = await runCli(['emulator', ...args], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
