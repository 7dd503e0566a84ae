// This process's membership of a group of instances sharing one state store (SPEC §7). A standby
// looks at the lease every pollEveryMs and takes it when it is free. The leader renews it every
// renewEveryMs and may send writes to AD only until its local deadline: the send time of its last
// successful renewal plus the write window (state/lease.ts says why that is safe without trusting
// any clock but rates). A leader steps down at once when its database session is lost (SPEC §7
// counts that as the leader's death): it stops writing, holds off for one lease so that a standby
// takes over, and gives its lease up as soon as it reaches the database again — but not before its
// last write can have landed. A leader whose renewal finds another epoch was deposed: it stands by,
// and the store refuses its commits (DWB_STATE_FENCED). The SQL lives behind GroupBackend
// (postgres/group-sql.ts).
import { DwbError, causeText } from '../errors.js';
import { logger } from '../log.js';
import { DRIFT_RATE, elapsed, systemClock, type Clock, type ClockReading } from './lease.js';
import type { GroupRole, GroupStatus, LeaseHolder, LeaseSettings, StoreGroup } from './store.js';

export interface MemberIdentity {
  instanceId: string;
  host: string;
  pid: number;
  command: string;
  startedAt: string;
}

/** The AD writes of a term so far, by the leader's clock (ISO), recorded with each renewal. */
export interface TermWrites {
  firstWriteAt: string;
  lastWriteAt: string;
  writes: number;
}

export interface LeaseView {
  holder: LeaseHolder | null;
  /** Nobody holds the lease, or it ran out (by the database's clock). */
  free: boolean;
}

export interface RenewResult {
  holder: LeaseHolder;
  cycleRequestedAt: string | null;
}

/** The lease's storage: one row in the shared store, changed only through these. */
export interface GroupBackend {
  /** Records this instance as a standby (its heartbeat) and reads the lease. */
  poll(me: MemberIdentity): Promise<LeaseView>;
  /** Takes the lease when it is free, under a new epoch; otherwise says who holds it. */
  acquire(me: MemberIdentity, leaseMs: number): Promise<{ epoch: number } | { holder: LeaseHolder | null }>;
  /** Extends the lease of `epoch`; undefined when another epoch holds it (this one was deposed). */
  renew(
    me: MemberIdentity,
    epoch: number,
    leaseMs: number,
    writes: TermWrites | undefined,
  ): Promise<RenewResult | undefined>;
  /**
   * Gives the lease of `epoch` up, so that a standby takes over — at once, or after `holdMs` when
   * a write of this instance may still be on its way to the DC.
   */
  release(me: MemberIdentity, epoch: number, writes: TermWrites | undefined, holdMs: number): Promise<void>;
  leave(me: MemberIdentity): Promise<void>;
  requestCycle(): Promise<void>;
  /** Calls `listener` when the loop's own database session ends or fails. */
  onSessionLost(listener: (cause: unknown) => void): void;
  /** Throws the loop's session away (a call that did not answer in time). */
  reset(): void;
  close(): Promise<void>;
}

export interface MembershipOptions {
  /** Stand by while another instance leads (run); otherwise refuse at start (sync). */
  standby: boolean;
  /** Where the store is, for messages. */
  location: string;
  clock?: Clock;
}

type ChangeEvent = 'leader' | 'standby' | 'cycle-requested';

/** `work`, or a rejection after `ms`: a backend call must never stall the loop. */
function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function describeHolder(h: LeaseHolder): string {
  return `\`device-writeback ${h.command}\` (process ${h.pid} on host ${h.host}, epoch ${h.epoch})`;
}

export function fencedError(message: string): DwbError {
  return new DwbError('DWB_STATE_FENCED', message);
}

