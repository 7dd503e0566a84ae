// `device-writeback status`: last runs, watermark age, counts and quarantine, from the state store.
import type { Command } from 'commander';
import { StateStore } from '../state/store.js';
import { refusePostgres } from '../sync/session.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

export function ageText(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export function statusReport(store: StateStore): Record<string, unknown> {
  const runs = store.recentRuns(10);
  const watermarkAt = store.watermarkAt;
  return {
    watermark: {
      committedAt: watermarkAt ?? null,
      ageSeconds: watermarkAt ? Math.round((Date.now() - Date.parse(watermarkAt)) / 1000) : null,
      lastFullAt: store.lastFullAt ?? null,
    },
    counts: {
      managedObjects: store.countObjects(),
      cloudDevices: store.countDevices(),
      quarantined: store.countQuarantined(),
    },
    lastRuns: runs,
    quarantine: store.quarantined(),
  };
}

export function register(program: Command): void {
  const command = program
    .command('status')
    .description('last runs, watermark age, counts, and quarantined devices with their errors');
  withCommonOptions(command, { json: true });
  command.action(
    action<GlobalOptions>(async (opts) => {
      const config = readConfig(opts);
      refusePostgres(config);
      const store = StateStore.open(config.state.sqlite, { writer: false });
      try {
        const report = statusReport(store);
        if (opts.json) {
          outJson(report);
          return 0;
        }
        const runs = store.recentRuns(10);
        out(`State store: ${config.state.sqlite}`);
        out(
          `Watermark:   committed ${ageText(store.watermarkAt)}; last full reconcile ${ageText(store.lastFullAt)}`,
        );
        out(
          `Counts:      ${store.countObjects()} managed objects, ${store.countDevices()} cloud devices known, ${store.countQuarantined()} quarantined`,
        );
        out('\nLast runs:');
        if (runs.length === 0) out('  none yet — run `device-writeback sync`');
        for (const r of runs) {
          out(
            `  #${r.id} ${r.startedAt}  ${r.mode.padEnd(5)} ${r.dryRun ? 'dry-run ' : ''}${r.outcome.padEnd(11)} +${r.created} ~${r.updated} -${r.deleted} =${r.unchanged} !${r.quarantined}  ${r.durationMs ?? '-'} ms${r.error ? `  ${r.error}` : ''}`,
          );
        }
        const q = store.quarantined();
        out(`\nQuarantine (${q.length}):`);
        if (q.length === 0) out('  empty');
        for (const e of q)
          out(
            `  ${e.deviceId ?? e.key}  ${e.displayName ?? ''}  ${e.code}: ${e.message}  (${e.attempts} attempts, since ${e.firstSeen})`,
          );
        return 0;
      } finally {
        store.close();
      }
    }),
  );
}
