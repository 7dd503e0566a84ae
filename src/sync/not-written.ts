// Why a device known in Entra ID is not in AD, in one place for `devices --all`, `status`, `claims`
// and the console: quarantined (in scope, its write failed: the error), out of scope (the rule it
// fails, recorded by the last pass that saw it), unrouted (several forests: its owner belongs to no
// configured forest, recorded the same way under the rule `unrouted`), or pending (in scope, the
// next pass writes it).
import type {
  DeviceSummary,
  Disposition,
  NotWrittenReason,
  QuarantineEntry,
  StateStore,
} from '../state/store.js';
import { UNROUTED_RULE } from './routing.js';

export type NotWrittenKind = 'quarantined' | 'out-of-scope' | 'unrouted' | 'pending';

export interface NotWritten {
  kind: NotWrittenKind;
  /** The scope key that keeps it out (out of scope), `unrouted`, or null. */
  rule: string | null;
  reason: string;
}

export function notWrittenOf(
  recorded: NotWrittenReason | null,
  quarantine: Pick<QuarantineEntry, 'code' | 'message'> | undefined,
): NotWritten {
  if (quarantine)
    return {
      kind: 'quarantined',
      rule: null,
      reason: `quarantined: ${quarantine.code}: ${quarantine.message}`,
    };
  if (recorded)
    return {
      kind: recorded.rule === UNROUTED_RULE ? 'unrouted' : 'out-of-scope',
      rule: recorded.rule,
      reason: recorded.reason,
    };
  return { kind: 'pending', rule: null, reason: 'not written yet: in scope, the next pass writes it' };
}

/** The reason the sync rule recorded for a device (out of scope, unrouted), or null. */
export function recordedReason(d: Partial<Disposition>): NotWrittenReason | null {
  return d.reason
    ? { rule: d.rule ?? (d.reason.startsWith('unrouted:') ? UNROUTED_RULE : 'scope'), reason: d.reason }
    : null;
}

export interface NotWrittenDevice extends DeviceSummary {
  why: NotWritten;
}

/**
 * Every device the state store knows from Entra ID that has no object in AD written by this
 * product (by the object map, and by `inAd`: deviceIds of managed objects seen in the container),
 * with why. (A device whose CN is taken by an unmanaged object is not written: it is quarantined.)
 */
export async function notWrittenDevices(
  store: StateStore,
  inAd: ReadonlySet<string> = new Set(),
): Promise<NotWrittenDevice[]> {
  const [devices, written, quarantine] = await Promise.all([
    store.devicesChangedSince(''),
    store.objectDeviceIds(),
    store.quarantined(),
  ]);
  // "forest/deviceId": a device is written when a forest holds its object.
  const writtenIds = new Set(written.map((key) => key.slice(key.indexOf('/') + 1).toLowerCase()));
  const quarantined = new Map<string, QuarantineEntry>();
  for (const q of quarantine) {
    quarantined.set(q.key, q);
    if (q.deviceId) quarantined.set(q.deviceId.toLowerCase(), q);
  }
  const out: NotWrittenDevice[] = [];
  for (const d of devices) {
    const deviceId = d.deviceId?.toLowerCase();
    const q = quarantined.get(d.graphId) ?? (deviceId ? quarantined.get(deviceId) : undefined);
    if (deviceId && (writtenIds.has(deviceId) || inAd.has(deviceId))) continue;
    out.push({ ...d, why: notWrittenOf(recordedReason(d), q) });
  }
  out.sort(
    (a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? '') || a.graphId.localeCompare(b.graphId),
  );
  return out;
}
