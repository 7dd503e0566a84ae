// The numbers of a group's lease (SPEC §7), derived from the configuration, and the local write
// deadline of a leader. docs/high-availability.md holds the whole argument; in short:
//
// A renewal sent at real time s (read on the leader's own clocks) is executed by the database at
// some e >= s, which sets expires = C(e) + L on its clock C. A standby may take the lease only when
// C reads past that, i.e. at a real time f with C(f) - C(e) >= L; with C's rate within (1 ± ρ) of
// real time, f - s >= L / (1 + ρ). The leader stops sending writes when its own clock says that
// W = L·(1 - 2ρ) - M has passed since s; with its rate within (1 ± ρ), that is at most
// W / (1 - ρ) of real time, and a write sent then lands on the DC within M (the LDAP operation
// timeout, plus slack). W / (1 - ρ) + M <= L / (1 + ρ) holds for ρ < 1/10, so the leader's last
// write lands before a new lease can begin. No clock is compared with another machine's: only
// rates are assumed bounded. The leader measures the elapsed time on both its monotonic clock and
// its wall clock and believes the larger (a suspended machine's monotonic clock stops; a stepped
// wall clock only makes it stop earlier).
import type { LeaseSettings } from './store.js';

/** The bound on how fast or slow any clock involved may run: 1,000 ppm, 20 times a poor crystal's. */
export const DRIFT_RATE = 1e-3;

/** Slack on top of the LDAP operation timeout: a write's scheduling between the check and the send. */
const SEND_SLACK_MS = 250;

export interface LeaseInputs {
  /** writeback.intervalSeconds */
  intervalSeconds: number;
  /** The longest LDAP operation timeout of the configured forests (ad.timeoutSeconds). */
  adTimeoutSeconds: number;
}

/** The shortest write window worth having: a few renewals fit in it. */
const MIN_WRITE_WINDOW_MS = 2500;

/**
 * The lease: long enough to cover an LDAP write in flight plus a write window of 2.5 s or more,
 * short enough that a standby takes over within writeback.intervalSeconds + 10 s of the leader's
 * death (the lease, one standby poll, the first cycle's start). The LDAP timeout bounds it from
 * below: with the default 10 s, the lease is 12.75 s.
 */
export function leaseSettings(inputs: LeaseInputs): LeaseSettings {
  const marginMs = Math.round(inputs.adTimeoutSeconds * 1000) + SEND_SLACK_MS;
  const leaseMs = Math.max(
    Math.round((inputs.intervalSeconds + 6) * 1000),
    Math.ceil((marginMs + MIN_WRITE_WINDOW_MS) / (1 - 2 * DRIFT_RATE)),
  );
  return fromLease(leaseMs, marginMs);
}

/** The settings of a lease of `leaseMs` whose leader stops writing `marginMs` before it ends. */
export function fromLease(leaseMs: number, marginMs: number): LeaseSettings {
  const writeWindowMs = Math.floor(leaseMs * (1 - 2 * DRIFT_RATE) - marginMs);
  if (writeWindowMs <= 0)
    throw new Error(`a lease of ${leaseMs} ms leaves no write window after ${marginMs} ms`);
  return {
    leaseMs,
    marginMs,
    writeWindowMs,
    // three renewals per write window: one late or lost renewal does not pause the writes
    renewEveryMs: Math.max(100, Math.min(1000, Math.floor(writeWindowMs / 3))),
    pollEveryMs: Math.max(100, Math.min(500, Math.floor(leaseMs / 10))),
  };
}

/** A point in time on both of this process's clocks. */
export interface ClockReading {
  /** performance.now(): monotonic, stops while the machine is suspended. */
  mono: number;
  /** Date.now(): counts a suspension, but may be stepped. */
  wall: number;
}

export type Clock = () => ClockReading;

export const systemClock: Clock = () => ({ mono: performance.now(), wall: Date.now() });

/** The elapsed time between two readings: the larger of what the two clocks say. */
export function elapsed(since: ClockReading, now: ClockReading): number {
  return Math.max(now.mono - since.mono, now.wall - since.wall);
}
