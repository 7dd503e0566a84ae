import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactText, registerSecret } from '../src/log.js';
import { DwbError, errorCatalog, ExitCode } from '../src/errors.js';

function capture(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('logging', () => {
  it('scrubs registered secrets from messages, fields and errors, and censors secret keys', () => {
    registerSecret('Sup3r-Secret-Value');
    const { stream, lines } = capture();
    const log = createLogger('debug', stream);
    log.info('connecting with Sup3r-Secret-Value');
    log.info(
      { password: 'anything', nested: { clientSecret: 'x', note: 'has Sup3r-Secret-Value inside' } },
      'fields',
    );
    log.error({ err: new Error('bind failed for Sup3r-Secret-Value') }, 'error');
    log.info({ header: 'Authorization: Bearer eyJhbGciOi.abc.def' }, 'token');
    const text = lines().join('\n');
    expect(text).not.toContain('Sup3r-Secret-Value');
    expect(text).not.toContain('anything');
    expect(text).not.toContain('eyJhbGciOi');
    expect(lines()).toHaveLength(4);
    expect(JSON.parse(lines()[1]!).password).toBe('[redacted]');
  });

  it('redactText scrubs every occurrence', () => {
    registerSecret('abcd-1234');
    expect(redactText('abcd-1234 and abcd-1234')).toBe('[redacted] and [redacted]');
  });
});

describe('error registry', () => {
  it('every code has a fix and an exit code of SPEC §3', () => {
    for (const [code, def] of Object.entries(errorCatalog)) {
      expect(code).toMatch(/^DWB_[A-Z_]+$/);
      expect(def.fix.length).toBeGreaterThan(20);
      expect(Object.values(ExitCode)).toContain(def.exit);
    }
    const err = new DwbError('DWB_AD_TLS_REQUIRED', 'plain LDAP');
    expect(err.exitCode).toBe(2);
    expect(err.describe()).toMatch(/^DWB_AD_TLS_REQUIRED: plain LDAP\n {2}What to do: /);
  });
});

describe('README', () => {
  it('documents every error code of the registry', async () => {
    const { readFileSync } = await import('node:fs');
    const { deviceErrorCatalog } = await import('../src/sync/attribute-flow.js');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const missing = [...Object.keys(errorCatalog), ...Object.keys(deviceErrorCatalog)].filter(
      (c) => !readme.includes(`\`${c}\``),
    );
    expect(
      missing,
      'run `npm run build && node scripts/error-table.mjs` and paste it into README "Errors and exit codes"',
    ).toEqual([]);
  });
});
