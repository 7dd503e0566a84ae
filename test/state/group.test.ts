// The leadership of a group (state/group.ts) against an in-memory lease, on fake timers and clocks:
// the write deadline runs from the send time of the last renewal, on the larger of the two clocks;
// a leader that loses its session steps down and gives its lease up only once its last write can
// have landed; a deposed leader stands by; a one-shot writer is refused naming the leader. The
// same logic against PostgreSQL is in postgres-store.int.test.ts and the fault tests.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setLogLevel } from '../../src/log.js';
import {
  GroupMembership,
  type GroupBackend,
  type LeaseView,
  type MemberIdentity,
  type RenewResult,
  type TermWrites,
} from '../../src/state/group.js';
import { DRIFT_RATE, fromLease, leaseSettings } from '../../src/state/lease.js';
import type { LeaseHolder, LeaseSettings } from '../../src/state/store.js';

/** One lease row, with the "database" clock being the (fake) Date. */
class FakeLease implements GroupBackend {
  epoch = 0;
  holder: MemberIdentity | null = null;
  expiresAt = -Infinity;
  renewDelayMs = 0;
  down: Error | undefined;
  readonly released: { epoch: number; holdMs: number; writes: TermWrites | undefined }[] = [];
  readonly renewals: TermWrites[] = [];
  cycleRequestedAt: string | null = null;
  private readonly lostListeners: ((cause: unknown) => void)[] = [];

  private view(): LeaseHolder | null {
    if (!this.holder) return null;
    return {
      instanceId: this.holder.instanceId,
      host: this.holder.host,
      pid: this.holder.pid,
      command: this.holder.command,
      epoch: this.epoch,
      renewedAt: new Date().toISOString(),
      expiresAt: new Date(this.expiresAt).toISOString(),
    };
  }

  private get free(): boolean {
    return !this.holder || this.expiresAt < Date.now();
  }

  private check(): void {
    if (this.down) throw this.down;
  }

  async poll(): Promise<LeaseView> {
    this.check();
    return { holder: this.free ? null : this.view(), free: this.free };
  }

  async acquire(
    me: MemberIdentity,
    leaseMs: number,
  ): Promise<{ epoch: number } | { holder: LeaseHolder | null }> {
    this.check();
    if (!this.free) return { holder: this.view() };
    this.epoch++;
    this.holder = me;
    this.expiresAt = Date.now() + leaseMs;
    return { epoch: this.epoch };
  }

  async renew(
    me: MemberIdentity,
    epoch: number,
    leaseMs: number,
    writes: TermWrites | undefined,
  ): Promise<RenewResult | undefined> {
    this.check();
    if (this.renewDelayMs > 0) await new Promise((r) => setTimeout(r, this.renewDelayMs));
    this.check();
    if (writes) this.renewals.push(writes);
    if (this.epoch !== epoch || this.holder?.instanceId !== me.instanceId) return undefined;
    this.expiresAt = Date.now() + leaseMs;
    return { holder: this.view()!, cycleRequestedAt: this.cycleRequestedAt };
  }

  async release(
    me: MemberIdentity,
    epoch: number,
    writes: TermWrites | undefined,
    holdMs: number,
  ): Promise<void> {
    this.check();
    this.released.push({ epoch, holdMs, writes });
    if (this.epoch !== epoch || this.holder?.instanceId !== me.instanceId) return;
    if (holdMs > 0) this.expiresAt = Date.now() + holdMs;
    else this.holder = null;
  }

  async leave(): Promise<void> {}
  async requestCycle(): Promise<void> {
    this.cycleRequestedAt = new Date().toISOString();
  }
  onSessionLost(listener: (cause: unknown) => void): void {
    this.lostListeners.push(listener);
  }
  loseSession(): void {
    for (const l of this.lostListeners) l(new Error('terminating connection due to administrator command'));
  }
  reset(): void {}
  async close(): Promise<void> {}
}

let serial = 0;
function member(lease: FakeLease, settings: LeaseSettings, standby = true): GroupMembership {
  serial++;
  return new GroupMembership(
    lease,
    {
      instanceId: `0000${serial}`,
      host: `host-${serial}`,
      pid: 1000 + serial,
      command: standby ? 'run' : 'sync',
      startedAt: new Date().toISOString(),
    },
    settings,
    { standby, location: 'postgres://dwb@db:5432/dwb' },
  );
}

// 10 s lease, 4 s margin: a write window of 5.98 s, renewals every second, polls every 500 ms.
const SETTINGS = fromLease(10_000, 4_000);

beforeEach(() => {
  setLogLevel('silent');
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
});
afterEach(() => vi.useRealTimers());

describe('the lease settings', () => {
  it('leave a write window that ends before a new lease can begin, whatever the drift within the bound', () => {
    for (const [intervalSeconds, adTimeoutSeconds] of [
      [5, 10],
      [1, 3],
      [1, 10],
      [30, 60],
      [0.25, 1],
    ] as const) {
      const s = leaseSettings({ intervalSeconds, adTimeoutSeconds });
      const slowest = s.writeWindowMs / (1 - DRIFT_RATE) + s.marginMs; // real time of the last write's landing
      const earliest = s.leaseMs / (1 + DRIFT_RATE); // real time a standby may take the lease
      expect(slowest).toBeLessThanOrEqual(earliest);
      expect(s.marginMs).toBeGreaterThanOrEqual(adTimeoutSeconds * 1000);
      expect(s.renewEveryMs * 2).toBeLessThan(s.writeWindowMs);
    }
    // the defaults: a standby takes over within intervalSeconds + 10 s (lease + one poll + a cycle's start)
    const defaults = leaseSettings({ intervalSeconds: 5, adTimeoutSeconds: 10 });
    expect(defaults.leaseMs + defaults.pollEveryMs).toBeLessThanOrEqual(13_500);
    expect(defaults.writeWindowMs).toBeGreaterThanOrEqual(2_500);
  });
});

