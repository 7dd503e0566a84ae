// Secret references: a secret is never written in the configuration file, only where to find it
// ({ env: NAME } or { file: PATH }). It is resolved when first used and registered for redaction. A
// secret file must be a regular file of at most 64 KiB, and an empty secret is refused (SPEC §5): an
// empty password would be an unauthenticated LDAP bind, which some DCs accept.
import { DwbError } from '../errors.js';
import { logger, registerSecret } from '../log.js';
import { modeText, readSmallFile, SmallFileError } from '../util/small-file.js';

export type SecretRef = { env: string } | { file: string };

/** The largest secret file read: a password, a token, or a PEM certificate with its key. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

export class Secret {
  private cached: string | undefined;

  constructor(
    readonly ref: SecretRef,
    /** The configuration key it came from, for error messages. */
    readonly key: string,
  ) {}

  /** Where the secret comes from, safe to print. */
  describe(): string {
    return 'env' in this.ref ? `environment variable ${this.ref.env}` : `file ${this.ref.file}`;
  }

  reveal(): string {
    if (this.cached !== undefined) return this.cached;
    let value: string | undefined;
    if ('env' in this.ref) {
      value = process.env[this.ref.env];
      if (value === undefined) {
        throw new DwbError(
          'DWB_SECRET_MISSING',
          `${this.key}: the environment variable ${this.ref.env} is not set.`,
        );
      }
    } else {
      value = this.readFile(this.ref.file);
    }
    if (value.trim() === '') {
      throw new DwbError(
        'DWB_SECRET_EMPTY',
        `${this.key}: the ${this.describe()} is empty${value === '' ? '' : ' (only white space)'}; it was not used.`,
      );
    }
    registerSecret(value);
    for (const line of value.split(/\r?\n/))
      if (line.length >= 16 && !line.startsWith('-----')) registerSecret(line);
    this.cached = value;
    return value;
  }

  private readFile(file: string): string {
    let read;
    try {
      read = readSmallFile(file, MAX_SECRET_FILE_BYTES);
    } catch (err) {
      if (!(err instanceof SmallFileError)) throw err;
      if (err.problem === 'unreadable') {
        throw new DwbError(
          'DWB_SECRET_MISSING',
          `${this.key}: cannot read ${file} (${err.errno ?? 'error'}).`,
        );
      }
      throw new DwbError('DWB_SECRET_FILE_INVALID', `${this.key}: ${err.message}.`);
    }
    if (process.platform !== 'win32' && read.mode & 0o044) {
      logger().warn(
        { key: this.key, file, mode: modeText(read.mode) },
        `${this.key}: the secret file ${file} is readable by other users (mode ${modeText(read.mode)}); make it readable by this service's user only: chmod 600 ${file}`,
      );
    }
    const value = read.data.toString('utf8');
    // A PEM keeps its newlines; a password file loses its trailing newline.
    return value.includes('-----BEGIN') ? value : value.replace(/\r?\n$/, '');
  }

  /** Never serialise the value. */
  toJSON(): string {
    return `<secret from ${this.describe()}>`;
  }
}
