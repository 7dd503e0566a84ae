// What every command shares: the global flags, loading the configuration, printing results, and
// turning any error into the message and exit code of SPEC §3.
import { Command, Option } from 'commander';
import { configPath, loadConfig, type Config } from '../config/load.js';
import { DwbError, ExitCode, causeText, isDwbError } from '../errors.js';
import { isDebug, logger, logLevels, setLogLevel, type LogLevel } from '../log.js';
import { errOut } from './output.js';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  logLevel?: LogLevel;
}

/** Adds --config and --log-level (and --json where the command prints results). */
export function withCommonOptions(command: Command, options: { json?: boolean } = {}): Command {
  command
    .addOption(
      new Option(
        '-c, --config <file>',
        'configuration file (default ./device-writeback.yaml, or $DWB_CONFIG)',
      ),
    )
    .addOption(
      new Option('--log-level <level>', 'log level for the JSON logs on stderr')
        .choices(logLevels as string[])
        .default('info'),
    );
  if (options.json) command.option('--json', 'print the result as JSON on stdout');
  return command;
}

export function applyLogLevel(opts: GlobalOptions): void {
  setLogLevel(opts.logLevel ?? 'info');
}

export function readConfig(opts: GlobalOptions): Config {
  return loadConfig(configPath(opts.config));
}

export { out, outJson } from './output.js';

/** Prints an error the way users should see it and returns its exit code. */
export function reportError(err: unknown): number {
  if (isDwbError(err)) {
    errOut(err.describe());
    if (isDebug() && err.cause) logger().debug({ err: err.cause }, 'cause');
    return err.exitCode;
  }
  const wrapped = new DwbError('DWB_INTERNAL', `unexpected error: ${causeText(err)}`, { cause: err });
  errOut(wrapped.describe());
  if (isDebug() && err instanceof Error && err.stack) errOut(err.stack);
  return ExitCode.failure;
}

/** Wraps a command body: sets the log level, runs it, maps errors to exit codes. */
export function action<T extends GlobalOptions>(
  body: (opts: T, command: Command) => Promise<number>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const opts = command.opts<T>();
    applyLogLevel(opts);
    let code: number;
    try {
      code = await body(opts, command);
    } catch (err) {
      code = reportError(err);
    }
    process.exitCode = code;
  };
}
