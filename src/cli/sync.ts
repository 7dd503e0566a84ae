// `device-writeback sync`: one pass (delta, or full when there is no watermark or with --full).
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { exitCodeFor } from '../sync/engine.js';
import type { SyncProgress, SyncSummary } from '../sync/pass.js';
import { openSyncSession } from '../sync/session.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

interface SyncFlags extends GlobalOptions {
  full?: boolean;
  dryRun?: boolean;
  allowDeletes?: boolean;
  adopt?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('sync')
    .description(
      'one writeback pass: read devices from Entra ID (delta, or full) and write them to the device container',
    )
    .option('--full', 'full reconcile: compare every device and every object, repair drift')
    .option('--dry-run', 'print the LDAP operations that would be made, and write nothing')
    .option(
      '--allow-deletes',
      'make the deletions even when they take the window over writeback.deleteThreshold (empties the window)',
    )
    .option(
      '--adopt',
      'take over unmanaged objects whose msDS-DeviceID matches a cloud device (migration from Azure AD Connect)',
    );
  withCommonOptions(command, { json: true });
  command.addHelpText(
    'after',
    '\nExit codes: 0 done, 1 failed, 2 configuration error, 3 some devices quarantined (see `status`),\n4 deletions held back by writeback.deleteThreshold (none was made; see `status`, then approve-deletes\nor rerun with --allow-deletes).',
  );
  command.action(
    action<SyncFlags>(async (opts) => {
      const config = readConfig(opts);
      const session = await openSyncSession(config);
      const bar = process.stderr.isTTY && !opts.json ? new ProgressBar() : undefined;
      try {
        const summary = await session.engine.sync({
          full: opts.full,
          dryRun: opts.dryRun,
          allowDeletes: opts.allowDeletes,
          adopt: opts.adopt,
          onProgress: bar ? (p) => bar.update(p) : undefined,
        });
        bar?.stop();
        if (opts.json) outJson(jsonSummary(summary, config.severalForests));
        else
          printSummary(
            summary,
            new Map(
              session.forests.map((f) => [f.name, f.reached?.container.containerDn ?? '(not reached)']),
            ),
            config.severalForests,
          );
        return exitCodeFor(summary);
      } finally {
        bar?.stop();
        await session.close();
      }
    }),
  );
}

/** The SPEC §3 shape, plus a few extra fields. */
export function jsonSummary(s: SyncSummary, several = false): Record<string, unknown> {
  return {
    mode: s.mode,
    dryRun: s.dryRun,
    created: s.created,
    updated: s.updated,
    deleted: s.deleted,
    unchanged: s.unchanged,
    quarantined: s.quarantined,
    durationMs: s.durationMs,
    errors: s.errors,
    ...(s.dryRun ? { operations: s.operations ?? [] } : {}),
    adopted: s.adopted,
    // the forest of each adoption only with several forests (SPEC §3: one forest, no forest field)
    adoptedDevices: several ? s.adoptions : s.adoptions.map(({ deviceId, dn }) => ({ deviceId, dn })),
    heldDeletes: s.deletionsHeld,
    deletionsHeld: s.deletionsHeld,
    thresholdStopped: s.thresholdStopped,
    reason: s.reason,
    watermarkCommitted: s.watermarkCommitted,
    outOfScope: s.outOfScope,
    ...(several
      ? {
          unrouted: s.unrouted,
          forests: Object.fromEntries(
            Object.entries(s.forests).map(([name, f]) => [
              name,
              {
                created: f.created,
                updated: f.updated,
                deleted: f.deleted,
                unchanged: f.unchanged,
                quarantined: f.quarantined,
                adopted: f.adopted,
                heldDeletes: f.deletionsHeld,
                ...(f.error ? { error: f.error } : {}),
              },
            ]),
          ),
        }
      : {}),
  };
}

