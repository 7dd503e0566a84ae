// Loads device-writeback.yaml: finds it, parses the YAML, validates it against the schema, resolves
// relative paths against the file's folder and wraps secret references. A file that other users may
// write is reported: whoever can change ad.url can collect the connector's password.
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { DwbError } from '../errors.js';
import { logger } from '../log.js';
import { modeText, readSmallFile, SmallFileError } from '../util/small-file.js';
import { configSchema, type RawConfig } from './schema.js';
import { Secret, type SecretRef } from './secret.js';

export interface EntraConfig {
  tenantId: string;
  clientId: string;
  clientSecret?: Secret;
  clientCertificate?: Secret;
  graphUrl: string;
  authorityHost: string;
  caFile?: string;
  pageSize: number;
}

export interface AdConfig {
  url: string;
  startTls: boolean;
  bindDn: string;
  password: Secret;
  caFile?: string;
  insecureSkipVerify: boolean;
  domain?: string;
  timeoutSeconds: number;
}

/** One forest: its label and its `ad:` block. */
export interface ForestConfig {
  /** The label of `forests[].name`; `default` for the one forest of an `ad:` block. */
  name: string;
  ad: AdConfig;
  /** Where its keys are in the file (`ad` or `forests[1].ad`), for messages. */
  key: string;
}

/** The name of the one forest of a configuration with an `ad:` block. */
export const DEFAULT_FOREST = 'default';

export interface Config {
  /** Absolute path of the file it was read from. */
  file: string;
  entra?: EntraConfig;
  /** The forests devices are written to: the one of `ad:`, or those of `forests:`. */
  forests: ForestConfig[];
  /** The configuration names its forests (`forests:`): outputs then say which forest. */
  severalForests: boolean;
  writeback: RawConfig['writeback'];
  state: { sqlite: string; postgres?: Secret };
  web: { listen: string; token?: Secret };
}

export const DEFAULT_CONFIG_FILE = 'device-writeback.yaml';

export function configPath(flag: string | undefined): string {
  return path.resolve(flag ?? process.env.DWB_CONFIG ?? DEFAULT_CONFIG_FILE);
}

/** The largest configuration file read (a real one is a few KiB). */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The text of the configuration file; throws DWB_CONFIG_NOT_FOUND when it cannot be read, and warns
 * when users other than its owner may write it.
 */
export function readConfigText(file: string): string {
  let read;
  try {
    read = readSmallFile(file, MAX_CONFIG_BYTES);
  } catch (err) {
    if (!(err instanceof SmallFileError)) throw err;
    throw new DwbError(
      'DWB_CONFIG_NOT_FOUND',
      err.errno === 'ENOENT'
        ? `No configuration file at ${file}.`
        : err.errno
          ? `Cannot read ${file} (${err.errno}).`
          : `Cannot read ${err.message}.`,
    );
  }
  if (process.platform !== 'win32' && read.mode & 0o022) {
    logger().warn(
      { file, mode: modeText(read.mode) },
      `the configuration file ${file} is writable by other users (mode ${modeText(read.mode)}): anyone who can change ad.url can collect the connector's password. Make it writable by its owner only: chmod go-w ${file}`,
    );
  }
  return read.data.toString('utf8');
}

export function loadConfig(file: string): Config {
  return parseConfig(readConfigText(file), file);
}

export function parseConfig(text: string, file: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new DwbError('DWB_CONFIG_PARSE', `${file}: invalid YAML: ${first.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS() ?? {};
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) throw configError(file, parsed.error);
  return finish(parsed.data, file);
}

function keyPath(p: readonly PropertyKey[]): string {
  return p
    .map((k) => (typeof k === 'number' ? `[${k}]` : String(k)))
    .join('.')
    .replace(/\.\[/g, '[');
}

function configError(file: string, error: z.ZodError): DwbError {
  const lines: string[] = [];
  let plainSecret = false;
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const where = keyPath([...issue.path, key]);
        lines.push(
          `${where}: unknown key${suggest(issue.path.length === 0 ? ['entra', 'ad', 'forests', 'writeback', 'state', 'web'] : [], key)}`,
        );
      }
      continue;
    }
    const where = keyPath(issue.path) || '(top level)';
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) {
      message = `missing required key (expected ${issue.expected})`;
    }
    if ((issue as { params?: { plainSecret?: boolean } }).params?.plainSecret) plainSecret = true;
    lines.push(`${where}: ${message}`);
  }
  const text = `${file} is not a valid configuration:\n  - ${lines.join('\n  - ')}`;
  return new DwbError(plainSecret ? 'DWB_SECRET_PLAIN' : 'DWB_CONFIG_INVALID', text);
}

function suggest(candidates: string[], key: string): string {
  const near = candidates.find((c) => c.toLowerCase() === key.toLowerCase());
  return near ? ` (did you mean "${near}"?)` : '';
}

function finish(raw: RawConfig, file: string): Config {
  const dir = path.dirname(file);
  const abs = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : path.resolve(dir, p);
  const secret = (ref: SecretRef | undefined, key: string): Secret | undefined => {
    if (!ref) return undefined;
    const resolved: SecretRef = 'file' in ref ? { file: path.resolve(dir, ref.file) } : ref;
    return new Secret(resolved, key);
  };
  const entra: EntraConfig | undefined = raw.entra && {
    tenantId: raw.entra.tenantId,
    clientId: raw.entra.clientId,
    clientSecret: secret(raw.entra.clientSecret, 'entra.clientSecret'),
    clientCertificate: secret(raw.entra.clientCertificate, 'entra.clientCertificate'),
    graphUrl: raw.entra.graphUrl.replace(/\/+$/, ''),
    authorityHost: raw.entra.authorityHost.replace(/\/+$/, ''),
    caFile: abs(raw.entra.caFile),
    pageSize: raw.entra.pageSize,
  };
  const forest = (name: string, ad: NonNullable<RawConfig['ad']>, key: string): ForestConfig => ({
    name,
    key,
    ad: {
      ...ad,
      url: ad.url.replace(/\/+$/, ''),
      password: secret(ad.password, `${key}.password`)!,
      caFile: abs(ad.caFile),
    },
  });
  const forests = raw.forests
    ? raw.forests.map((f, i) => forest(f.name, f.ad, `forests[${i}].ad`))
    : [forest(DEFAULT_FOREST, raw.ad!, 'ad')];
  return {
    file,
    entra,
    forests,
    severalForests: raw.forests !== undefined,
    writeback: raw.writeback,
    state: {
      sqlite: abs(raw.state.sqlite) ?? path.resolve(dir, 'device-writeback.db'),
      postgres: secret(raw.state.postgres, 'state.postgres'),
    },
    web: { listen: raw.web.listen, token: secret(raw.web.token, 'web.token') },
  };
}
