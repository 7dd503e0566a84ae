// `device-writeback check`: every prerequisite of SPEC §4 (the installation wizard's checks and the
// seed's troubleshooting steps), each with what it saw and the fix. Exit 0 when none fails.
import type { Command } from 'commander';
import { runChecks, type CheckReport } from '../checks/index.js';
import type { CheckStatus } from '../checks/types.js';
import { ExitCode } from '../errors.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

const MARK: Record<CheckStatus, string> = { pass: '✔', warn: '!', fail: '✖', skip: '-' };

export function register(program: Command): void {
  const command = program
    .command('check')
    .description(
      'verify every prerequisite of device writeback (AD schema, Device Registration Service,\ndevice container, connector rights, Entra ID, state store), each with the fix',
    )
    .option(
      '--forest <name>',
      'with several forests: run the AD checks of this forest only (default: every forest)',
    );
  withCommonOptions(command, { json: true });
  command.addHelpText(
    'after',
    '\nExit codes: 0 nothing failed (warnings allowed), 1 at least one check failed, 2 configuration error.',
  );
  command.action(
    action<GlobalOptions & { forest?: string }>(async (opts) => {
      const config = readConfig(opts);
      const report = await runChecks(config, { forest: opts.forest });
      if (opts.json) outJson({ ok: report.ok, checks: report.checks });
      else printReport(report, config.file);
      return report.ok ? ExitCode.ok : ExitCode.failure;
    }),
  );
}

/** The human table: one row per check, detail and fix on indented lines below. */
export function formatReport(report: CheckReport): string {
  const idWidth = Math.max(...report.checks.map((c) => c.id.length), 5);
  const lines: string[] = [`    ${'CHECK'.padEnd(idWidth)}  RESULT`];
  const indent = ' '.repeat(4 + idWidth + 2);
  let forest: string | null | undefined;
  for (const c of report.checks) {
    if (c.forest !== undefined && c.forest !== forest) {
      forest = c.forest;
      lines.push(forest === null ? '    (every forest)' : `    forest ${forest}`);
    }
    lines.push(`${MARK[c.status]}   ${c.id.padEnd(idWidth)}  ${c.status}: ${c.title}`);
    lines.push(`${indent}${c.detail}`);
    if (c.fix) lines.push(`${indent}fix: ${c.fix}`);
  }
  const count = (s: CheckStatus): number => report.checks.filter((c) => c.status === s).length;
  lines.push('');
  lines.push(
    `${count('pass')} passed, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('fail')} failed, ${count('skip')} skipped` +
      (report.ok ? '' : ' — fix the failed checks above, then run check again'),
  );
  return lines.join('\n');
}

function printReport(report: CheckReport, file: string): void {
  out(`device-writeback check (${file})`);
  out('');
  out(formatReport(report));
}
