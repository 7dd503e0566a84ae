// Hooks through which the connector reports what it does, so that metrics (prom-client, in web/) can
// count requests, throttling and resets without the connector knowing about them. Default: nothing.

/**
 * Low-cardinality names of what was requested: `token`, `authority-metadata`, `devices.delta`,
 * `devices.list`, `$batch`, `registeredOwners`, `registeredUsers`.
 */
export type EntraRoute = string;

export interface EntraObserver {
  /** Every HTTP exchange; `status` is 0 when no HTTP answer came (network or TLS failure). */
  onRequest(route: EntraRoute, status: number, durationMs: number): void;
  /** Graph asked to slow down (429, 503...) and the connector waits `waitMs` before trying again. */
  onThrottle(route: EntraRoute, status: number, waitMs: number): void;
  /** The delta token was refused and a full read starts again. */
  onReset(reason: string): void;
  /** A device failed validation and is handed on as `invalid`. */
  onInvalidDevice(): void;
}

export const noopObserver: EntraObserver = {
  onRequest: () => undefined,
  onThrottle: () => undefined,
  onReset: () => undefined,
  onInvalidDevice: () => undefined,
};

/** Fills the hooks an observer leaves out with no-ops. */
export function completeObserver(partial: Partial<EntraObserver> | undefined): EntraObserver {
  return { ...noopObserver, ...partial };
}