export class GroupMembership implements StoreGroup {
  private role: GroupRole = 'standby';
  private epoch: number | null = null;
  /** When the last successful renewal (or the acquisition) was sent. */
  private sentAt: ClockReading | undefined;
  /** When the last write to AD was admitted (sent). */
  private lastAdmit: ClockReading | undefined;
  /** The epoch this instance stepped down from and still has to give up, once it reaches the store. */
  private resigned: { epoch: number; writes: TermWrites | undefined } | undefined;
  /** No taking of the lease before this (after stepping down: a standby should take over). */
  private holdOff: { since: ClockReading; ms: number } | undefined;
  private leader: LeaseHolder | null = null;
  private problem: string | null = null;
  private readonly listeners: ((event: ChangeEvent) => void)[] = [];
  private gate: () => boolean = () => true;
  private closed = false;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private renewalWaiters: (() => void)[] = [];
  private writes: { first: number; last: number; count: number } | undefined;
  private lastCycleRequest: string | null | undefined;
  private failing = false;
  private readonly clock: Clock;

  constructor(
    private readonly backend: GroupBackend,
    private readonly me: MemberIdentity,
    readonly settings: LeaseSettings,
    private readonly options: MembershipOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    backend.onSessionLost((cause) => {
      if (this.role === 'leader') this.stepDown(`its database session was lost: ${causeText(cause)}`);
    });
  }

  get instanceId(): string {
    return this.me.instanceId;
  }

  /**
   * Joins the group: one look at the lease (taken when free). A writer that may not stand by
   * (sync) is refused when another instance leads; a standby (run) starts its loop either way.
   */
  async start(): Promise<void> {
    await this.attempt(true);
    if (this.role !== 'leader' && !this.options.standby) {
      const h = this.leader;
      const problem = this.problem;
      await this.close();
      if (!h && problem) throw new DwbError('DWB_STATE_UNAVAILABLE', `${this.options.location}: ${problem}`);
      throw new DwbError(
        'DWB_STATE_LOCKED',
        h
          ? `the state store ${this.options.location} is led by ${describeHolder(h)}, whose lease runs until ${h.expiresAt}; a one-shot ${this.me.command} does not run beside the leader of a group.`
          : `the state store ${this.options.location} was taken by another instance first.`,
        {
          fix: `Let the leader do the work (its console's "Run a cycle now", or approve-deletes for held deletions), or stop every \`run\` of the group first. If that process is gone, its lease runs out${h ? ` at ${h.expiresAt}` : ''} and the store is free again.`,
        },
      );
    }
    this.loop = this.runLoop();
  }

  status(): GroupStatus {
    const writable = this.writableNow();
    let problem = this.problem;
    if (!problem && this.role === 'leader' && !writable)
      problem = 'the leadership lease was not renewed in time: AD writes are paused until it is';
    return {
      role: this.role,
      instanceId: this.me.instanceId,
      epoch: this.epoch,
      leader: this.leader,
      problem,
      writable,
    };
  }

  onChange(listener: (event: ChangeEvent) => void): void {
    this.listeners.push(listener);
  }

  setAcquireGate(gate: () => boolean): void {
    this.gate = gate;
  }

  async requestCycle(): Promise<void> {
    await this.backend.requestCycle();
  }

  /** The fencing token of the engine's commits: this instance's epoch while it leads. */
  fenceToken(): { epoch: number; holder: string } | undefined {
    return this.role === 'leader' && this.epoch !== null
      ? { epoch: this.epoch, holder: this.me.instanceId }
      : undefined;
  }

  private writableNow(now = this.clock()): boolean {
    return (
      this.role === 'leader' &&
      this.sentAt !== undefined &&
      elapsed(this.sentAt, now) < this.settings.writeWindowMs
    );
  }

  private refusal(): DwbError {
    return fencedError(
      this.role === 'leader'
        ? `this instance's leadership lease was not renewed within its write window (${this.settings.writeWindowMs} ms): it sends no more writes to AD until it is, since another instance may take the lease.`
        : `this instance (process ${this.me.pid} on host ${this.me.host}) does not lead its group${this.leader && this.leader.instanceId !== this.me.instanceId ? `: ${describeHolder(this.leader)} does` : ''}; it sends no writes to AD.`,
    );
  }

