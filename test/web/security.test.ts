// Who may use the console, without a server: listen addresses, loopback, the token, CSRF, Origin,
// Sec-Fetch-Site and Host checks.
import { describe, expect, it } from 'vitest';
import { isDwbError } from '../../src/errors.js';
import {
  assertListenAllowed,
  ConsoleGuard,
  isLoopbackHost,
  parseListenAddress,
} from '../../src/web/security.js';
import { escapeHtml, html } from '../../src/web/html.js';

describe('listen address', () => {
  it('parses host:port and [v6]:port', () => {
    expect(parseListenAddress('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress('console.corp.example.test:443')).toEqual({
      host: 'console.corp.example.test',
      port: 443,
    });
    expect(() => parseListenAddress('8080')).toThrow(/host:port/);
    expect(() => parseListenAddress('127.0.0.1:99999')).toThrow(/host:port/);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.10.0.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', 'console.corp.example.test', '128.0.0.1'])
      expect(isLoopbackHost(h)).toBe(false);
  });

  it('refuses a non-loopback address without a token (DWB_WEB_TOKEN_REQUIRED, exit 2)', () => {
    expect(assertListenAllowed('127.0.0.1:8080', undefined).port).toBe(8080);
    expect(assertListenAllowed('0.0.0.0:8080', 'a-long-token-value').host).toBe('0.0.0.0');
    try {
      assertListenAllowed('0.0.0.0:8080', undefined);
      expect.unreachable();
    } catch (err) {
      expect(isDwbError(err) && err.code).toBe('DWB_WEB_TOKEN_REQUIRED');
      expect(isDwbError(err) && err.exitCode).toBe(2);
    }
  });
});

describe('ConsoleGuard', () => {
  const host = { host: '127.0.0.1:8080' };
  it('without a token: everyone on this machine, loopback Host names only', () => {
    const g = new ConsoleGuard(undefined, { host: '127.0.0.1', port: 8080 });
    expect(g.authenticated({ method: 'GET', headers: host })).toBe(true);
    expect(g.hostProblem({ method: 'GET', headers: host })).toBeUndefined();
    expect(g.hostProblem({ method: 'GET', headers: { host: 'localhost:8080' } })).toBeUndefined();
    expect(g.hostProblem({ method: 'GET', headers: { host: 'attacker.example:8080' } })).toMatch(
      /not a loopback name/,
    );
    expect(g.hostProblem({ method: 'GET', headers: {} })).toMatch(/no Host/);
  });

  it('with a token: bearer or a signed-in session', () => {
    const g = new ConsoleGuard('s3cret-console-token', { host: '0.0.0.0', port: 8080 });
    expect(g.authenticated({ method: 'GET', headers: host })).toBe(false);
    expect(g.authenticated({ method: 'GET', headers: { ...host, authorization: 'Bearer wrong' } })).toBe(
      false,
    );
    expect(
      g.authenticated({ method: 'GET', headers: { ...host, authorization: 'Bearer s3cret-console-token' } }),
    ).toBe(true);
    expect(g.signIn('nope')).toBeUndefined();
    const id = g.signIn('s3cret-console-token')!;
    expect(id).not.toContain('s3cret');
    const cookie = { ...host, cookie: `other=1; dwb_session=${id}` };
    expect(g.authenticated({ method: 'GET', headers: cookie })).toBe(true);
    expect(g.sessionCookie(id)).toMatch(/HttpOnly; SameSite=Strict/);
    g.signOut({ method: 'POST', headers: cookie });
    expect(g.authenticated({ method: 'GET', headers: cookie })).toBe(false);
    expect(g.hostProblem({ method: 'GET', headers: { host: 'console.corp.example.test' } })).toBeUndefined();
  });

  it('actions need the CSRF token of their session and a same-origin request', () => {
    const g = new ConsoleGuard(undefined, { host: '127.0.0.1', port: 8080 });
    const req = {
      method: 'POST',
      headers: { ...host, origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'same-origin' },
    };
    const token = g.csrfToken(req);
    expect(g.actionProblem(req, token)).toBeUndefined();
    expect(g.actionProblem(req, undefined)).toMatch(/CSRF/);
    expect(g.actionProblem(req, `${token}x`)).toMatch(/CSRF/);
    expect(
      g.actionProblem({ method: 'POST', headers: { ...host, origin: 'https://evil.example' } }, token),
    ).toMatch(/cross-origin/);
    expect(g.actionProblem({ method: 'POST', headers: { ...host, origin: 'null' } }, token)).toMatch(
      /cross-origin/,
    );
    expect(
      g.actionProblem({ method: 'POST', headers: { ...host, 'sec-fetch-site': 'cross-site' } }, token),
    ).toMatch(/cross-site/);
    expect(
      g.actionProblem({ method: 'POST', headers: { ...host, 'sec-fetch-site': 'same-site' } }, token),
    ).toMatch(/cross-site/);
    // another process's token is worthless
    expect(new ConsoleGuard(undefined, { host: '127.0.0.1', port: 8080 }).actionProblem(req, token)).toMatch(
      /CSRF/,
    );
  });
});

describe('html', () => {
  it('escapes every interpolated value, keeps nested templates', () => {
    // (an alias, so that Prettier leaves these one-line templates as they are)
    const h = html;
    const name = `<img src=x onerror='alert(1)'> & "q" \``;
    expect(escapeHtml(name)).toBe('&lt;img src=x onerror=&#39;alert(1)&#39;&gt; &amp; &quot;q&quot; &#96;');
    expect(h`<td title="${name}">${name}</td>`.value).toBe(
      `<td title="${escapeHtml(name)}">${escapeHtml(name)}</td>`,
    );
    expect(h`<ul>${['<a>', h`<li>${'<b>'}</li>`]}</ul>`.value).toBe('<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>');
    expect(html`${null}${undefined}${false}${0}`.value).toBe('0');
  });
});
