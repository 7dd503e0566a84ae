// The export side of the AD connector: a small pool of LDAPS sessions bound as the connector, that
// reconnects and retries transient failures (busy, unavailable, connection reset, timeout) with
// backoff, and reads and writes msDS-Device objects. Failures leave as AdOperationError with the
// connector's outcome (exists, no such object, transient…), never as ldapts errors.
import type { AdConfig } from '../config/load.js';
import { causeText, isDwbError } from '../errors.js';
import { logger } from '../log.js';
import type { AdConnection } from './connection.js';
import {
  DEVICE_READ_ATTRIBUTES,
  toActualObject,
  type ActualObject,
  type AdValues,
  type AttributeChange,
} from './device-object.js';
import { outcomeOf, resultCodeOf, toAdOperationError } from './outcome.js';
import { openConnectorSession } from './settings.js';

/** Admits each attempt of a write right before it is sent (or throws), and hears when it settled. */
export interface WriteGate {
  admit(): void;
  settled(): void;
}

/** Sees every LDAP operation and its result (the metrics of `run`). */
export type LdapObserver = (operation: string, resultCode: number | 'ok' | 'error') => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AdExportTarget {
  private readonly sessions: (AdConnection | undefined)[];
  private readonly opening: (Promise<AdConnection> | undefined)[];
  /** Checked right before every attempt of a write is sent, retries included (see setWriteGate). */
  private writeGate: WriteGate | undefined;

  constructor(
    private readonly config: AdConfig,
    /** Sessions in the pool; operations name the slot they run on. */
    readonly slots: number,
    private readonly observe: LdapObserver = () => undefined,
  ) {
    this.sessions = new Array<AdConnection | undefined>(slots).fill(undefined);
    this.opening = new Array<Promise<AdConnection> | undefined>(slots).fill(undefined);
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
      pending = openConnectorSession(this.config);
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
   * A check that runs right before each write is sent (each attempt of it), told when the attempt
   * settled: the leader of a group sends no write past its lease's local deadline (SPEC §7).
   * `admit` throws to refuse the write.
   */
  setWriteGate(gate: WriteGate | undefined): void {
    this.writeGate = gate;
  }

  /**
   * Runs `body` on session `slot`, reconnecting and retrying transient failures with backoff
   * (about 10 s in all). Other errors are thrown as they are, for the caller to judge.
   */
  async withSession<T>(
    slot: number,
    operation: string,
    body: (conn: AdConnection) => Promise<T>,
    gate?: WriteGate,
    options: { retry?: boolean } = {},
  ): Promise<T> {
    const delays = options.retry === false ? [] : [100, 300, 700, 1500, 3000, 5000];
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = await this.session(slot % this.slots);
        let result: T;
        if (gate) {
          gate.admit(); // nothing is awaited between this check and the send
          try {
            result = await body(conn);
          } finally {
            gate.settled();
          }
        } else {
          result = await body(conn);
        }
        this.observe(operation, 'ok');
        return result;
      } catch (err) {
        if (isDwbError(err) && err.code === 'DWB_STATE_FENCED') throw err; // the gate refused it
        this.observe(operation, resultCodeOf(err) ?? 'error');
        if (outcomeOf(err) !== 'transient' || attempt >= delays.length) throw err;
        logger().warn(
          { operation, attempt: attempt + 1, cause: causeText(err) },
          'transient LDAP failure; reconnecting and retrying',
        );
        await this.drop(slot % this.slots);
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
    try {
      const entry = await this.withSession(slot, 'search', (c) => c.read(dn, [...DEVICE_READ_ATTRIBUTES]));
      return entry ? toActualObject(entry) : undefined;
    } catch (err) {
      throw isDwbError(err) ? err : toAdOperationError(err, `read ${dn}`);
    }
  }

  /** Every direct child of the container, page by page. */
  async *scanContainer(containerDn: string): AsyncGenerator<ActualObject[]> {
    const conn = await this.session(0);
    for await (const page of conn.searchPages(containerDn, {
      scope: 'one',
      filter: '(objectClass=*)',
      attributes: [...DEVICE_READ_ATTRIBUTES],
      pageSize: 1000,
    })) {
      this.observe('search', 'ok');
      yield page.map(toActualObject);
    }
  }

  async add(slot: number, dn: string, values: AdValues): Promise<void> {
    const attributes: Record<string, Buffer[] | string[]> = { objectClass: ['msDS-Device'] };
    for (const [attribute, v] of values) attributes[attribute] = v;
    await this.write(slot, 'add', dn, (c) => c.add(dn, attributes));
  }

  async modify(slot: number, dn: string, changes: AttributeChange[]): Promise<void> {
    await this.write(slot, 'modify', dn, (c) =>
      c.modify(
        dn,
        changes.map((ch) => ({ operation: ch.operation, type: ch.attribute, values: ch.values })),
      ),
    );
  }

  async delete(slot: number, dn: string): Promise<void> {
    await this.write(slot, 'delete', dn, (c) => c.del(dn));
  }

  private async write(
    slot: number,
    operation: 'add' | 'modify' | 'delete',
    dn: string,
    body: (conn: AdConnection) => Promise<void>,
  ): Promise<void> {
    try {
      await this.withSession(slot, operation, body, this.writeGate);
    } catch (err) {
      // A DC that cannot be reached at all keeps its own error (DWB_AD_UNREACHABLE, with the host).
      throw isDwbError(err) ? err : toAdOperationError(err, `${operation} ${dn}`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s?.close()));
    this.sessions.fill(undefined);
  }
}
