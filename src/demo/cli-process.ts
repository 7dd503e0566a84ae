// Runs the real command line the way a user would type it (`node bin/device-writeback.js …`),
// shows the command, then its output indented under it. Log lines (JSON on stderr) are reduced to
// warnings and errors, so that what the user sees is what the command says to a person.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StepReporter } from './steps.js';

/** bin/device-writeback.js of this installation (dist/demo/ and src/demo/ are both two levels down). */
export const BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../bin/device-writeback.js',
);

/** How the user types the command from where they are. */
export function commandPrefix(cwd = process.cwd()): string {
  const relative = path.relative(cwd, BIN);
  return `node ${relative.startsWith('..') || path.isAbsolute(relative) ? BIN : relative}`;
}

/** Commands running in the foreground, stopped when the demo is interrupted. */
const running = new Set<ChildProcess>();

/** Interrupts the foreground commands (a Ctrl-C on the terminal reaches them anyway; SIGTERM does not). */
export function interruptRunningCommands(): void {
  for (const child of running) child.kill('SIGINT');
}

export interface CliResult {
  code: number;
  stdout: string;
}

export interface CliOptions {
  /** Extra environment for the child (secrets; never printed). */
  env?: Record<string, string>;
  /** How the environment is shown in the echoed command, e.g. `DWB_ADMIN_PASSWORD="$(cat …)"`. */
  envShown?: string;
  /** Show at most this many stdout lines (the rest is summarised). */
  maxLines?: number;
}

/** pino levels, by number and by label, that a person should see. */
const SHOWN_LEVELS: Record<string, string> = {
  '40': 'warning',
  '50': 'error',
  '60': 'fatal',
  warn: 'warning',
  error: 'error',
  fatal: 'fatal',
};

/** A JSON log line becomes "warning: <msg>"; info and debug lines are dropped; other text passes. */
export function humanLogLine(line: string): string | undefined {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    if (typeof entry.level !== 'number' && typeof entry.level !== 'string') return line;
    const level = SHOWN_LEVELS[String(entry.level)];
    return level ? `${level}: ${typeof entry.msg === 'string' ? entry.msg : ''}` : undefined;
  } catch {
    return line;
  }
}

export interface SpawnedCli {
  child: ChildProcess;
  shown: string;
}

/**
 * How to stop a command started in the background: SIGTERM, SIGKILL if it is still there after
 * 10 s, and wait until it is gone; nothing when it has already exited.
 */
export function stopper(child: ChildProcess): () => Promise<void> {
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  return async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
}

/** Starts the CLI with its output going to `logFile` handles (for `run` in the background). */
export function spawnCli(
  args: string[],
  options: CliOptions & { stdio: ['ignore', number, number] },
): SpawnedCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...options.env, FORCE_COLOR: '0' },
    stdio: options.stdio,
  });
  return { child, shown: shownCommand(args, options) };
}

function shownCommand(args: string[], options: CliOptions): string {
  const quoted = args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  return `${options.envShown ? `${options.envShown} ` : ''}${commandPrefix()} ${quoted.join(' ')}`;
}

/** Runs the CLI to completion, echoing the command and its output under the current step. */
export async function runCli(
  steps: StepReporter,
  args: string[],
  options: CliOptions = {},
): Promise<CliResult> {
  steps.detail(`$ ${shownCommand(args, options)}`);
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...options.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let shownLines = 0;
  let hiddenLines = 0;
  const max = options.maxLines ?? Infinity;
  const show = (text: string): void => {
    if (shownLines < max) {
      steps.detail(`│ ${text}`);
      shownLines++;
    } else hiddenLines++;
  };
  const outLines = createInterface({ input: child.stdout! });
  outLines.on('line', (line) => {
    stdout += `${line}\n`;
    show(line);
  });
  const errLines = createInterface({ input: child.stderr! });
  errLines.on('line', (line) => {
    const text = humanLogLine(line);
    if (text !== undefined && text.trim() !== '') show(text);
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
  }).finally(() => running.delete(child));
  if (hiddenLines > 0) steps.detail(`│ … ${hiddenLines} more line${hiddenLines === 1 ? '' : 's'}`);
  return { code, stdout };
}