function printSummary(s: SyncSummary, containers: Map<string, string>, several: boolean): void {
  if (s.dryRun) {
    const where = several
      ? [...containers].map(([name, dn]) => `${dn} (${name})`).join(', ')
      : [...containers.values()].join(', ');
    out(`Dry run (${s.mode}): nothing was written. Planned LDAP operations on ${where}:`);
    for (const op of s.operations ?? []) {
      // LDIF comments: the forest, why a device leaves AD, and whether the deletion threshold would hold it.
      const forest = op.forest ? `# forest ${op.forest}\n` : '';
      const why = op.reason
        ? `# ${op.held ? 'HELD by writeback.deleteThreshold (not made without approve-deletes): ' : ''}${op.reason}\n`
        : '';
      out(`\n${forest}${why}${op.ldif}`);
    }
    if ((s.operations ?? []).length === 0) out('  (none)');
    out('');
  }
  out(
    `${s.dryRun ? 'Would have' : 'Sync'} ${s.mode === 'full' ? 'full' : 'delta'} pass (${s.reason}) in ${(s.durationMs / 1000).toFixed(1)} s`,
  );
  out(
    `  created ${s.created}, updated ${s.updated}${s.adopted ? ` (adopted ${s.adopted})` : ''}, deleted ${s.deleted}, unchanged ${s.unchanged}, quarantined ${s.quarantined}`,
  );
  const outOfScope = Object.entries(s.outOfScope);
  if (outOfScope.length > 0) {
    const total = outOfScope.reduce((n, [, count]) => n + count, 0);
    out(
      `  out of scope (not written): ${total} of the devices this pass read — ${outOfScope.map(([rule, count]) => `${rule} ${count}`).join(', ')} (device-writeback devices --all says why for each)`,
    );
  }
  if (several) {
    for (const [name, f] of Object.entries(s.forests)) {
      out(
        `  forest ${name}: ${f.error ? `NOT REACHED (${f.error.code}: ${f.error.message}); its changes wait in the state store` : `created ${f.created}, updated ${f.updated}, deleted ${f.deleted}, unchanged ${f.unchanged}, quarantined ${f.quarantined}${f.deletionsHeld ? `, ${f.deletionsHeld} deletions held` : ''}`}`,
      );
    }
    if (s.unrouted > 0)
      out(`  unrouted ${s.unrouted} (no forest holds their owner: see \`device-writeback devices --all\`)`);
  } else {
    for (const f of Object.values(s.forests)) if (f.error) out(`  ${f.error.code}: ${f.error.message}`);
  }
  if (s.adoptions.length > 0) {
    out(
      s.dryRun
        ? '\nWould adopt (objects not written by device-writeback, whose msDS-DeviceID is a cloud device):'
        : '\nAdopted (objects not written by device-writeback, whose msDS-DeviceID is a cloud device; managed from now on):',
    );
    for (const a of s.adoptions) out(`  adopted ${a.deviceId}  ${a.dn}`);
  }
  if (s.thresholdStopped) {
    out(
      `\n  ${s.deletionsHeld} deletions would take the deletions of the last writeback.deleteWindowSeconds over writeback.deleteThreshold: NONE of them was made and the watermark was not advanced (see \`device-writeback status\`).\n  Check why so many devices left Entra ID or the scope; to go ahead, run: device-writeback approve-deletes (then sync again), or sync --allow-deletes`,
    );
  }
  if (s.errors.length > 0) {
    out('\nQuarantined devices (retried on every pass; see `device-writeback status`):');
    for (const e of s.errors.slice(0, 20)) out(`  ${e.deviceId ?? '(no deviceId)'}  ${e.code}  ${e.message}`);
    if (s.errors.length > 20) out(`  … and ${s.errors.length - 20} more`);
  }
}

class ProgressBar {
  private bar: SingleBar | undefined;

  update(p: SyncProgress): void {
    if (p.phase === 'done') return this.stop();
    const done = p.created + p.updated + p.deleted + p.unchanged + p.quarantined;
    if (!this.bar) {
      this.bar = new SingleBar({
        stream: process.stderr,
        format:
          ' {phase} | {done} devices handled of {total} read | +{created} ~{updated} -{deleted} ={unchanged} !{quarantined}',
        hideCursor: true,
      });
      this.bar.start(Math.max(p.devices, 1), done, { ...p, done, total: p.devices });
    }
    this.bar.setTotal(Math.max(p.devices, 1));
    this.bar.update(done, { ...p, done, total: p.devices });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
