// Reading a file the user named, with a ceiling: a device such as /dev/zero, a FIFO or a huge file
// given by mistake is refused after `maxBytes` instead of growing the process without end.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export class FileTooLargeError extends Error {
  constructor(
    readonly file: string,
    readonly maxBytes: number,
  ) {
    super(`${file} is larger than ${maxBytes} bytes`);
    this.name = 'FileTooLargeError';
  }
}

/** The bytes of `file`; throws FileTooLargeError past `maxBytes`, and the fs error when it cannot be read. */
export function readFileLimited(file: string, maxBytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const stat = fstatSync(fd);
    if (stat.isFile() && stat.size > maxBytes) throw new FileTooLargeError(file, maxBytes);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    if (length > maxBytes) throw new FileTooLargeError(file, maxBytes);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
