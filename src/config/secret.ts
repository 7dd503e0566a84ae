// Secret references: a secret is never written in the configuration file, only where to find it
// ({ env: NAME } or { file: PATH }). It is resolved when first used and registered for redaction.
import { readFileSync } from 'node:fs';
import { DwbError } from '../errors.js';
import { registerSecret } from '../log.js';

export type SecretRef = { env: string } | { file: string };

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
      if (value === undefined || value === '') {
        throw new DwbError(
          'DWB_SECRET_MISSING',
          `${this.key}: the environment variable ${this.ref.env} is not set.`,
        );
      }
    } else {
      try {
        value = readFileSync(this.ref.file, 'utf8');
      } catch (err) {
        throw new DwbError(
          'DWB_SECRET_MISSING',
          `${this.key}: cannot read ${this.ref.file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
        );
      }
      // A PEM keeps its newlines; a password file loses its trailing newline.
      if (!value.includes('-----BEGIN')) value = value.replace(/\r?\n$/, '');
    }
    registerSecret(value);
    for (const line of value.split(/\r?\n/))
      if (line.length >= 16 && !line.startsWith('-----')) registerSecret(line);
    this.cached = value;
    return value;
  }

  /** Never serialise the value. */
  toJSON(): string {
    return `<secret from ${this.describe()}>`;
  }
}
