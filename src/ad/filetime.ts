// FILETIME, as AD stores large-integer times (msDS-ApproximateLastLogonTimeStamp): 100-ns ticks
// since 1601-01-01 UTC, written as decimal text. Pure.

const EPOCH_OFFSET_MS = 11644473600000n;

/** An ISO 8601 date-time as AD's decimal FILETIME text; throws for a text that is not a date. */
export function toFileTime(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new TypeError(`not a date-time: ${JSON.stringify(iso)}`);
  return ((BigInt(ms) + EPOCH_OFFSET_MS) * 10000n).toString();
}

export function fromFileTime(text: string): Date {
  return new Date(Number(BigInt(text) / 10000n - EPOCH_OFFSET_MS));
}
