// Undo list of the demo: every resource (DC, address, emulator, `run`, files) registers how to
// release it as soon as it exists, and the list runs once, newest first, whether the demo ends
// normally, fails, or is interrupted (Ctrl-C, SIGTERM, SIGHUP).
import { readdirSync, readFileSync } from 'node:fs';
import { causeText } from '../errors.js';

export interface CleanupAction {
  what: string;
  undo: () => Promise<void> | void;
}

export interface CleanupOutcome {
  /** What was released (the `what` of each action that has one), in order. */
  done: string[];
  failures: string[];
}

export class Cleanup {
  private readonly actions: CleanupAction[] = [];
  private running: Promise<CleanupOutcome> | undefined;
  private interrupted: NodeJS.Signals | undefined;
  private readonly interruptListeners: ((signal: NodeJS.Signals) => void)[] = [];
  private readonly handler = (signal: NodeJS.Signals): void => this.onSignal(signal);

  /** Registers an undo action; returns a function that runs it now (and removes it from the list). */
  /** `what` names the resource for the closing message ('' for internal ones). */
  add(what: string, undo: () => Promise<void> | void): () => Promise<void> {
    const action: CleanupAction = { what, undo };
    this.actions.push(action);
    return async () => {
      const i = this.actions.indexOf(action);
      if (i < 0) return;
      this.actions.splice(i, 1);
      await action.undo();
    };
  }

  /** The signal that interrupted the demo, if any. */
  get signal(): NodeJS.Signals | undefined {
    return this.interrupted;
  }

  onInterrupt(listener: (signal: NodeJS.Signals) => void): void {
    this.interruptListeners.push(listener);
  }

  /** From now on SIGINT, SIGTERM and SIGHUP interrupt the demo instead of killing it. */
  trapSignals(): void {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, this.handler);
  }

  releaseSignals(): void {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, this.handler);
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.interrupted) {
      // A second Ctrl-C while cleaning up: say what is happening rather than leaving things behind.
      process.stderr.write(`\n(${signal} again: still cleaning up, one moment)\n`);
      return;
    }
    this.interrupted = signal;
    for (const l of this.interruptListeners) l(signal);
  }

  /** Runs every action, newest first; a failing action does not stop the others. */
  run(): Promise<CleanupOutcome> {
    this.running ??= (async () => {
      const outcome: CleanupOutcome = { done: [], failures: [] };
      while (this.actions.length > 0) {
        const action = this.actions.pop()!;
        try {
          await action.undo();
          if (action.what) outcome.done.push(action.what);
        } catch (err) {
          outcome.failures.push(`${action.what || 'cleanup'}: ${causeText(err)}`);
        }
      }
      return outcome;
    })();
    return this.running;
  }
}

/** Thrown (and caught by the demo) when a signal interrupts it. */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Sends `signal` to this process's direct children (samba-tool while provisioning, a command being
 * run): a Ctrl-C on a terminal reaches them anyway, a SIGTERM sent to the demo alone does not.
 */
export function signalChildren(signal: NodeJS.Signals): void {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return;
  }
  for (const entry of entries) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may contain spaces, so parse after ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) process.kill(Number(entry), signal);
    } catch {
      /* gone meanwhile */
    }
  }
}
