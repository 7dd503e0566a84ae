// Logging and central secret redaction. Every resolved secret is registered here; its value is
// scrubbed from every log line and from every error the CLI prints, and well-known secret keys are
// censored by path, so no call site has to remember to hide anything. Log lines are JSON with every
// character that could steer a terminal escaped.
import pino, { type Logger } from 'pino';
import { escapeUnsafeJson } from './util/safe-text.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const logLevels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const CENSOR = '[redacted]';
const knownSecrets = new Set<string>();

/** Remember a secret value so that it is scrubbed wherever it might be printed. */
export function registerSecret(value: string | undefined): void {
  // Very short values would scrub ordinary words; real secrets are longer than this.
  if (value && value.length >= 4) knownSecrets.add(value);
}

/** Replace every registered secret value in a text. */
export function redactText(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(CENSOR);
  }
  // Bearer tokens and client assertions never belong in output, even when not registered.
  out = out.replace(/\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/g, `$1${CENSOR}`);
  return out;
}

function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 8) return value;
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Error) {
    return { type: value.name, message: redactText(value.message), code: (value as { code?: unknown }).code };
  }
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) ? CENSOR : redactDeep(v, depth + 1);
    }
    return out;
  }
  return value;
}

const SECRET_KEY =
  /^(password|passwd|secret|clientSecret|client_secret|token|accessToken|access_token|authorization|cookie|adminPassword|assertion|client_assertion)$/i;

let root: Logger = createLogger('info');

export function createLogger(level: LogLevel, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      level,
      base: { name: 'device-writeback' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redactDeep(obj) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const redacted = args.map((a) => (typeof a === 'string' ? redactText(a) : a));
          return method.apply(this, redacted as Parameters<typeof method>);
        },
      },
    },
    // pino escapes C0 controls as JSON does, but leaves DEL, C1 and bidirectional overrides raw: a
    // device name read from the cloud must not steer the terminal that shows the log.
    { write: (line: string) => destination.write(escapeUnsafeJson(line)) },
  );
}

export function setLogLevel(level: LogLevel): void {
  root = createLogger(level);
}

export function logger(): Logger {
  return root;
}

export function isDebug(): boolean {
  return root.isLevelEnabled('debug');
}
