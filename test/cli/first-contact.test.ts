// What an administrator meets first, refused before anything connects (issue 13): output into a
// closed pipe ends quietly, a short web.token is refused for any listen address, and ad.url may
// carry neither a password nor a port outside 1–65535. Through the built CLI, as a user runs it.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli, type CliResult } from '../support/cli.js';

function configFile(ad: string, extra = ''): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-first-'));
  const file = path.join(dir, 'device-writeback.yaml');
  writeFileSync(file, `ad:\n${ad}\nstate:\n  sqlite: ${path.join(dir, 'state.db')}\n${extra}`, {
    mode: 0o600,
  });
  return { dir, file };
}

const AD =
  '  url: ldaps://127.0.0.1:1\n  bindDn: CN=svc,DC=corp,DC=example,DC=test\n  password: { env: DWB_AD_PASSWORD }';

/** Runs the CLI with its stdout closed by the reader before anything is written (`| head -0`). */
function withClosedStdout(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, FORCE_COLOR: '0', DWB_AD_PASSWORD: 'Unused-Pa55word' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr }));
  });
}

describe('output into a closed pipe', () => {
  it('`--help | head` and `init-ad --help | head` end quietly, exit 0', async () => {
    for (const args of [['--help'], ['init-ad', '--help']]) {
      const r = await withClosedStdout(args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('`status | head` ends quietly with the exit code of status', async () => {
    const { file } = configFile(AD);
    expect((await runCli(['status', '--config', file])).code).toBe(0);
    const r = await withClosedStdout(['status', '--config', file]);
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
    expect(r.code).toBe(0);
  });
});

describe('web.token', () => {
  it('is refused when shorter than 16 characters, on a loopback address too (exit 2, before connecting)', async () => {
    for (const listen of ['127.0.0.1:0', '0.0.0.0:0']) {
      const { file } = configFile(AD, `web:\n  listen: ${listen}\n  token: { env: DWB_WEB_TOKEN }\n`);
      const r = await runCli(['run', '--config', file], {
        env: { DWB_AD_PASSWORD: 'Unused-Pa55word', DWB_WEB_TOKEN: 'fifteen-chars-x' },
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('DWB_WEB_TOKEN_WEAK');
      expect(r.stderr).toContain('at least 16');
      expect(r.stderr).not.toContain('fifteen-chars-x');
      expect(r.stderr).not.toContain('DWB_AD_UNREACHABLE');
    }
  });
});

describe('ad.url', () => {
  it('with a password in it is refused like a plain-text secret, without printing it', async () => {
    const { file } = configFile(AD.replace('ldaps://127.0.0.1:1', 'ldaps://svc:Hunter2-In-Url@127.0.0.1'));
    const r = await runCli(['check', '--config', file], { env: { DWB_AD_PASSWORD: 'x-unused-x' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DWB_SECRET_PLAIN');
    expect(r.stderr).toContain('ad.url:');
    expect(r.stdout + r.stderr).not.toContain('Hunter2-In-Url');
  });

  it('with port 99999 (or 0) is a configuration error naming ad.url and the port range', async () => {
    for (const port of ['99999', '0']) {
      const { file } = configFile(AD.replace('127.0.0.1:1', `dc1.corp.example.test:${port}`));
      const r = await runCli(['check', '--config', file], { env: { DWB_AD_PASSWORD: 'x-unused-x' } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('DWB_CONFIG_INVALID');
      expect(r.stderr).toContain(`ad.url: the port ${port} is not a TCP port: expected 1–65535`);
      expect(r.stderr).not.toContain('is not a URL');
    }
  });
});
