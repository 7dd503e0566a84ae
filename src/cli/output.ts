// The CLI's two output channels, in one place: human text and JSON on stdout, errors on stderr.
// Everything passes the secret redactor, and every unsafe character of a value from the cloud or the
// directory is shown escaped (util/safe-text.ts); output into a closed pipe (`| head`) ends quietly.
import { redactText } from '../log.js';
import { escapeUnsafe, escapeUnsafeJson } from '../util/safe-text.js';

const closed = new Set<NodeJS.WriteStream>();
let watching = false;

/**
 * A reader that went away (`status | head -3`) is not an error: what is left to print is dropped
 * and the command ends as it would have, with no EPIPE stack trace.
 */
export function quietOnClosedPipe(): void {
  if (watching) return;
  watching = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
        closed.add(stream);
        return;
      }
      throw err;
    });
  }
}

function write(stream: NodeJS.WriteStream, text: string): void {
  if (closed.has(stream) || stream.destroyed) return;
  stream.write(text);
}

/** Human output: one or more lines on stdout. */
export function out(text = ''): void {
  write(process.stdout, `${escapeUnsafe(redactText(text))}\n`);
}

/** JSON on stdout: the same values, with the characters JSON leaves raw escaped too. */
export function outJson(value: unknown): void {
  write(process.stdout, `${escapeUnsafeJson(redactText(JSON.stringify(value, null, 2)))}\n`);
}

/** A message for the user on stderr (errors, warnings that are not log lines). */
export function errOut(text: string): void {
  write(process.stderr, `${escapeUnsafe(redactText(text))}\n`);
}
