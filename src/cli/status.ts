// `device-writeback status`: last runs, watermark age, counts and quarantine, from the state store.
import type { Command } from 'commander';
import { openStateStore } from '../state/open.js';
import type { GroupMember, NotWrittenCount, StateStore } from '../state/store.js';
import { describeScope, type ScopeSettings } from '../sync/scope.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

export function ageText(iso: string | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** One forest in `status`: its objects, and whether it missed changes. */
export interface ForestStatus {
  managedObjects: number;
  unmanaged: number;
  needsFull: boolean;
  lastError: string | null;
  lastFullAt: string | null;
}

/** Devices known in Entra ID and not written, by why (the same words as `devices --all`). */
export interface NotWrittenReport {
  outOfScope: number;
  quarantined: number;
  /** Several forests: devices whose owner belongs to no configured forest. */
  unrouted: number;
  /** Each reason (rule and words) with its count, most frequent first; quarantine is listed apart. */
  byReason: NotWrittenCount[];
}

export async function statusReport(
  store: StateStore,
  scope?: ScopeSettings,
): Promise<{
  watermark: { committedAt: string | null; ageSeconds: number | null; lastFullAt: string | null };
  counts: {
    managedObjects: number;
    cloudDevices: number;
    quarantined: number;
    notWritten: number;
    unrouted: number;
  };
  scope?: string[];
  notWritten: NotWrittenReport;
  lastRuns: Awaited<ReturnType<StateStore['recentRuns']>>;
  quarantine: Awaited<ReturnType<StateStore['quarantined']>>;
  heldDeletions: Awaited<ReturnType<StateStore['heldDeletions']>>;
  forests: Record<string, ForestStatus>;
  instances: GroupMember[];
}> {
  const [watermark, counts, lastRuns, quarantine, heldDeletions, states, byReason, instances] =
    await Promise.all([
      store.watermark(),
      store.counts(),
      store.recentRuns(10),
      store.quarantined(),
      store.heldDeletions(),
      store.forestStates(),
      store.notWrittenCounts(),
      store.groupMembers(),
    ]);
  const sum = (list: NotWrittenCount[]): number => list.reduce((n, r) => n + r.count, 0);
  const forests: Record<string, ForestStatus> = {};
  for (const name of new Set([...states.keys(), ...Object.keys(counts.forests)])) {
    const s = states.get(name);
    forests[name] = {
      ...(counts.forests[name] ?? { managedObjects: 0, unmanaged: 0 }),
      needsFull: s?.needsFull ?? false,
      lastError: s?.lastError ?? null,
      lastFullAt: s?.lastFullAt ?? null,
    };
  }
  const watermarkAt = watermark.committedAt;
  return {
    watermark: {
      committedAt: watermarkAt ?? null,
      ageSeconds: watermarkAt ? Math.round((Date.now() - Date.parse(watermarkAt)) / 1000) : null,
      lastFullAt: watermark.lastFullAt ?? null,
    },
    counts: {
      managedObjects: counts.managedObjects,
      cloudDevices: counts.cloudDevices,
      quarantined: counts.quarantined,
      notWritten: counts.notWritten,
      unrouted: counts.unrouted,
    },
    ...(scope ? { scope: describeScope(scope) } : {}),
    notWritten: {
      outOfScope: sum(byReason.filter((r) => r.rule !== 'unrouted')),
      quarantined: counts.quarantined,
      unrouted: sum(byReason.filter((r) => r.rule === 'unrouted')),
      byReason,
    },
    lastRuns,
    quarantine,
    heldDeletions,
    forests,
    instances,
  };
}

/** One line per instance of the group (or the SQLite store's one writer). */
export function instanceLines(instances: readonly GroupMember[], now = Date.now()): string[] {
  if (instances.length === 0) return ['  none: no sync or run holds the state store now'];
  return instances.map(
    (m) =>
      `  ${m.role.padEnd(7)}  \`${m.command}\` process ${m.pid} on ${m.host}${m.epoch !== null ? `  epoch ${m.epoch}` : ''}  last heartbeat ${ageText(m.heartbeatAt, now)}`,
  );
}

export function register(program: Command): void {
  const command = program
    .command('status')
    .description('last runs, watermark age, counts, and quarantined devices with their errors');
  withCommonOptions(command, { json: true });
  command.action(
    action<GlobalOptions>(async (opts) => {
      const config = readConfig(opts);
      const store = await openStateStore(config, { writer: false });
      try {
        const report = await statusReport(store, config.writeback);
        if (opts.json) {
          outJson(report);
          return 0;
        }
        const { lastRuns: runs, counts, watermark } = report;
        out(`State store: ${store.location}`);
        out(
          `Watermark:   committed ${ageText(watermark.committedAt ?? undefined)}; last full reconcile ${ageText(watermark.lastFullAt ?? undefined)}`,
        );
        out(
          `Counts:      ${counts.managedObjects} managed objects, ${counts.cloudDevices} cloud devices known, ${counts.quarantined} quarantined, ${counts.notWritten} not written${counts.unrouted ? ` (${counts.unrouted} unrouted)` : ''}`,
        );
        out(`Scope:       ${(report.scope ?? []).join('; ')}`);
        const nw = report.notWritten;
        out(
          `Not written: ${nw.outOfScope} out of scope, ${nw.quarantined} quarantined${nw.unrouted ? `, ${nw.unrouted} unrouted` : ''}${nw.byReason.length > 0 ? ' (device-writeback devices --all lists them)' : ''}`,
        );
        for (const r of nw.byReason.slice(0, 20)) out(`  ${String(r.count).padStart(7)}  ${r.reason}`);
        if (nw.byReason.length > 20) out(`  … and ${nw.byReason.length - 20} more reasons`);
        if (config.severalForests || Object.values(report.forests).some((f) => f.needsFull || f.lastError)) {
          out('\nForests:');
          for (const [name, f] of Object.entries(report.forests)) {
            const state = f.needsFull
              ? `missed changes: reconciled from the state store when it answers again${f.lastError ? ` (${f.lastError})` : ''}`
              : f.lastError
                ? `last pass failed: ${f.lastError}`
                : 'ok';
            out(`  ${name}: ${f.managedObjects} managed objects, ${f.unmanaged} unmanaged; ${state}`);
          }
        }
        out('\nInstances:');
        for (const line of instanceLines(report.instances)) out(line);
        out('\nLast runs:');
        if (runs.length === 0) out('  none yet — run `device-writeback sync`');
        for (const r of runs) {
          out(
            `  #${r.id} ${r.startedAt}  ${r.mode.padEnd(5)} ${r.dryRun ? 'dry-run ' : ''}${r.outcome.padEnd(11)} +${r.created} ~${r.updated} -${r.deleted} =${r.unchanged} !${r.quarantined}  ${r.durationMs ?? '-'} ms${r.error ? `  ${r.error}` : ''}`,
          );
        }
        const held = report.heldDeletions;
        if (held.length > 0) {
          const approved = held.filter((h) => h.approvedAt).length;
          out(
            `\nHeld deletions (${held.length}, by writeback.deleteThreshold${approved ? `; ${approved} approved, made by the next pass` : ''}):`,
          );
          for (const h of held.slice(0, 50))
            out(`  ${h.deviceId}  ${h.dn}  ${h.reason}${h.approvedAt ? '  (approved)' : ''}`);
          if (held.length > 50) out(`  … and ${held.length - 50} more`);
          out('  Check why, then release them: device-writeback approve-deletes');
        }
        const q = report.quarantine;
        out(`\nQuarantine (${q.length}):`);
        if (q.length === 0) out('  empty');
        for (const e of q)
          out(
            `  ${e.deviceId ?? e.key}  ${e.displayName ?? ''}  ${e.code}: ${e.message}  (${e.attempts} attempts, since ${e.firstSeen})`,
          );
        return 0;
      } finally {
        await store.close();
      }
    }),
  );
}
