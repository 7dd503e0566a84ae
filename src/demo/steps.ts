// The demo's visible outline: numbered steps with their duration, and indented detail lines, so
// that a newcomer can follow what happens and how long each part takes.
import { redactText } from '../log.js';
import { escapeUnsafe } from '../util/safe-text.js';

export interface StepWriter {
  write(text: string): void;
}

// Sample device names come from the emulator, which stands for the cloud: shown escaped like any.
const stdoutWriter: StepWriter = {
  write: (text) => process.stdout.write(escapeUnsafe(redactText(text))),
};

/** Column where detail lines start (after "[12/12] "). */
const INDENT = '        ';

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export class StepReporter {
  private index = 0;
  private readonly started = Date.now();
  private stepStarted = 0;

  constructor(
    readonly total: number,
    private readonly out: StepWriter = stdoutWriter,
  ) {}

  /** Prints a line as is. */
  line(text = ''): void {
    this.out.write(`${text}\n`);
  }

  /** Prints an indented detail line of the current step. */
  detail(text: string): void {
    for (const line of text.split('\n')) this.out.write(`${INDENT}${line}\n`);
  }

  /** Runs one numbered step: prints its title, runs it, prints how long it took. */
  async step<T>(title: string, body: () => Promise<T>, done?: (result: T) => string): Promise<T> {
    this.index++;
    const label = `[${this.index}/${this.total}]`.padEnd(INDENT.length - 1);
    this.out.write(`\n${label} ${title}\n`);
    this.stepStarted = Date.now();
    const result = await body();
    const summary = done ? done(result) : 'done';
    this.out.write(`${INDENT}✔ ${summary} (${seconds(Date.now() - this.stepStarted)})\n`);
    return result;
  }

  /** Milliseconds since the demo started. */
  elapsedMs(): number {
    return Date.now() - this.started;
  }

  /** The step being run (1-based), for error messages. */
  get current(): number {
    return this.index;
  }
}
