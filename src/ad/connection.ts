// The AD connector's connection: LDAPS or StartTLS only, the server certificate verified, bounded
// timeouts, and every failure turned into an error that names the host and the cause.
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import {
  Attribute,
  Change,
  Client,
  Control,
  InvalidCredentialsError,
  BerWriter,
  type Entry,
  type Filter,
  type SearchOptions,
} from 'ldapts';
import { DwbError, causeText } from '../errors.js';
import { logger } from '../log.js';
import { readCaFile } from '../tls/ca-file.js';
import { BINARY_DEVICE_ATTRIBUTES } from './device-attributes.js';
import { outcomeOf, resultCodeOf } from './outcome.js';

export interface AdEndpoint {
  url: string;
  startTls: boolean;
  caFile?: string;
  insecureSkipVerify: boolean;
  timeoutSeconds: number;
}

export interface AdCredentials {
  /** A DN, a UPN or DOMAIN\name: AD accepts all three in a simple bind. */
  user: string;
  password: string;
}

/** Attributes that are binary in AD and must come back as Buffers. */
export const BINARY_ATTRIBUTES = [
  'objectGUID',
  'objectSid',
  'nTSecurityDescriptor',
  ...BINARY_DEVICE_ATTRIBUTES,
  'schemaIDGUID',
  'attributeSecurityGUID',
  'tokenGroups',
  // Device Registration Service: DER certificates (see registration-service.ts).
  'msDS-CloudIssuerPublicCertificates',
  'msDS-IssuerPublicCertificates',
];

// ldapts matches these names case-sensitively against what the server returns.
const BUFFER_ATTRIBUTE_NAMES = [...BINARY_ATTRIBUTES, ...BINARY_ATTRIBUTES.map((a) => a.toLowerCase())];

/** LDAP_SERVER_SD_FLAGS_OID: which parts of nTSecurityDescriptor to read or write. */
export class SdFlagsControl extends Control {
  static readonly oid = '1.2.840.113556.1.4.801';
  static readonly DACL = 0x04;

  constructor(readonly flags: number) {
    super(SdFlagsControl.oid, { critical: true });
  }

