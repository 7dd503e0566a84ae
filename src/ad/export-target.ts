// The export side of the AD connector: one LDAPS session bound as the connector, with several
// operations in flight on it (pipelined: each waits only for its own answer), that reconnects and
// retries transient failures (busy, unavailable, connection reset, timeout) with backoff, and reads
// and writes msDS-Device objects. Failures leave as AdOperationError with the connector's outcome
// (exists, no such object, transient…), never as ldapts errors.
//
// One session rather than one per operation in flight: a Samba DC serves each connection from one
// of its worker processes, and writes from several workers to the same database cost it more CPU
// and throughput than the same writes queued on one connection (bench/README.md, "Several
// forests"); Active Directory answers the operations of one connection concurrently anyway.
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
  private current: AdConnection | undefined;
  private opening: Promise<AdConnection> | undefined;
  /** Checked right before every attempt of a write is sent, retries included (see setWriteGate). */
  private writeGate: WriteGate | undefined;

  constructor(
    private readonly config: AdConfig,
    /** How many operations the export keeps in flight on the session (writeback.concurrency). */
    readonly inFlight: number,
    private readonly observe: LdapObserver = () => undefined,
  ) {}

  private async session(): Promise<AdConnection> {
    const existing = this.current;
    if (existing && existing.isConnected) return existing;
    if (existing) {
      this.current = undefined;
      await existing.close();
    }
    this.opening ??= openConnectorSession(this.config).finally(() => {
      this.opening = undefined;
    });
    const conn = await this.opening;
    this.current ??= conn;
    return conn;
  }

  /** Closes a session that failed; one opened since by another operation's retry is kept. */
  private async drop(conn: AdConnection): Promise<void> {
    if (this.current === conn) this.current = undefined;
    await conn.close();
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
   * Runs `body` on the session, reconnecting and retrying transient failures with backoff (about
   * 10 s in all). Other errors are thrown as they are, for the caller to judge.
   */
  async withSession<T>(
    operation: string,
    body: (conn: AdConnection) => Promise<T>,
    gate?: WriteGate,
    options: { retry?: boolean } = {},
  ): Promise<T> {
    const delays = options.retry === false ? [] : [100, 300, 700, 1500, 3000, 5000];
    for (let attempt = 0; ; attempt++) {
      let conn: AdConnection | undefined;
      try {
        conn = await this.session();
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
        if (conn) await this.drop(conn);
        await sleep(delays[attempt]! * (0.75 + Math.random() * 0.5));
      }
    }
  }

  /** A cheap round trip (the RootDSE), so that an idle service still notices a DC that is down. */
  async ping(): Promise<void> {
    await this.withSession('search', (c) => c.read('', ['currentTime']));
  }

  /** Reads one object of the container by DN; undefined when it does not exist. */
  async readObject(dn: string): Promise<ActualObject | undefined> {
    try {
      const entry = await this.withSession('search', (c) => c.read(dn, [...DEVICE_READ_ATTRIBUTES]));
      return entry ? toActualObject(entry) : undefined;
    } catch (err) {
      throw isDwbError(err) ? err : toAdOperationError(err, `read ${dn}`);
    }
  }

  /** Every direct child of the container, page by page. */
  async *scanContainer(containerDn: string): AsyncGenerator<ActualObject[]> {
    const conn = await this.session();
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

  async add(dn: string, values: AdValues): Promise<void> {
    const attributes: Record<string, Buffer[] | string[]> = { objectClass: ['msDS-Device'] };
    for (const [attribute, v] of values) attributes[attribute] = v;
    await this.write('add', dn, (c) => c.add(dn, attributes));
  }

  async modify(dn: string, changes: AttributeChange[]): Promise<void> {
    await this.write('modify', dn, (c) =>
      c.modify(
        dn,
        changes.map((ch) => ({ operation: ch.operation, type: ch.attribute, values: ch.values })),
      ),
    );
  }

  async delete(dn: string): Promise<void> {
    await this.write('delete', dn, (c) => c.del(dn));
  }

  private async write(
    operation: 'add' | 'modify' | 'delete',
    dn: string,
    body: (conn: AdConnection) => Promise<void>,
  ): Promise<void> {
    try {
      await this.withSession(operation, body, this.writeGate);
    } catch (err) {
      // A DC that cannot be reached at all keeps its own error (DWB_AD_UNREACHABLE, with the host).
      throw isDwbError(err) ? err : toAdOperationError(err, `${operation} ${dn}`);
    }
  }

  async close(): Promise<void> {
    const conn = this.current;
    const opening = this.opening;
    this.current = undefined;
    await conn?.close();
    // A session still being opened is closed once it is (nothing else will).
    if (opening) await (await opening.catch(() => undefined))?.close();
  }
}