describe('a group of instances', () => {
  it('the first takes the lease, the second stands by; a one-shot writer is refused naming the leader', async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    const b = member(lease, SETTINGS);
    await a.start();
    await b.start();
    expect(a.status()).toMatchObject({ role: 'leader', epoch: 1, writable: true });
    expect(b.status()).toMatchObject({
      role: 'standby',
      epoch: null,
      leader: { epoch: 1, pid: a.status().leader?.pid },
    });
    const sync = member(lease, SETTINGS, false);
    const refused = await sync.start().catch((e: unknown) => e);
    expect(refused).toMatchObject({
      code: 'DWB_STATE_LOCKED',
      message: expect.stringMatching(/process \d+ on host host-\d+, epoch 1/),
    });
    await a.close();
    await b.close();
  });

  it('a leader whose database stops answering steps down at its next renewal', async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    await a.start();
    expect(() => a.admitWrite()).not.toThrow();
    // renewals every second keep the window ahead
    await vi.advanceTimersByTimeAsync(20_000);
    expect(a.status().writable).toBe(true);
    lease.down = new Error('connection refused');
    await vi.advanceTimersByTimeAsync(1_100);
    expect(a.status().role).toBe('standby');
    expect(a.status().problem).toMatch(/connection refused/);
    expect(() => a.admitWrite()).toThrow(/does not lead/);
    await a.close();
  });

  it('a renewal that answers late counts from when it was sent; mayWrite waits for it', async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    await a.start(); // acquired at 0: the window runs to 5.98 s
    lease.renewDelayMs = 5_500; // the renewal sent at 1 s answers at 6.5 s
    await vi.advanceTimersByTimeAsync(5_900);
    expect(a.status().writable).toBe(true);
    await vi.advanceTimersByTimeAsync(200); // 6.1 s: the window of the acquisition is over
    expect(a.status()).toMatchObject({ role: 'leader', writable: false });
    expect(() => a.admitWrite()).toThrow(/not renewed within its write window/);
    let resumed = false;
    const waiting = a.mayWrite().then(() => (resumed = true));
    lease.renewDelayMs = 0;
    await vi.advanceTimersByTimeAsync(500); // 6.6 s: answered; sent at 1 s, so the window runs to 6.98 s
    await waiting;
    expect(resumed).toBe(true);
    expect(a.status().writable).toBe(true);
    const closing = a.close();
    await vi.advanceTimersByTimeAsync(10_000);
    await closing;
  });

  it('a machine that was suspended (its monotonic clock stopped, the wall clock went on) stops writing', async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    await a.start();
    expect(a.status().writable).toBe(true);
    vi.setSystemTime(Date.now() + SETTINGS.writeWindowMs); // only Date moves, not performance.now()
    expect(a.status().writable).toBe(false);
    expect(() => a.admitWrite()).toThrow(/DWB_STATE_FENCED|write window/);
    await a.close();
  });

  it('a leader that loses its session steps down, gives the lease up once its last write landed, and a standby takes over', async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    const b = member(lease, SETTINGS);
    await a.start();
    await b.start();
    const events: string[] = [];
    b.onChange((e) => events.push(e));
    a.admitWrite();
    a.writeSettled();
    await vi.advanceTimersByTimeAsync(1_000);
    lease.loseSession();
    expect(a.status().role).toBe('standby');
    expect(a.fenceToken()).toBeUndefined();
    await vi.advanceTimersByTimeAsync(600);
    // given up, held until the write admitted 1.6 s ago can have landed (margin 4 s)
    expect(lease.released).toEqual([
      { epoch: 1, holdMs: expect.any(Number), writes: expect.objectContaining({ writes: 1 }) },
    ]);
    expect(lease.released[0]!.holdMs).toBeGreaterThan(2_000);
    expect(lease.released[0]!.holdMs).toBeLessThanOrEqual(SETTINGS.marginMs * (1 + 2 * DRIFT_RATE));
    expect(b.status().role).toBe('standby');
    await vi.advanceTimersByTimeAsync(3_000);
    expect(b.status()).toMatchObject({ role: 'leader', epoch: 2 });
    expect(events).toEqual(['leader']);
    // the one that stepped down holds off: it does not take the lease back from the new leader
    expect(a.status()).toMatchObject({ role: 'standby', leader: { epoch: 2 } });
    await a.close();
    await b.close();
  });

  it('a leader whose renewal finds another epoch was deposed: it stands by and gives nothing up', async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    await a.start();
    const changes: string[] = [];
    a.onChange((e) => changes.push(e));
    lease.epoch = 7; // another instance took the lease (as after a partition that a renewal missed)
    await vi.advanceTimersByTimeAsync(1_100);
    expect(a.status()).toMatchObject({ role: 'standby', epoch: null });
    expect(changes).toEqual(['standby']);
    expect(lease.released).toEqual([]);
    await a.close();
  });

  it("forwards a standby's request for a cycle to the leader", async () => {
    const lease = new FakeLease();
    const a = member(lease, SETTINGS);
    const b = member(lease, SETTINGS);
    await a.start();
    await b.start();
    const heard: string[] = [];
    a.onChange((e) => heard.push(e));
    await vi.advanceTimersByTimeAsync(1_100); // a renewal sees no request yet
    await b.requestCycle();
    await vi.advanceTimersByTimeAsync(1_100);
    expect(heard).toEqual(['cycle-requested']);
    await a.close();
    await b.close();
  });
});
