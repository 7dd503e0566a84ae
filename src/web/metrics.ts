// Prometheus metrics for `run` (prom-client, a registry of our own): what each cycle did, the state
// of the store, Graph requests and throttling, LDAP operations by result code, and the default
// process metrics. The connectors report through observer hooks; gauges are read at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EntraObserver } from '../entra/observer.js';
import type { LdapObserver } from '../ad/export-target.js';
import type { StateStore, StoreCounts, Watermark } from '../state/store.js';
import type { CycleRecord, ServiceHealth } from '../sync/service.js';

/** Where the scrape-time gauges read from (set once the service exists). */
export interface MetricsSource {
  store: StateStore;
  health(): ServiceHealth;
}

const PREFIX = 'device_writeback_';

export class WritebackMetrics {
  readonly registry = new Registry();
  private source: MetricsSource | undefined;
  /** What the store said at the start of the current scrape (read once, not once per gauge). */
  private scraped: { counts: StoreCounts; watermark: Watermark } | undefined;

  readonly objectsCreated = new Counter({
    name: `${PREFIX}objects_created_total`,
    help: 'msDS-Device objects created in AD',
    labelNames: ['forest'] as const,
    registers: [this.registry],
  });
  readonly objectsUpdated = new Counter({
    name: `${PREFIX}objects_updated_total`,
    help: 'msDS-Device objects modified in AD',
    labelNames: ['forest'] as const,
    registers: [this.registry],
  });
  readonly objectsDeleted = new Counter({
    name: `${PREFIX}objects_deleted_total`,
    help: 'msDS-Device objects deleted from AD',
    labelNames: ['forest'] as const,
    registers: [this.registry],
  });
  readonly objectsQuarantined = new Counter({
    name: `${PREFIX}objects_quarantined_total`,
    help: 'devices quarantined by a cycle (a device quarantined again in a later cycle counts again)',
    labelNames: ['forest'] as const,
    registers: [this.registry],
  });
  readonly cycles = new Counter({
    name: `${PREFIX}cycles_total`,
    help: 'sync cycles by mode (full, delta; unknown: failed before the mode was known) and outcome (ok, quarantined, threshold, failed)',
    labelNames: ['mode', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly cycleDuration = new Histogram({
    name: `${PREFIX}cycle_duration_seconds`,
    help: 'duration of sync cycles',
    labelNames: ['mode'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly graphRequests = new Counter({
    name: `${PREFIX}graph_requests_total`,
    help: 'HTTP requests to Microsoft Graph and the identity platform, by route and status (0: no answer)',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly graphThrottled = new Counter({
    name: `${PREFIX}graph_throttled_retries_total`,
    help: 'Graph requests retried after throttling (429, 503...), by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly graphDeltaResets = new Counter({
    name: `${PREFIX}graph_delta_resets_total`,
    help: 'delta tokens refused by Graph (a full read followed)',
    registers: [this.registry],
  });
  readonly graphInvalidDevices = new Counter({
    name: `${PREFIX}graph_invalid_devices_total`,
    help: 'device records from Graph that failed validation',
    registers: [this.registry],
  });
  readonly ldapOperations = new Counter({
    name: `${PREFIX}ldap_operations_total`,
    help: 'LDAP operations by forest, operation and result (success, or the LDAP result code, or error when the server did not answer)',
    labelNames: ['forest', 'operation', 'result'] as const,
    registers: [this.registry],
  });
  readonly ldapErrors = new Counter({
    name: `${PREFIX}ldap_errors_total`,
    help: 'failed LDAP operations by forest, operation and result code (error: no LDAP answer)',
    labelNames: ['forest', 'operation', 'result_code'] as const,
    registers: [this.registry],
  });

  constructor() {
    type Scrape = MetricsSource & { counts: StoreCounts; watermark: Watermark };
    const gauge = (name: string, help: string, read: (s: Scrape) => number | undefined): void => {
      const g: Gauge = new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers: [this.registry],
        collect: () => {
          if (!this.source || !this.scraped) return;
          const value = read({ ...this.source, ...this.scraped });
          if (value === undefined) g.reset();
          else g.set(value);
        },
      });
    };
    const forestGauge = (name: string, help: string, read: (s: Scrape) => Record<string, number>): void => {
      const g: Gauge<'forest'> = new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames: ['forest'] as const,
        registers: [this.registry],
        collect: () => {
          g.reset();
          if (!this.source || !this.scraped) return;
          for (const [forest, value] of Object.entries(read({ ...this.source, ...this.scraped })))
            g.set({ forest }, value);
        },
      });
    };
    forestGauge(
      'managed_devices',
      'msDS-Device objects written and managed by device-writeback, by forest',
      (s) => Object.fromEntries(Object.entries(s.counts.forests).map(([f, c]) => [f, c.managedObjects])),
    );
    gauge('quarantined_devices', 'devices in quarantine now', (s) => s.counts.quarantined);
    forestGauge(
      'unmanaged_objects',
      'objects in the device container not written by device-writeback (last full reconcile), by forest',
      (s) => Object.fromEntries(Object.entries(s.counts.forests).map(([f, c]) => [f, c.unmanaged])),
    );
    forestGauge(
      'forest_up',
      '1 while the last cycle reached the forest and wrote its changes, 0 otherwise (its changes wait)',
      (s) => Object.fromEntries(Object.entries(s.health().forests).map(([f, h]) => [f, h.healthy ? 1 : 0])),
    );
    gauge(
      'unrouted_devices',
      'devices not written because no configured forest holds their registered owner (several forests)',
      (s) => s.counts.unrouted,
    );
    gauge('cloud_devices', 'cloud devices the engine knows (last known state)', (s) => s.counts.cloudDevices);
    gauge('watermark_age_seconds', 'seconds since the delta watermark was last committed', (s) => {
      const at = s.watermark.committedAt;
      return at ? Math.max(0, (Date.now() - Date.parse(at)) / 1000) : undefined;
    });
    gauge('last_success_timestamp_seconds', 'Unix time of the end of the last successful cycle', (s) => {
      const at = s.health().lastSuccessAt;
      return at ? Date.parse(at) / 1000 : undefined;
    });
    gauge('healthy', '1 while /healthz answers 200, 0 otherwise', (s) => (s.health().healthy ? 1 : 0));
    gauge(
      'leader',
      '1 while this instance leads its group and writes to AD (always with SQLite), 0 on a standby',
      (s) => (s.health().role === 'leader' ? 1 : 0),
    );
    collectDefaultMetrics({ register: this.registry });
  }

  bind(source: MetricsSource): void {
    this.source = source;
  }

  /** The LDAP observer of a forest's connector. */
  readonly ldapObserver =
    (forest: string): LdapObserver =>
    (operation, resultCode) => {
      const result = resultCode === 'ok' ? 'success' : String(resultCode);
      this.ldapOperations.inc({ forest, operation, result });
      if (resultCode !== 'ok') this.ldapErrors.inc({ forest, operation, result_code: String(resultCode) });
    };

  readonly entraObserver: EntraObserver = {
    onRequest: (route, status) => this.graphRequests.inc({ route, status: String(status) }),
    onThrottle: (route, status) => this.graphThrottled.inc({ route, status: String(status) }),
    onReset: () => this.graphDeltaResets.inc(),
    onInvalidDevice: () => this.graphInvalidDevices.inc(),
  };

  /** The service's cycle listener. */
  readonly onCycle = (cycle: CycleRecord): void => {
    const seconds = Math.max(0, (Date.parse(cycle.finishedAt) - Date.parse(cycle.startedAt)) / 1000);
    const s = cycle.summary;
    if (cycle.ok && s) {
      for (const [forest, f] of Object.entries(s.forests)) {
        this.objectsCreated.inc({ forest }, f.created);
        this.objectsUpdated.inc({ forest }, f.updated);
        this.objectsDeleted.inc({ forest }, f.deleted);
        this.objectsQuarantined.inc({ forest }, f.quarantined);
      }
      const outcome = s.thresholdStopped ? 'threshold' : s.quarantined > 0 ? 'quarantined' : 'ok';
      this.cycles.inc({ mode: s.mode, outcome });
      this.cycleDuration.observe({ mode: s.mode }, s.durationMs / 1000);
    } else {
      // "unknown" only when the cycle failed before the state store could say which mode it runs.
      const mode = cycle.mode ?? 'unknown';
      this.cycles.inc({ mode, outcome: 'failed' });
      this.cycleDuration.observe({ mode }, seconds);
    }
  };

  async text(): Promise<string> {
    if (this.source) {
      const [counts, watermark] = await Promise.all([
        this.source.store.counts(),
        this.source.store.watermark(),
      ]);
      this.scraped = { counts, watermark };
    }
    // prom-client writes NaN (an event-loop lag mean before any sample) as "Nan"; the exposition
    // format spells it "NaN", and strict parsers refuse anything else.
    return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
