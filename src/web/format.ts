// Small text formats the pages share: times in UTC, ages, durations, and AD values in the form an
// administrator reads them (GUIDs, SIDs, FILETIMEs decoded).
import { bytesToGuid } from '../ad/guid.js';
import { bytesToSid } from '../ad/sid.js';
import { fromFileTime } from '../ad/filetime.js';

export function timeText(iso: string | null | undefined): string {
  if (!iso) return '—';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

export function ageText(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const delta = Math.round((now - Date.parse(iso)) / 1000);
  if (Number.isNaN(delta)) return iso;
  const s = Math.abs(delta);
  const span =
    s < 120
      ? `${s} s`
      : s < 7200
        ? `${Math.round(s / 60)} min`
        : s < 172800
          ? `${Math.round(s / 3600)} h`
          : `${Math.round(s / 86400)} days`;
  return delta < 0 ? `in ${span}` : `${span} ago`;
}

export function durationText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** One AD value as text: binary GUIDs and SIDs decoded, FILETIMEs with their date. */
export function adValueText(attribute: string, value: Buffer): string {
  try {
    switch (attribute) {
      case 'msDS-DeviceID':
        return value.length === 16 ? bytesToGuid(value) : `0x${value.toString('hex')}`;
      case 'msDS-RegisteredOwner':
      case 'msDS-RegisteredUsers':
        return bytesToSid(value);
      case 'msDS-ApproximateLastLogonTimeStamp': {
        const text = value.toString('utf8');
        return /^\d+$/.test(text) ? `${timeText(fromFileTime(text).toISOString())} (${text})` : text;
      }
      default:
        return value.toString('utf8');
    }
  } catch {
    return `0x${value.toString('hex')}`;
  }
}
