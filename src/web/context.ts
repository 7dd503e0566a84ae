// What every console page can reach: the running service and its session, the device index, the
// metrics, the console's own LDAP session, and the last check report.
import type { CheckReport } from '../checks/index.js';
import type { Config } from '../config/load.js';
import type { WritebackService } from '../sync/service.js';
import type { StateStore } from '../state/store.js';
import type { DeviceIndex } from './device-index.js';
import type { WritebackMetrics } from './metrics.js';

export interface CheckRun {
  startedAt: string;
  durationMs: number;
  report?: CheckReport;
  error?: string;
}

export interface ConsoleContext {
  service: WritebackService;
  /** The state store the service runs on (shared with the engine). */
  store: StateStore;
  config: Config;
  index: DeviceIndex;
  metrics: WritebackMetrics;
  runChecks(config: Config): Promise<CheckReport>;
  checks: { last?: CheckRun; running?: Promise<void> };
}

/** Bounds a live directory read so that a page answers even when the DC does not. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer within ${Math.round(ms / 1000)} s`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