  protected override writeControl(writer: BerWriter): void {
    // The controlValue is an OCTET STRING that wraps the BER of SEQUENCE { flags INTEGER }.
    const value = new BerWriter();
    value.startSequence();
    value.writeInt(this.flags);
    value.endSequence();
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/**
 * LDAP_SERVER_EXTENDED_DN_OID: DN-valued attributes come back as `<GUID=…>;<SID=…>;dn` (string
 * form, flag 1); the SID part only for objects that have one. Not critical: a server without it
 * returns plain DNs.
 */
export class ExtendedDnControl extends Control {
  static readonly oid = '1.2.840.113556.1.4.529';

  constructor() {
    super(ExtendedDnControl.oid, { critical: false });
  }

  protected override writeControl(writer: BerWriter): void {
    const value = new BerWriter();
    value.startSequence();
    value.writeInt(1);
    value.endSequence();
    writer.writeBuffer(value.buffer, 0x04);
  }
}

/** Splits an extended DN (`<GUID=…>;<SID=…>;dn`) into its parts; a plain DN is returned as is. */
export function parseExtendedDn(value: string): { dn: string; guid: string | null; sid: string | null } {
  let rest = value;
  let guid: string | null = null;
  let sid: string | null = null;
  for (let m = /^<(GUID|SID)=([^>]*)>;/i.exec(rest); m; m = /^<(GUID|SID)=([^>]*)>;/i.exec(rest)) {
    if (m[1]!.toUpperCase() === 'GUID') guid = m[2]!;
    else sid = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { dn: rest, guid, sid };
}

export interface ParsedLdapUrl {
  secure: boolean;
  host: string;
  port: number;
}

export function parseLdapUrl(url: string, startTls: boolean): ParsedLdapUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DwbError('DWB_AD_URL_INVALID', `ad.url "${url}" is not a URL.`);
  }
  const scheme = parsed.protocol.replace(':', '').toLowerCase();
  if (scheme !== 'ldap' && scheme !== 'ldaps') {
    throw new DwbError('DWB_AD_URL_INVALID', `ad.url "${url}" must start with ldaps:// or ldap://.`);
  }
  if (scheme === 'ldap' && !startTls) {
    throw new DwbError(
      'DWB_AD_TLS_REQUIRED',
      `ad.url ${url} is plain LDAP and ad.startTls is not set: the password would cross the network in clear text, so no bind was attempted.`,
    );
  }
  if (scheme === 'ldaps' && startTls) {
    throw new DwbError(
      'DWB_AD_URL_INVALID',
      `ad.url ${url} is already LDAPS; ad.startTls applies only to ldap:// URLs.`,
      {
        fix: 'Remove ad.startTls, or use an ldap:// URL with it.',
      },
    );
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = parsed.port ? Number(parsed.port) : scheme === 'ldaps' ? 636 : 389;
  return { secure: scheme === 'ldaps', host, port };
}

let warnedInsecure = false;

function tlsOptions(endpoint: AdEndpoint, host: string): ConnectionOptions {
  const options: ConnectionOptions = { minVersion: 'TLSv1.2' };
  if (endpoint.caFile) {
    const file = endpoint.caFile;
    options.ca = readCaFile(
      file,
      'ad.caFile',
      (reason) =>
        new DwbError('DWB_AD_TLS_FAILED', `cannot read ad.caFile ${file}: ${reason}.`, {
          fix: 'Point ad.caFile at a readable PEM file with the CA certificate of the domain controller.',
        }),
    );
  }
  if (endpoint.insecureSkipVerify) {
    options.rejectUnauthorized = false;
    if (!warnedInsecure) {
      warnedInsecure = true;
      logger().warn(
        { host },
        'ad.insecureSkipVerify is true: the domain controller certificate is NOT verified; anyone on the network path could read the connector password. Use only in a lab.',
      );
    }
  } else {
    options.rejectUnauthorized = true;
  }
  return options;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/** Turns a connect/bind failure into an error naming the host and the cause. */
export function describeConnectError(err: unknown, where: string): DwbError {
  if (err instanceof DwbError) return err;
  const code = (err as { code?: unknown }).code;
  const text = causeText(err);
  if (err instanceof InvalidCredentialsError) {
    return new DwbError('DWB_AD_BIND_FAILED', `${where} refused the credentials (invalid credentials).`);
  }
  if (typeof code === 'string' && (TLS_CODES.has(code) || /certificate|SSL|TLS/i.test(text))) {
    return new DwbError('DWB_AD_TLS_FAILED', `TLS with ${where} failed: ${text}.`);
  }
  if (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EAI_AGAIN'].includes(code)
  ) {
    return new DwbError('DWB_AD_UNREACHABLE', `cannot reach ${where}: ${text}.`);
  }
  if (/timeout|timed out/i.test(text)) {
    return new DwbError('DWB_AD_UNREACHABLE', `${where} did not answer in time (${text}).`);
  }
  const resultCode = resultCodeOf(err);
  if (resultCode !== undefined) {
    return new DwbError('DWB_AD_OPERATION_FAILED', `${where}: LDAP error ${resultCode}: ${text}`);
  }
  return new DwbError('DWB_AD_UNREACHABLE', `cannot connect to ${where}: ${text}.`);
}

export type SearchScope = 'base' | 'one' | 'sub';

export interface AdSearchOptions {
  scope?: SearchScope;
  filter?: string | Filter;
  attributes?: string[];
  /** Page size for the paged-results control; paging is on by default. */
  pageSize?: number | false;
  controls?: Control[];
  sizeLimit?: number;
}

export type AdEntry = Entry;

/** One bound LDAP session. */
export class AdConnection {
  private constructor(
    private readonly client: Client,
    readonly endpoint: AdEndpoint,
    readonly where: string,
  ) {}

  /** A session bound as `credentials`. */
  static open(endpoint: AdEndpoint, credentials: AdCredentials): Promise<AdConnection> {
    return AdConnection.connect(endpoint, credentials);
  }

  /**
   * A TLS session that is not bound: enough to read the RootDSE, which AD shows to anyone, before
   * the name to bind as is known (a bare sAMAccountName needs the domain's DNS name).
   */
  static openAnonymous(endpoint: AdEndpoint): Promise<AdConnection> {
    return AdConnection.connect(endpoint, undefined);
  }

  private static async connect(
    endpoint: AdEndpoint,
    credentials: AdCredentials | undefined,
  ): Promise<AdConnection> {
    const { secure, host, port } = parseLdapUrl(endpoint.url, endpoint.startTls);
    const where = `${host}:${port}`;
    const tls = tlsOptions(endpoint, host);
    const timeout = Math.round(endpoint.timeoutSeconds * 1000);
    const client = new Client({
      url: `${secure ? 'ldaps' : 'ldap'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
      timeout,
      connectTimeout: timeout,
      tlsOptions: secure ? tls : undefined,
      strictDN: false,
    });
    try {
      // The certificate is checked against the host of ad.url (Node falls back to "localhost"
      // without `host`); SNI carries DNS names only, never an address (RFC 6066 §3).
      if (!secure) await client.startTLS({ ...tls, host, ...(net.isIP(host) ? {} : { servername: host }) });
      if (credentials) await client.bind(credentials.user, credentials.password);
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw describeConnectError(err, where);
    }
    return new AdConnection(client, endpoint, where);
  }

  async search(base: string, options: AdSearchOptions = {}): Promise<AdEntry[]> {
    const searchOptions: SearchOptions = {
      scope: options.scope ?? 'sub',
      filter: options.filter ?? '(objectClass=*)',
      attributes: options.attributes ?? [],
      explicitBufferAttributes: BUFFER_ATTRIBUTE_NAMES,
      sizeLimit: options.sizeLimit ?? 0,
    };
    if (options.pageSize !== false && (options.scope ?? 'sub') !== 'base') {
      searchOptions.paged = { pageSize: options.pageSize ?? 500 };
    }
    const result = await this.client.search(base, searchOptions, options.controls);
    return result.searchEntries;
  }

  /** Paged search yielding one page of entries at a time (memory grows with the page, not the result). */
  async *searchPages(base: string, options: AdSearchOptions = {}): AsyncGenerator<AdEntry[]> {
    const searchOptions: SearchOptions = {
      scope: options.scope ?? 'sub',
      filter: options.filter ?? '(objectClass=*)',
      attributes: options.attributes ?? [],
      explicitBufferAttributes: BUFFER_ATTRIBUTE_NAMES,
      paged: { pageSize: options.pageSize === false ? 500 : (options.pageSize ?? 500) },
    };
    for await (const page of this.client.searchPaginated(base, searchOptions, options.controls)) {
      yield page.searchEntries;
    }
  }

  get isConnected(): boolean {
    return this.client.isConnected;
  }

  /** The entry at `dn`, or undefined when it does not exist. */
  async read(dn: string, attributes: string[] = [], controls?: Control[]): Promise<AdEntry | undefined> {
    try {
      const [entry] = await this.search(dn, { scope: 'base', attributes, controls, pageSize: false });
      return entry;
    } catch (err) {
      if (outcomeOf(err) === 'no-such-object') return undefined;
      throw err;
    }
  }

  async add(dn: string, attributes: Record<string, string | string[] | Buffer | Buffer[]>): Promise<void> {
    const attrs = Object.entries(attributes).map(
      ([type, value]) =>
        new Attribute({ type, values: (Array.isArray(value) ? value : [value]) as string[] | Buffer[] }),
    );
    await this.client.add(dn, attrs);
  }

  async modify(
    dn: string,
    changes: { operation: 'add' | 'delete' | 'replace'; type: string; values: string[] | Buffer[] }[],
    controls?: Control[],
  ): Promise<void> {
    await this.client.modify(
      dn,
      changes.map(
        (c) =>
          new Change({
            operation: c.operation,
            modification: new Attribute({ type: c.type, values: c.values }),
          }),
      ),
      controls,
    );
  }

  async del(dn: string): Promise<void> {
    await this.client.del(dn);
  }

  async close(): Promise<void> {
    await this.client.unbind().catch(() => undefined);
  }
}

/** First value of an attribute as a string. */
export function str(entry: AdEntry, name: string): string | undefined {
  const v = attr(entry, name);
  if (v === undefined) return undefined;
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : first;
}

/** All values of an attribute as strings. */
export function strs(entry: AdEntry, name: string): string[] {
  const v = attr(entry, name);
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x));
}

/** All values of a binary attribute. */
export function bufs(entry: AdEntry, name: string): Buffer[] {
  const v = attr(entry, name);
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x, 'utf8')));
}

export function buf(entry: AdEntry, name: string): Buffer | undefined {
  return bufs(entry, name)[0];
}

/** Attribute lookup that ignores the case of the attribute name, as LDAP does. */
export function attr(entry: AdEntry, name: string): AdEntry[string] | undefined {
  if (name in entry) {
    const v = entry[name];
    return Array.isArray(v) && v.length === 0 ? undefined : v;
  }
  const lower = name.toLowerCase();
  for (const key of Object.keys(entry)) {
    if (key.toLowerCase() === lower) {
      const v = entry[key];
      return Array.isArray(v) && v.length === 0 ? undefined : v;
    }
  }
  return undefined;
}
