// Slows down guessing of web.token at /login, per client: a few wrong tokens are free (a typo), then
// each further one makes that client wait twice as long (up to 5 minutes) before its next attempt is
// even checked. Parallel requests gain nothing, since a waiting client's attempts are refused unread.
// Clients are counted by address (IPv6 by its /64, which one host usually holds whole), in a table of
// bounded size, so that many addresses cannot grow the process without limit.
import { isIP } from 'node:net';

export interface SignInThrottleOptions {
  /** Wrong tokens a client may send before it has to wait. */
  freeFailures: number;
  /** The first wait; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A client's failures are forgotten after this long without one (once it may try again). */
  forgetAfterMs: number;
  /** The most clients remembered at once; the least recently failed is forgotten first. */
  maxClients: number;
}

export const defaultSignInThrottle: SignInThrottleOptions = {
  freeFailures: 3,
  baseDelayMs: 1_000,
  maxDelayMs: 5 * 60_000,
  forgetAfterMs: 15 * 60_000,
  maxClients: 10_000,
};

interface ClientRecord {
  failures: number;
  lastFailureAt: number;
  allowedAt: number;
}

/** The key a client is counted under: its IPv4 address, or the /64 of its IPv6 address. */
export function clientKey(address: string | undefined): string {
  const a = (address ?? '').toLowerCase();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7);
  if (isIP(a) !== 6) return a;
  const [head = '', tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

export class SignInThrottle {
  private readonly clients = new Map<string, ClientRecord>();

  constructor(
    private readonly options: SignInThrottleOptions = defaultSignInThrottle,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the client must still wait before an attempt is checked; 0 when it may try. */
  waitMs(address: string | undefined): number {
    const record = this.clients.get(clientKey(address));
    return record ? Math.max(0, record.allowedAt - this.now()) : 0;
  }

  /** Records a wrong token; returns how long the client must now wait (0 while failures are free). */
  failed(address: string | undefined): number {
    const key = clientKey(address);
    const now = this.now();
    const previous = this.clients.get(key);
    const fresh = !previous || this.forgotten(previous, now);
    const failures = fresh ? 1 : previous.failures + 1;
    const over = failures - this.options.freeFailures;
    const wait =
      over > 0
        ? Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over - 1, 30))
        : 0;
    // Re-inserted, so that the map's order is the order of the last failures (oldest first).
    this.clients.delete(key);
    if (this.clients.size >= this.options.maxClients) this.makeRoom(now);
    this.clients.set(key, { failures, lastFailureAt: now, allowedAt: now + wait });
    return wait;
  }

  /** A right token ends the client's count. */
  succeeded(address: string | undefined): void {
    this.clients.delete(clientKey(address));
  }

  /** How many clients are remembered (for tests and metrics). */
  get size(): number {
    return this.clients.size;
  }

  private forgotten(record: ClientRecord, now: number): boolean {
    return now >= record.allowedAt && now - record.lastFailureAt >= this.options.forgetAfterMs;
  }

  private makeRoom(now: number): void {
    // Oldest failure first: the forgotten ones are at the front.
    for (const [key, record] of this.clients) {
      if (!this.forgotten(record, now)) break;
      this.clients.delete(key);
    }
    while (this.clients.size >= this.options.maxClients) {
      const oldest = this.clients.keys().next().value;
      if (oldest === undefined) break;
      this.clients.delete(oldest);
    }
  }
}
