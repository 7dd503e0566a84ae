// `device-writeback approve-deletes [--max <n>]`: releases the deletions that the deletion
// threshold holds back, for the next pass (of `run`, or of the next `sync`), and prints what it
// released. It writes only the approval, so it works while `run` holds the state store.
import type { Command } from 'commander';
import { DwbError } from '../errors.js';
import { openStateStore } from '../state/open.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

interface ApproveFlags extends GlobalOptions {
  max?: string;
}

export function register(program: Command): void {
  const command = program
    .command('approve-deletes')
    .description(
      'release the deletions held back by writeback.deleteThreshold, for the next pass of run (or the next sync); prints what it released',
    )
    .option('--max <n>', 'release at most n of them (the oldest first)');
  withCommonOptions(command, { json: true });
  command.addHelpText(
    'after',
    '\nWorks while `run` is running (it only records the approval). Check why so many devices left Entra ID\nor the scope first: `device-writeback status` lists the held deletions with their reasons.',
  );
  command.action(
    action<ApproveFlags>(async (opts) => {
      let max: number | undefined;
      if (opts.max !== undefined) {
        max = Number(opts.max);
        if (!Number.isInteger(max) || max < 1) {
          throw new DwbError(
            'DWB_USAGE',
            `--max ${JSON.stringify(opts.max)} is not a positive whole number.`,
          );
        }
      }
      const config = readConfig(opts);
      const store = await openStateStore(config, { writer: false });
      try {
        const held = await store.heldDeletions();
        const released = held.length > 0 ? await store.approveDeletions(max) : [];
        const still = held.length - released.length - held.filter((h) => h.approvedAt).length;
        if (opts.json) {
          outJson({ released, stillHeld: Math.max(0, still) });
          return 0;
        }
        if (held.length === 0) {
          out('No deletion is held back by writeback.deleteThreshold: nothing to release.');
          return 0;
        }
        out(
          `Released ${released.length} deletion${released.length === 1 ? '' : 's'}; the next pass makes ${released.length === 1 ? 'it' : 'them'} (run picks ${released.length === 1 ? 'it' : 'them'} up at its next cycle):`,
        );
        for (const r of released) out(`  ${r.deviceId}  ${r.dn}  (${r.reason})`);
        if (still > 0) out(`\n${still} more still held; run approve-deletes again to release them.`);
        return 0;
      } finally {
        await store.close();
      }
    }),
  );
}
