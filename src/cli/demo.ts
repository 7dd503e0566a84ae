// `device-writeback demo`: the one-command tour (SPEC §3). Needs no configuration file: it builds a
// throwaway lab, runs the real commands against it, and removes everything unless --keep.
import { Command, Option } from 'commander';
import { DwbError } from '../errors.js';
import { logLevels } from '../log.js';
import { action, type GlobalOptions } from './context.js';

interface DemoFlags extends GlobalOptions {
  keep?: boolean;
  devices?: string;
  forests?: string;
  ha?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('demo')
    .description(
      'one-command tour: a throwaway Samba AD DC and the Graph emulator with sample devices, then check, init-ad,\ncheck, sync, devices and `run` with live changes; removes everything at the end (needs root and Samba)',
    )
    .option(
      '--keep',
      'leave the DC, the emulator and `run` up at the end (until Ctrl-C), with the commands to try',
    )
    .option('--devices <n>', 'how many devices the emulator starts with', '200')
    .option(
      '--forests <n>',
      "how many user forests: 1 (the default tour) or 2 (two Samba forests after a merger, each device written to its owner's forest; docs/several-forests.md)",
      '1',
    )
    .option(
      '--ha',
      'then the state in PostgreSQL and two `run` instances: the leader killed with kill -9, the standby taking over, timed (needs PostgreSQL; docs/high-availability.md)',
    )
    // The demo's own process only logs problems; the commands it runs show their normal output.
    .addOption(
      new Option('--log-level <level>', 'log level for the JSON logs on stderr')
        .choices(logLevels as string[])
        .default('warn'),
    )
    .addOption(
      new Option('-c, --config <file>', 'ignored: the demo writes its own configuration').hideHelp(),
    );
  command.addHelpText(
    'after',
    '\nExit codes: 0 the demo ran, 1 a prerequisite is missing or a step failed, 130 interrupted (Ctrl-C).',
  );
  command.action(
    action<DemoFlags>(async (opts) => {
      const devices = Number(opts.devices ?? '200');
      if (!Number.isInteger(devices) || devices < 30 || devices > 100_000) {
        throw new DwbError(
          'DWB_USAGE',
          `--devices must be a whole number from 30 to 100000, not ${opts.devices}.`,
        );
      }
      if (opts.forests !== '1' && opts.forests !== '2') {
        throw new DwbError('DWB_USAGE', `--forests must be 1 or 2, not ${opts.forests}.`);
      }
      if (opts.ha && opts.forests === '2') {
        throw new DwbError('DWB_USAGE', '--ha goes with the one-forest tour: leave out --forests 2.');
      }
      // Loaded on demand: the demo pulls in the emulator and the lab, which other commands never need.
      if (opts.forests === '2') {
        const { runForestsDemo } = await import('../demo/forests-demo.js');
        return runForestsDemo({
          keep: opts.keep ?? false,
          devices,
          commands: program.commands.map((c) => c.name()),
        });
      }
      const { runDemo } = await import('../demo/demo.js');
      return runDemo({
        keep: opts.keep ?? false,
        ha: opts.ha ?? false,
        devices,
        commands: program.commands.map((c) => c.name()),
      });
    }),
  );
}
