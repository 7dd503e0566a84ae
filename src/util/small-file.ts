// Reads the small files a configuration or a flag names (secrets, certificates, CA bundles, the
// configuration itself): only a regular file, and never more than a limit, so that a path such as
// /dev/zero, a FIFO or a huge file cannot hang the process or fill its memory.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

export type SmallFileProblem = 'unreadable' | 'not-regular' | 'too-large';

export class SmallFileError extends Error {
  constructor(
    readonly problem: SmallFileProblem,
    readonly file: string,
    /** Why, in words that follow the file name ("is a character device, not a regular file"). */
    readonly reason: string,
    /** The errno code (ENOENT, EACCES…) when the file could not be opened. */
    readonly errno?: string,
  ) {
    super(`${file} ${reason}`);
    this.name = 'SmallFileError';
  }
}

export interface SmallFile {
  data: Buffer;
  /** Permission bits (st_mode & 0o777). */
  mode: number;
}

function kindOf(stats: ReturnType<typeof fstatSync>): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Reads `file` when it is a regular file of at most `maxBytes`; throws SmallFileError otherwise. */
export function readSmallFile(file: string, maxBytes: number): SmallFile {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SmallFileError('unreadable', file, `cannot be read (${code})`, code);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) {
      const kind = kindOf(stats);
      throw new SmallFileError(
        'not-regular',
        file,
        kind === 'not a regular file' ? kind : `is ${kind}, not a regular file`,
      );
    }
    if (stats.size > maxBytes) {
      throw new SmallFileError(
        'too-large',
        file,
        `is ${stats.size} bytes, more than the ${maxBytes} allowed`,
      );
    }
    // Read at most one byte past the limit, whatever the size said (the file may be growing).
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) {
        throw new SmallFileError('too-large', file, `is more than the ${maxBytes} bytes allowed`);
      }
    }
    return { data: buffer.subarray(0, length), mode: stats.mode & 0o777 };
  } catch (err) {
    if (err instanceof SmallFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SmallFileError('unreadable', file, `cannot be read (${code})`, code);
  } finally {
    closeSync(fd);
  }
}

/** "0644": permission bits as chmod writes them. */
export function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}
