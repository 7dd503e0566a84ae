// The connection settings of the PostgreSQL state store, derived from the `postgres://` URL that
// state.postgres refers to: where the server is, the role and its password (registered for
// redaction: the URL is never printed, only `location`, which has no password), and TLS per the
// URL's sslmode with libpq's meaning of each mode (PostgreSQL manual, "SSL Support" in libpq):
//
//   disable      no TLS
//   require      TLS, the certificate not verified — unless sslrootcert is given: then as verify-ca
//   verify-ca    TLS, the certificate must chain to sslrootcert (the host name is not compared)
//   verify-full  TLS, the chain verified and the host name compared (the default here)
//
// Differences from libpq, on purpose: without sslmode the default is verify-full (as the LDAP
// connection, TLS is verified unless the URL says otherwise), where libpq's is prefer; `prefer` and
// `allow`, which fall back to clear text without telling, are refused; without sslrootcert the
// system CAs are trusted (libpq reads ~/.postgresql/root.crt). sslrootcert=system is libpq 16's.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { DwbError, causeText } from '../../errors.js';
import { registerSecret } from '../../log.js';

export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export interface PostgresSettings {
  /** What pg needs to connect (the application name is set per session by the store). */
  client: pg.ClientConfig;
  /** The URL without its password, safe to print. */
  location: string;
  sslmode: SslMode;
  host: string;
  port: number;
  database: string;
  user: string;
}

const KEY = 'state.postgres';

/** Parameters of the URL's query that this product understands (libpq's names). */
const PARAMETERS = new Set([
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'connect_timeout',
  'host',
  'port',
  'user',
  'password',
  'dbname',
  'application_name',
]);

function invalid(message: string, fix?: string): DwbError {
  return new DwbError('DWB_CONFIG_INVALID', `${KEY}: ${message}`, fix ? { fix } : undefined);
}

function readPem(file: string, parameter: string, kind: 'certificate' | 'key'): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read ${parameter} ${file}: ${causeText(err)}.`);
  }
  const marker =
    kind === 'certificate' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!marker.test(text)) throw invalid(`${parameter} ${file} holds no PEM ${kind}.`);
  return text;
}

/** Registers the password (and how it is written inside a URL) for redaction. */
function redactPassword(password: string): void {
  registerSecret(password);
  registerSecret(encodeURIComponent(password));
}

/** Parses the URL of state.postgres; every problem is a configuration error that never shows the URL. */
export function postgresSettings(url: string): PostgresSettings {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('is not a URL (expected postgres://user:password@host:port/database?sslmode=verify-full).');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw invalid(
      `must be a postgres:// URL, not ${parsed.protocol.replace(/:$/, '')}:// (expected postgres://user:password@host:port/database?sslmode=verify-full).`,
    );
  }
  const query = parsed.searchParams;
  for (const name of query.keys()) {
    if (!PARAMETERS.has(name)) {
      throw invalid(
        `the URL parameter "${name}" is not supported (supported: ${[...PARAMETERS].join(', ')}).`,
      );
    }
  }
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw invalid('the URL holds a malformed %-escape.');
    }
  };
  const password = query.get('password') ?? (parsed.password ? decode(parsed.password) : undefined);
  if (password !== undefined) redactPassword(password);
  const user = query.get('user') ?? (parsed.username ? decode(parsed.username) : os.userInfo().username);
  const host = query.get('host') ?? (parsed.hostname.replace(/^\[|\]$/g, '') || 'localhost');
  const portText = query.get('port') ?? parsed.port;
  const port = portText ? Number(portText) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`port ${portText} is not a port.`);
  const database = query.get('dbname') ?? (decode(parsed.pathname.replace(/^\//, '')) || user);
  const socket = host.startsWith('/');

  const mode = query.get('sslmode') ?? 'verify-full';
  if (mode === 'prefer' || mode === 'allow') {
    throw invalid(
      `sslmode=${mode} is refused: it falls back to a connection in clear text without telling.`,
      'Write sslmode=verify-full (or require), or sslmode=disable to accept clear text knowingly (for a server on the same host, or a Unix socket).',
    );
  }
  if (!['disable', 'require', 'verify-ca', 'verify-full'].includes(mode)) {
    throw invalid(`sslmode=${mode} is not one of disable, require, verify-ca, verify-full.`);
  }
  let sslmode = mode as SslMode;
  const rootcert = query.get('sslrootcert') ?? undefined;
  if (rootcert === 'system' && sslmode !== 'verify-full') {
    throw invalid(
      `sslrootcert=system needs sslmode=verify-full (a public CA vouches for names, not for servers).`,
    );
  }
  // libpq: "if a root CA file exists, the behavior of sslmode=require will be the same as that of verify-ca"
  if (sslmode === 'require' && rootcert && rootcert !== 'system') sslmode = 'verify-ca';
  if (sslmode === 'verify-ca' && (!rootcert || rootcert === 'system')) {
    throw invalid(
      'sslmode=verify-ca needs sslrootcert=<the CA file of the server>: checking the chain without the host name is only meaningful against a private CA.',
    );
  }

  let ssl: ConnectionOptions | false = false;
  if (sslmode !== 'disable' && !socket) {
    const tls: ConnectionOptions = { minVersion: 'TLSv1.2' };
    if (sslmode === 'require') {
      tls.rejectUnauthorized = false;
    } else {
      tls.rejectUnauthorized = true;
      if (rootcert && rootcert !== 'system') tls.ca = readPem(rootcert, 'sslrootcert', 'certificate');
      // verify-ca: the chain, not the name
      if (sslmode === 'verify-ca') tls.checkServerIdentity = () => undefined;
    }
    if (!net.isIP(host)) tls.servername = host;
    const cert = query.get('sslcert');
    const key = query.get('sslkey');
    if (cert) tls.cert = readPem(cert, 'sslcert', 'certificate');
    if (key) tls.key = readPem(key, 'sslkey', 'key');
    ssl = tls;
  }

  const timeoutText = query.get('connect_timeout');
  const connectTimeout = timeoutText ? Number(timeoutText) : 10;
  if (!Number.isFinite(connectTimeout) || connectTimeout < 0)
    throw invalid(`connect_timeout=${timeoutText} is not a number of seconds.`);

  const shownHost = host.includes(':') ? `[${host}]` : host;
  const location = `postgres://${encodeURIComponent(user)}@${socket ? encodeURIComponent(host) : shownHost}:${port}/${encodeURIComponent(database)}${sslmode === 'verify-full' && !query.has('sslmode') ? '' : `?sslmode=${sslmode}`}`;
  return {
    client: {
      host,
      port,
      user,
      password,
      database,
      ssl,
      // libpq: 0 means wait forever; a bounded wait keeps a dead server from hanging a cycle
      connectionTimeoutMillis: Math.round((connectTimeout || 10) * 1000),
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    },
    location,
    sslmode,
    host,
    port,
    database,
    user,
  };
}
