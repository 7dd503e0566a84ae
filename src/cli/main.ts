// The device-writeback command line: one executable, one file per subcommand (SPEC §3).
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../errors.js';
import { commands } from './commands.js';
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

export function buildProgram(): Command {
  const program = new Command('device-writeback')
    .description(
      'Writes Microsoft Entra ID devices back to on-premises Active Directory as msDS-Device objects, so that AD FS can grant device-based conditional access.',
    )
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of commands) register(program);
  program.addHelpText(
    'after',
    '\nExit codes: 0 success, 1 failure, 2 usage or configuration error, 3 some devices quarantined,\n4 the deletion threshold stopped a sync.\n\nStart with: device-writeback demo   (or see the README)',
  );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  const program = buildProgram();
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
