import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactText, registerSecret } from '../src/log.js';

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
