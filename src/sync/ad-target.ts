// The export side of the AD connector: a small pool of LDAPS sessions bound as the connector, that
// reconnects and retries transient failures (busy, unavailable, connection reset, timeout) with
// backoff, and reads/writes msDS-Device objects as AdValues.
import type { AdConfig } from '../config/load.js';
import { AdConnection, type AdEntry, bufs, str } from '../ad/connection.js';
import { bytesToGuid } from '../ad/guid.js';
import { DwbError, causeText } from '../errors.js';
import { logger } from '../log.js';
import { type AdValues, MANAGED_ATTRIBUTES } from './attribute-flow.js';
import type { ActualObject, AttributeChange } from './planner.js';

/** LDAP result codes worth retrying: busy, unavailable, unwillingToPerform is not (it is a verdict). */
const TRANSIENT_RESULT_CODES = new Set([51, 52, 80]);

export function isTransient(err: unknown): boolean {
  if (err instanceof DwbError) return err.code === 'DWB_AD_UNREACHABLE' || err.code === 'DWB_AD_TIMEOUT';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return TRANSIENT_RESULT_CODES.has(code);
  if (
    typeof code === 'string' &&
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)
  )
    return true;
  const text = causeText(err);
  return /connection closed|socket|timeout|timed out|not connected|ECONNRESET|closed/i.test(text);
}

export function ldapResultCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

const READ_ATTRIBUTES = ['cn', 'objectGUID', ...MANAGED_ATTRIBUTES];

export function toActualObject(entry: AdEntry): ActualObject {
  const values: AdValues = new Map();
  for (const attribute of MANAGED_ATTRIBUTES) {
    const v = bufs(entry, attribute);
    if (v.length > 0) values.set(attribute, v);
  }
  const guid = bufs(entry, 'objectGUID')[0];
  return {
    dn: entry.dn,
    cn: str(entry, 'cn') ?? '',
    values,
    objectGuid: guid && guid.length === 16 ? bytesToGuid(guid) : undefined,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AdTarget {
  private readonly sessions: (AdConnection | undefined)[];
  private opening: (Promise<AdConnection> | undefined)[];

  constructor(
    private readonly config: AdConfig,
    readonly size: number,
    private readonly observe: (operation: string, resultCode: number | 'ok' | 'error') => void = () =>
      undefined,
  ) {
    this.sessions = new Array<AdConnection | undefined>(size).fill(undefined);
    this.opening = new Array<Promise<AdConnection> | undefined>(size).fill(undefined);
  }

  private async session(slot: number): Promise<AdConnection> {
    const existing = this.sessions[slot];
    if (existing && existing.isConnected) return existing;
    if (existing) {
      await existing.close();
      this.sessions[slot] = undefined;
    }
    let pending = this.opening[slot];
    if (!pending) {
      pending = AdConnection.open(
        {
          url: this.config.url,
          startTls: this.config.startTls,
          caFile: this.config.caFile,
          insecureSkipVerify: this.config.insecureSkipVerify,
          timeoutSeconds: this.config.timeoutSeconds,
        },
        { user: this.config.bindDn, password: this.config.password.reveal() },
      );
      this.opening[slot] = pending;
    }
    try {
      const conn = await pending;
      this.sessions[slot] = conn;
      return conn;
    } finally {
      this.opening[slot] = undefined;
    }
  }

  private async drop(slot: number): Promise<void> {
    const conn = this.sessions[slot];
    this.sessions[slot] = undefined;
    await conn?.close();
  }

  /**
   * Runs `body` on session `slot`, reconnecting and retrying transient failures with backoff
   * (about 10 s in all). Other errors are thrown as they are, for the caller to judge.
   */
  async withSession<T>(
    slot: number,
    operation: string,
    body: (conn: AdConnection) => Promise<T>,
  ): Promise<T> {
    const delays = [100, 300, 700, 1500, 3000, 5000];
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = await this.session(slot % this.size);
        const result = await body(conn);
        this.observe(operation, 'ok');
        return result;
      } catch (err) {
        const code = ldapResultCode(err);
        this.observe(operation, code ?? 'error');
        if (!isTransient(err) || attempt >= delays.length) throw err;
        logger().warn(
          { operation, attempt: attempt + 1, cause: causeText(err) },
          'transient LDAP failure; reconnecting and retrying',
        );
        await this.drop(slot % this.size);
        await sleep(delays[attempt]! * (0.75 + Math.random() * 0.5));
      }
    }
  }

  /** A cheap round trip (the RootDSE), so that an idle service still notices a DC that is down. */
  async ping(): Promise<void> {
    await this.withSession(0, 'search', (c) => c.read('', ['currentTime']));
  }

  /** Reads one object of the container by DN; undefined when it does not exist. */
  async readObject(slot: number, dn: string): Promise<ActualObject | undefined> {
    const entry = await this.withSession(slot, 'search', (c) => c.read(dn, READ_ATTRIBUTES));
    return entry ? toActualObject(entry) : undefined;
  }

  /** Every direct child of the container, page by page. */
  async *scanContainer(containerDn: string): AsyncGenerator<ActualObject[]> {
    const conn = await this.session(0);
    for await (const page of conn.searchPages(containerDn, {
      scope: 'one',
      filter: '(objectClass=*)',
      attributes: READ_ATTRIBUTES,
      pageSize: 1000,
    })) {
      this.observe('search', 'ok');
      yield page.map(toActualObject);
    }
  }

  async add(slot: number, dn: string, values: AdValues): Promise<void> {
    const attributes: Record<string, Buffer[] | string[]> = { objectClass: ['msDS-Device'] };
    for (const [attribute, v] of values) attributes[attribute] = v;
    await this.withSession(slot, 'add', (c) => c.add(dn, attributes));
  }

  async modify(slot: number, dn: string, changes: AttributeChange[]): Promise<void> {
    await this.withSession(slot, 'modify', (c) =>
      c.modify(
        dn,
        changes.map((ch) => ({ operation: ch.operation, type: ch.attribute, values: ch.values })),
      ),
    );
  }

  async del(slot: number, dn: string): Promise<void> {
    await this.withSession(slot, 'delete', (c) => c.del(dn));
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s?.close()));
    this.sessions.fill(undefined);
  }
}
