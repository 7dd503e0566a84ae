// Who may use the console. It listens on a loopback address unless web.token is set (refused
// otherwise: DWB_WEB_TOKEN_REQUIRED). With a token, every page and /metrics need it: as a bearer
// token (scrapers, scripts) or through a sign-in form that sets a session cookie. Actions are POST
// only and carry a per-process CSRF token; cross-site requests (Origin, Sec-Fetch-Site) and, without
// a token, any Host header that is not a loopback name (DNS rebinding) are refused.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { DwbError } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(listen: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new DwbError(
      'DWB_USAGE',
      `--listen / web.listen "${listen}" is not host:port (for example 127.0.0.1:8080).`,
    );
  }
  return { host: (m[1] ?? m[2])!, port };
}

/** True for 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.');
  return false;
}

/** The shortest web.token accepted, whatever the listen address (SPEC §5). */
export const MIN_TOKEN_LENGTH = 16;

/** Refuses a non-loopback listen address without web.token, and a web.token too short to be one. */
export function assertListenAllowed(listen: string, token: string | undefined): ListenAddress {
  const address = parseListenAddress(listen);
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new DwbError(
      'DWB_WEB_TOKEN_WEAK',
      `web.token has ${token.length} character${token.length === 1 ? '' : 's'}; the console requires at least ${MIN_TOKEN_LENGTH}, so that it cannot be guessed.`,
    );
  }
  if (!isLoopbackHost(address.host) && !token) {
    throw new DwbError(
      'DWB_WEB_TOKEN_REQUIRED',
      `the console would listen on ${listen}, which other machines can reach, and web.token is not set: the console refuses to start without it.`,
    );
  }
  return address;
}

const SESSION_COOKIE = 'dwb_session';
const SESSION_TTL_MS = 12 * 3600 * 1000;

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/** A request as the guard sees it (a subset of Fastify's, so it can be unit-tested). */
export interface GuardRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

const header = (req: GuardRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export class ConsoleGuard {
  private readonly csrfKey = randomBytes(32);
  private readonly sessions = new Map<string, number>();

  constructor(
    /** web.token, revealed; undefined when the console is loopback-only without a token. */
    private readonly token: string | undefined,
    private readonly listen: ListenAddress,
  ) {}

  get tokenRequired(): boolean {
    return this.token !== undefined;
  }

  /** The session id of the request (cookie), when valid. */
  session(req: GuardRequest): string | undefined {
    const id = parseCookies(header(req, 'cookie')).get(SESSION_COOKIE);
    if (!id) return undefined;
    const expires = this.sessions.get(id);
    if (expires === undefined) return undefined;
    if (expires < Date.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return id;
  }

  /** True when the request may see the console (always true without a token). */
  authenticated(req: GuardRequest): boolean {
    if (!this.token) return true;
    const auth = header(req, 'authorization');
    if (auth && /^Bearer\s+/i.test(auth) && safeEqual(auth.replace(/^Bearer\s+/i, '').trim(), this.token))
      return true;
    return this.session(req) !== undefined;
  }

  /** Checks a token typed into the sign-in form; returns a new session id (for the cookie) when right. */
  signIn(candidate: string): string | undefined {
    if (!this.token || !safeEqual(candidate, this.token)) return undefined;
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, Date.now() + SESSION_TTL_MS);
    return id;
  }

  signOut(req: GuardRequest): void {
    const id = this.session(req);
    if (id) this.sessions.delete(id);
  }

  sessionCookie(id: string): string {
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}`;
  }

  clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  /** The CSRF token forms carry: bound to the session (or to "no session" on a token-less console). */
  csrfToken(req: GuardRequest): string {
    return createHmac('sha256', this.csrfKey)
      .update(this.session(req) ?? 'no-session')
      .digest('base64url');
  }

  /**
   * Why this request must be refused before routing, or undefined. Without a token, only loopback
   * Host names are accepted, so a web page cannot reach the console through DNS rebinding.
   */
  hostProblem(req: GuardRequest): string | undefined {
    if (this.token) return undefined;
    const host = header(req, 'host');
    if (!host) return 'the request has no Host header';
    const name = host.replace(/:\d+$/, '');
    if (!isLoopbackHost(name))
      return `Host ${host} is not a loopback name; this console answers only on ${this.listen.host}`;
    return undefined;
  }

  /** Why a state-changing request (POST) must be refused, or undefined. */
  actionProblem(req: GuardRequest, formToken: string | undefined): string | undefined {
    const site = header(req, 'sec-fetch-site');
    if (site && site !== 'same-origin' && site !== 'none')
      return `cross-site request refused (Sec-Fetch-Site: ${site})`;
    const origin = header(req, 'origin');
    const host = header(req, 'host');
    if (origin && origin !== 'null' && host) {
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        return 'the Origin header is not a URL';
      }
      if (originHost !== host) return `cross-origin request refused (Origin ${origin})`;
    } else if (origin === 'null') {
      return 'cross-origin request refused (Origin null)';
    }
    if (!formToken || !safeEqual(formToken, this.csrfToken(req)))
      return 'the form is missing its CSRF token or it has expired; reload the page and try again';
    return undefined;
  }
}
