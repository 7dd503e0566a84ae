// The device-writeback command line: one executable, one file per subcommand (SPEC §3).
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../errors.js';
import { commandModules } from './commands.js';
import { quietOnClosedPipe } from './output.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

/**
 * The program with every subcommand, or only `only` when it names one (the command being run: its
 * help and errors are the same, and the other commands' code is not loaded).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('device-writeback')
    .description(
      'Writes Microsoft Entra ID devices back to on-premises Active Directory as msDS-Device objects, so that AD FS can grant device-based conditional access.',
    )
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const names =
    only !== undefined && Object.hasOwn(commandModules, only) ? [only] : Object.keys(commandModules);
  for (const module of await Promise.all(names.map((name) => commandModules[name]!())))
    module.register(program);
  program.addHelpText(
    'after',
    '\nExit codes: 0 success, 1 failure, 2 usage or configuration error, 3 some devices quarantined,\n4 the deletion threshold stopped a sync.\n\nStart with: device-writeback demo   (or see the README)',
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  // The subcommand comes first (its options follow it); anything else (--help, --version, an
  // unknown or misspelt command) gets the whole program.
  const first = argv[2];
  const program = await buildProgram(first !== undefined && !first.startsWith('-') ? first : undefined);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return ExitCode.ok;
      return ExitCode.usage;
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
}
