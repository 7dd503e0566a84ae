// How long to wait before asking Microsoft Graph again: its Retry-After header when it sends one
// (seconds, possibly fractional, or an HTTP date), exponential backoff with jitter otherwise, and
// always within a bounded number of attempts and a bounded total wait.

export interface RetryPolicy {
  /** Attempts per request, the first one included. */
  maxAttempts: number;
  /** Total time one request may spend waiting between attempts. */
  maxTotalWaitMs: number;
  /** First backoff step when Graph gives no Retry-After. */
  baseDelayMs: number;
  /** Largest single backoff step. */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 6,
  maxTotalWaitMs: 120_000,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
};

/** Statuses that mean "try again later" rather than "this request is wrong". */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 503 || status === 502 || status === 504 || status === 500;
}

/**
 * The wait a Retry-After header asks for, in milliseconds; undefined when absent or unreadable.
 * `now` is injectable so that HTTP dates can be tested without a clock.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP date names its day and GMT; anything else (like "-5", which Date.parse reads as a year) is noise.
  if (!/GMT$/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Whether one more attempt is within the policy: attempts are left, and waiting `waitMs` before it
 * keeps the request's total wait within maxTotalWaitMs (`waitedMs` already spent).
 */
export function mayRetry(policy: RetryPolicy, attempt: number, waitedMs: number, waitMs: number): boolean {
  return attempt < policy.maxAttempts && waitedMs + waitMs <= policy.maxTotalWaitMs;
}

/** Exponential backoff with "equal jitter": half the step is fixed, half random. */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