  admitWrite(): void {
    const now = this.clock();
    if (!this.writableNow(now)) throw this.refusal();
    this.lastAdmit = now;
    const wall = now.wall;
    if (!this.writes) this.writes = { first: wall, last: wall, count: 0 };
    this.writes.first = Math.min(this.writes.first, wall);
  }

  writeSettled(): void {
    if (!this.writes) return;
    this.writes.last = Math.max(this.writes.last, this.clock().wall);
    this.writes.count++;
  }

  async mayWrite(waitMs = this.settings.leaseMs): Promise<void> {
    const started = this.clock();
    while (!this.writableNow()) {
      if (this.role !== 'leader' || this.closed || elapsed(started, this.clock()) >= waitMs)
        throw this.refusal();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(100, this.settings.renewEveryMs));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.renewalWaiters.push(done);
      });
    }
  }

  private termWrites(): TermWrites | undefined {
    const w = this.writes;
    return w
      ? {
          firstWriteAt: new Date(w.first).toISOString(),
          lastWriteAt: new Date(w.last).toISOString(),
          writes: w.count,
        }
      : undefined;
  }

  /** How long a lease given up now must still hold: until the last admitted write can have landed. */
  private holdForLastWrite(): number {
    if (!this.lastAdmit) return 0;
    const landBy = this.settings.marginMs * (1 + 2 * DRIFT_RATE);
    return Math.max(0, Math.ceil(landBy - elapsed(this.lastAdmit, this.clock())));
  }

  private emit(event: ChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        logger().warn({ cause: causeText(err) }, 'a group listener failed');
      }
    }
  }

  private notifyRenewal(): void {
    const waiters = this.renewalWaiters;
    this.renewalWaiters = [];
    for (const w of waiters) w();
  }

  private contact(ok: boolean, what = '', err?: unknown): void {
    if (ok) {
      if (this.failing) logger().info('the state store answers again');
      this.failing = false;
      this.problem = null;
      return;
    }
    this.problem = `cannot ${what}: ${causeText(err)}`;
    if (!this.failing) logger().warn({ cause: causeText(err) }, `cannot ${what}; trying again`);
    this.failing = true;
  }

  /** A standby's look at the lease; gives up a lease it stepped down from; takes a free one. */
  private async attempt(first = false): Promise<void> {
    const limit = this.settings.leaseMs;
    try {
      const view = await bounded(this.backend.poll(this.me), limit, 'the state store');
      this.contact(true);
      this.leader = view.holder;
      const resigned = this.resigned;
      if (resigned) {
        if (view.holder?.instanceId === this.me.instanceId && view.holder.epoch === resigned.epoch) {
          const holdMs = this.holdForLastWrite();
          await bounded(
            this.backend.release(this.me, resigned.epoch, resigned.writes, holdMs),
            limit,
            'the state store',
          );
          logger().info(
            { epoch: resigned.epoch, holdMs },
            `the lease of epoch ${resigned.epoch} was given up for a standby to take`,
          );
        }
        this.resigned = undefined;
        return;
      }
      if (this.holdOff) {
        if (elapsed(this.holdOff.since, this.clock()) < this.holdOff.ms) return;
        this.holdOff = undefined;
      }
      if (!view.free || (!first && !this.gate())) return;
      const sent = this.clock();
      const got = await bounded(
        this.backend.acquire(this.me, this.settings.leaseMs),
        limit,
        'the state store',
      );
      if (!('epoch' in got)) {
        this.leader = got.holder;
        return;
      }
      this.role = 'leader';
      this.epoch = got.epoch;
      this.sentAt = sent;
      this.writes = undefined;
      this.lastCycleRequest = undefined;
      const now = new Date();
      this.leader = {
        instanceId: this.me.instanceId,
        host: this.me.host,
        pid: this.me.pid,
        command: this.me.command,
        epoch: got.epoch,
        renewedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + this.settings.leaseMs).toISOString(),
      };
      logger().info({ epoch: got.epoch }, `this instance now leads its group (epoch ${got.epoch})`);
      this.emit('leader');
    } catch (err) {
      this.backend.reset();
      this.contact(false, 'reach the state store to look at the leadership lease', err);
    }
  }

  private async renewOnce(): Promise<void> {
    const epoch = this.epoch!;
    const sent = this.clock();
    try {
      // a renewal that answers after the write window is of no use: the session is not healthy
      const renewed = await bounded(
        this.backend.renew(this.me, epoch, this.settings.leaseMs, this.termWrites()),
        Math.max(1000, this.settings.writeWindowMs),
        'the state store',
      );
      if (this.role !== 'leader' || this.epoch !== epoch) return; // stepped down or closed meanwhile
      if (!renewed) {
        this.lose('another instance holds the lease now');
        return;
      }
      this.contact(true);
      this.sentAt = sent;
      this.leader = renewed.holder;
      this.notifyRenewal();
      const request = renewed.cycleRequestedAt;
      if (this.lastCycleRequest !== undefined && request && request !== this.lastCycleRequest)
        this.emit('cycle-requested');
      this.lastCycleRequest = request;
    } catch (err) {
      this.backend.reset();
      this.contact(false, 'renew the leadership lease', err);
      if (this.role === 'leader' && this.epoch === epoch)
        this.stepDown(`its renewal of the lease failed: ${causeText(err)}`);
    }
  }

  /** Deposed: another epoch holds the lease. Nothing to give up. */
  private lose(reason: string): void {
    const epoch = this.epoch;
    this.standDown();
    logger().warn(
      { epoch, ...this.termWrites() },
      `this instance no longer leads its group (${reason}); it stopped writing`,
    );
    this.emit('standby');
  }

  /** Gives the leadership up on its own: it lets the lease go when it can, and lets a standby take it. */
  private stepDown(reason: string): void {
    const epoch = this.epoch!;
    this.resigned = { epoch, writes: this.termWrites() };
    this.holdOff = { since: this.clock(), ms: this.settings.leaseMs };
    this.standDown();
    logger().warn(
      { epoch, ...this.resigned.writes },
      `this instance steps down as the leader of its group (${reason}); it stopped writing to AD and lets a standby take over`,
    );
    this.emit('standby');
  }

  private standDown(): void {
    this.role = 'standby';
    this.epoch = null;
    this.sentAt = undefined;
    this.notifyRenewal();
    this.wakeLoop?.();
  }

  private async runLoop(): Promise<void> {
    while (!this.closed) {
      const wait = this.role === 'leader' ? this.settings.renewEveryMs : this.settings.pollEveryMs;
      await new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout | undefined = undefined;
        const done = (): void => {
          clearTimeout(timer);
          this.wakeLoop = undefined;
          resolve();
        };
        timer = setTimeout(done, wait);
        this.wakeLoop = done;
      });
      if (this.closed) break;
      if (this.role === 'leader') await this.renewOnce();
      else if (this.options.standby || this.resigned) await this.attempt();
      else break; // a one-shot writer that lost the lease does not take it again
    }
  }

  /** Leaves the group: gives the lease up when leading (a standby takes over at once). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeLoop?.();
    await this.loop;
    const limit = Math.min(5000, this.settings.leaseMs);
    try {
      const epoch = this.role === 'leader' ? this.epoch : this.resigned?.epoch;
      const writes = this.role === 'leader' ? this.termWrites() : this.resigned?.writes;
      if (epoch !== null && epoch !== undefined) {
        this.standDown();
        const holdMs = this.holdForLastWrite();
        await bounded(this.backend.release(this.me, epoch, writes, holdMs), limit, 'the state store');
        logger().info({ epoch, holdMs }, 'leadership released');
      }
      await bounded(this.backend.leave(this.me), limit, 'the state store');
    } catch (err) {
      logger().warn(
        { cause: causeText(err) },
        'could not leave the group cleanly; the lease runs out by itself',
      );
    } finally {
      await this.backend.close().catch(() => undefined);
    }
  }
}
