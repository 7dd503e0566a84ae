// The emulator as a process: HTTPS (Fastify) with a certificate it generates and keeps in its data
// folder, the identity platform routes, Graph under /v1.0, and the emulator's own admin routes
// under /_emulator (fault injection, statistics, soft delete / restore, groups in bulk, and its
// cloud DRS: the issuer certificate, device certificates and keys, registering a device).
// `startEmulator` is what the CLI, the demo, the tests and the benchmarks call.
import { generateKeyPairSync, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { logger } from '../log.js';
import { ensureTlsMaterial } from '../tls/certificates.js';
import { GraphError, graphErrorBody, IdentityError, identityErrorBody } from './errors.js';
import { FaultInjector, faultRequestSchema, RequestStats } from './faults.js';
import { GraphService, GRAPH_CONTENT_TYPE } from './graph.js';
import { IdentityPlatform, instanceDiscovery, type AppRegistration } from './identity.js';
import { CloudDrs } from './drs.js';
import { JournalPersistence } from './persistence.js';
import { applySeedFile } from './seed-file.js';
import { DEFAULT_SEED } from './seed.js';
import { DirectoryStore } from './store.js';

export interface EmulatorOptions {
  /** `host:port` to listen on; default `127.0.0.1:0` (a free port). */
  listen?: string;
  /** Folder for the CA, the server certificate, the app registration and the token signing key. */
  dataDir?: string;
  /**
   * File that persists the directory (devices, users, groups, change logs, the DRS) across
   * restarts: a JSON-lines snapshot, with its journal next to it (`<file>.journal`).
   */
  dataFile?: string;
  /** Seed this many deterministic devices (with users and owners). */
  devices?: number;
  /** PRNG seed for `devices`. */
  seed?: string;
  /** Domain SID for seeded users' `onPremisesSecurityIdentifier`. */
  domainSid?: string;
  /** Real SIDs: one seeded user each, owning the seeded devices in turn. */
  ownerSids?: string[];
  upnSuffix?: string;
  /** JSON file with users and devices to add (see docs/emulator.md). */
  seedFile?: string;
  tenantId?: string;
  tenantDomain?: string;
  clientId?: string;
  clientSecret?: string;
  /** PEM certificates registered as the app's certificate credentials. */
  clientCertificates?: string[];
  /** Graph application permissions of the app (default: Device and User read/write). */
  roles?: string[];
  /** Default page size of devices/delta and groups/delta (default 200). */
  deltaPageSize?: number;
  /** Members per page of groups/delta (default 1000): large groups are split across pages. */
  groupDeltaMembersPerPage?: number;
  /** Extra names for the server certificate: DNS names or IP addresses. */
  hostnames?: string[];
}

export interface RunningEmulator {
  /** `https://127.0.0.1:<port>`: both graphUrl and authorityHost. */
  url: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** PEM file of the CA that issued the emulator's certificate (`entra.caFile`). */
  caFile: string;
  caPem: string;
  dataDir: string;
  /**
   * PEM file of the cloud DRS issuer (`MS-Organization-Access`) that issued the devices'
   * certificates: what `init-ad --cloud-issuer` takes.
   */
  cloudIssuerFile: string;
  cloudIssuerPem: string;
  store: DirectoryStore;
  faults: FaultInjector;
  stats: RequestStats;
  identity: IdentityPlatform;
  /** A ready-to-paste `entra:` block for device-writeback.yaml. */
  entraConfigYaml(): string;
  close(): Promise<void>;
}

export const DEFAULT_ROLES = [
  'Device.Read.All',
  'User.Read.All',
  'GroupMember.Read.All',
  'Device.ReadWrite.All',
  'User.ReadWrite.All',
  'Group.ReadWrite.All',
];

/** `host:port`, `[v6]:port` or `:port`. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!match) throw new Error(`--listen must look like 127.0.0.1:8443 or [::1]:8443, not '${listen}'`);
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  return { host: host === '' ? '127.0.0.1' : host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** A client secret shaped like Entra's (`xxx8Q~…`, 40 characters). */
function generateClientSecret(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const bytes = randomBytes(40);
  const pick = (i: number): string => alphabet[(bytes[i] ?? 0) % alphabet.length] ?? 'a';
  let secret = `${pick(0)}${pick(1)}${pick(2)}${(bytes[3] ?? 0) % 10}Q~`;
  for (let i = 4; i < 38; i++) secret += (bytes[i] ?? 0) % 17 === 0 ? '_' : pick(i);
  return secret;
}

interface SavedApp {
  tenantId: string;
  tenantDomain: string;
  clientId: string;
  clientSecret: string;
  servicePrincipalId: string;
}

/** The app registration kept in the data folder, so that pasted configuration keeps working. */
function loadOrCreateApp(dataDir: string): { saved: SavedApp; signingKeyPem: string } {
  const appFile = path.join(dataDir, 'emulator-app.json');
  const keyFile = path.join(dataDir, 'emulator-token-signing.key');
  let saved: SavedApp;
  if (existsSync(appFile)) {
    saved = JSON.parse(readFileSync(appFile, 'utf8')) as SavedApp;
  } else {
    saved = {
      tenantId: randomUUID(),
      tenantDomain: 'contoso.onmicrosoft.com',
      clientId: randomUUID(),
      clientSecret: generateClientSecret(),
      servicePrincipalId: randomUUID(),
    };
    writeFileSync(appFile, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  }
  let signingKeyPem: string;
  if (existsSync(keyFile)) {
    signingKeyPem = readFileSync(keyFile, 'utf8');
  } else {
    signingKeyPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    writeFileSync(keyFile, signingKeyPem, { mode: 0o600 });
  }
  return { saved, signingKeyPem };
}

export function entraConfigYaml(settings: {
  url: string;
  tenantId: string;
  clientId: string;
  caFile: string;
}): string {
  return [
    'entra:',
    `  tenantId: ${settings.tenantId}`,
    `  clientId: ${settings.clientId}`,
    '  clientSecret: { env: DWB_CLIENT_SECRET }',
    `  graphUrl: ${settings.url}`,
    `  authorityHost: ${settings.url}`,
    `  caFile: ${JSON.stringify(settings.caFile)}`,
    '',
  ].join('\n');
}

function originOf(request: FastifyRequest, fallback: string): string {
  const host = request.headers.host;
  return host ? `https://${host}` : fallback;
}

function lowerCaseHeaders(request: FastifyRequest): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers))
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

function sendIdentityError(reply: FastifyReply, err: IdentityError, origin: string): FastifyReply {
  return reply
    .code(err.status)
    .header('Content-Type', 'application/json; charset=utf-8')
    .header('Cache-Control', 'no-store, no-cache')
    .send(identityErrorBody(err, origin));
}

function adminError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: { code: status === 404 ? 'NotFound' : 'BadRequest', message } });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const log = logger().child({ component: 'emulator' });
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:0');
  let temporaryDir: string | undefined;
  const dataDir = path.resolve(
    options.dataDir ??
      (options.dataFile
        ? path.dirname(path.resolve(options.dataFile))
        : (temporaryDir = mkdtempSync(path.join(os.tmpdir(), 'dwb-emulator-')))),
  );
  mkdirSync(dataDir, { recursive: true });

  const extraNames = options.hostnames ?? [];
  if (!isLoopback(host) && host !== '0.0.0.0' && host !== '::') extraNames.push(host);
  const tls = ensureTlsMaterial(dataDir, {
    dnsNames: extraNames.filter((n) => isIP(n) === 0),
    ipAddresses: extraNames.filter((n) => isIP(n) !== 0),
  });

  const { saved, signingKeyPem } = loadOrCreateApp(dataDir);
  const app: AppRegistration = {
    tenantId: (options.tenantId ?? saved.tenantId).toLowerCase(),
    tenantDomain: options.tenantDomain ?? saved.tenantDomain,
    clientId: (options.clientId ?? saved.clientId).toLowerCase(),
    clientSecret: options.clientSecret ?? saved.clientSecret,
    displayName: 'device-writeback (emulated app registration)',
    servicePrincipalId: saved.servicePrincipalId,
    certificates: [...(options.clientCertificates ?? [])],
    roles: [...(options.roles ?? DEFAULT_ROLES)],
  };
  for (const pem of app.certificates) new X509Certificate(pem); // fail early on a bad certificate

  const persistence = options.dataFile ? new JournalPersistence(options.dataFile) : undefined;
  // A data file keeps the DRS it was made with; a new directory's DRS is the seed's.
  const store = new DirectoryStore(persistence, { drs: CloudDrs.forSeed(options.seed ?? DEFAULT_SEED) });
  const seedOptions = {
    seed: options.seed,
    domainSid: options.domainSid,
    ownerSids: options.ownerSids,
    upnSuffix: options.upnSuffix,
  };
  if (options.devices && options.devices > 0) store.seed(options.devices, seedOptions);
  if (options.seedFile) applySeedFile(store, JSON.parse(readFileSync(options.seedFile, 'utf8')) as unknown);
  const cloudIssuerFile = path.join(dataDir, 'emulator-cloud-issuer.pem');
  writeFileSync(cloudIssuerFile, store.drs.issuerCertificatePem);

  const identity = new IdentityPlatform(app, signingKeyPem);
  const faults = new FaultInjector();
  const stats = new RequestStats();
  const graph = new GraphService(store, identity, faults, stats, {
    deltaPageSize: options.deltaPageSize,
    groupDeltaMembersPerPage: options.groupDeltaMembersPerPage,
  });

  const server: FastifyInstance = Fastify({
    https: { key: tls.keyPem, cert: tls.certPem },
    logger: false,
    bodyLimit: 16 * 1024 * 1024,
    forceCloseConnections: true,
  });
  let url = '';

  server.removeAllContentTypeParsers();
  server.addContentTypeParser(
    ['application/json', 'text/json'],
    { parseAs: 'string' },
    (_request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text));
      } catch {
        done(
          new GraphError(
            400,
            'BadRequest',
            'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
          ),
          undefined,
        );
      }
    },
  );
  server.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8')));
    },
  );
  server.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  server.addHook('onResponse', (request, reply, done) => {
    // Path only: query strings may carry skip tokens, and nothing here ever logs headers or bodies.
    log.debug(
      {
        method: request.method,
        path: request.url.split('?')[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
    done();
  });

  server.setErrorHandler((error, request, reply) => {
    const statusCode = (error as { statusCode?: number }).statusCode;
    const message = error instanceof Error ? error.message : String(error);
    const graphError =
      error instanceof GraphError
        ? error
        : statusCode && statusCode < 500
          ? new GraphError(statusCode, 'BadRequest', message)
          : new GraphError(500, 'generalException', message);
    const requestId = randomUUID();
    void reply
      .code(graphError.status)
      .header('Content-Type', GRAPH_CONTENT_TYPE)
      .send(
        graphErrorBody(graphError, requestId, request.headers['client-request-id']?.toString() ?? requestId),
      );
  });

  server.setNotFoundHandler((request, reply) => {
    const requestId = randomUUID();
    void reply
      .code(404)
      .header('Content-Type', GRAPH_CONTENT_TYPE)
      .send(
        graphErrorBody(
          new GraphError(404, 'NotFound', `No route for ${request.method} ${request.url.split('?')[0]}.`),
          requestId,
          requestId,
        ),
      );
  });

  // ---- identity platform ---------------------------------------------------------------------

  server.post<{ Params: { tenant: string } }>('/:tenant/oauth2/v2.0/token', async (request, reply) => {
    const origin = originOf(request, url);
    const fault = faults.decide('POST', request.url.split('?')[0] ?? '');
    if (fault.latencyMs) await new Promise((resolve) => setTimeout(resolve, fault.latencyMs));
    if (fault.failure) {
      stats.faultsInjected++;
      stats.record('POST /{tenant}/oauth2/v2.0/token', fault.failure.status);
      if (fault.failure.retryAfter !== undefined)
        void reply.header('Retry-After', String(fault.failure.retryAfter));
      return sendIdentityError(
        reply,
        new IdentityError(fault.failure.status, 'temporarily_unavailable', 90033, fault.failure.message),
        origin,
      );
    }
    const form = request.body instanceof URLSearchParams ? request.body : undefined;
    try {
      if (!form)
        throw new IdentityError(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'grant_type'.",
        );
      const token = identity.issueToken(request.params.tenant, form, request.headers.authorization, origin);
      stats.record('POST /{tenant}/oauth2/v2.0/token', 200);
      return reply
        .header('Cache-Control', 'no-store, no-cache')
        .header('Content-Type', 'application/json; charset=utf-8')
        .send(token);
    } catch (err) {
      if (!(err instanceof IdentityError)) throw err;
      stats.record('POST /{tenant}/oauth2/v2.0/token', err.status);
      return sendIdentityError(reply, err, origin);
    }
  });

  const openIdConfiguration = (
    request: FastifyRequest<{ Params: { tenant: string } }>,
    reply: FastifyReply,
  ): FastifyReply => {
    const origin = originOf(request, url);
    stats.record('GET /{tenant}/v2.0/.well-known/openid-configuration', 200);
    if (!identity.isKnownTenant(request.params.tenant)) {
      return sendIdentityError(
        reply,
        new IdentityError(
          400,
          'invalid_tenant',
          90002,
          `Tenant '${request.params.tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        ),
        origin,
      );
    }
    return reply.send(identity.openIdConfiguration(origin));
  };
  server.get('/:tenant/v2.0/.well-known/openid-configuration', openIdConfiguration);
  server.get('/:tenant/.well-known/openid-configuration', openIdConfiguration);
  server.get('/:tenant/discovery/v2.0/keys', (_request, reply) => reply.send(identity.jwks()));
  server.get('/:tenant/discovery/keys', (_request, reply) => reply.send(identity.jwks()));
  server.get('/common/discovery/instance', (request, reply) => {
    const origin = originOf(request, url);
    return reply.send(instanceDiscovery(origin, app.tenantId));
  });

  // ---- Microsoft Graph -----------------------------------------------------------------------

  server.all('/v1.0/*', async (request, reply) => {
    const response = await graph.handle({
      method: request.method,
      url: request.url,
      headers: lowerCaseHeaders(request),
      body: request.body,
      origin: originOf(request, url),
    });
    void reply.code(response.status).headers(response.headers);
    if (response.body === undefined) return reply.send();
    return reply.send(typeof response.body === 'string' ? response.body : JSON.stringify(response.body));
  });

  // ---- emulator administration (no token: loopback test tool) --------------------------------

  server.get('/_emulator/info', (request, reply) => {
    const origin = originOf(request, url);
    return reply.send({
      url: origin,
      tenantId: app.tenantId,
      clientId: app.clientId,
      caFile: tls.caFile,
      cloudIssuerFile,
      roles: app.roles,
      counts: store.counts(),
      currentSeq: store.currentSeq,
      currentGroupSeq: store.currentGroupSeq,
    });
  });
  server.get('/_emulator/stats', (_request, reply) =>
    reply.send({
      requests: stats.snapshot(),
      tokensIssued: identity.tokensIssued,
      directory: store.counts(),
      currentSeq: store.currentSeq,
    }),
  );
  server.delete('/_emulator/stats', (_request, reply) => {
    stats.reset();
    return reply.code(204).send();
  });
  server.get('/_emulator/faults', (_request, reply) => reply.send({ rules: faults.list() }));
  server.delete('/_emulator/faults', (_request, reply) => {
    faults.clear();
    return reply.code(204).send();
  });
  server.post('/_emulator/faults', (request, reply) => {
    const parsed = faultRequestSchema.safeParse(request.body ?? {});
    if (!parsed.success)
      return adminError(
        reply,
        400,
        `invalid fault: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
      );
    const { rules, expireDeltaTokens, expireAccessTokens, ...single } = parsed.data;
    const added = [...(rules ?? []), ...(Object.keys(single).length > 0 ? [single] : [])].map((rule) =>
      faults.add(rule),
    );
    if (expireDeltaTokens) store.expireDeltaTokens();
    if (expireAccessTokens) identity.expireAccessTokens();
    return reply.code(201).send({
      rules: added,
      expiredDeltaTokens: expireDeltaTokens === true,
      expiredAccessTokens: expireAccessTokens === true,
    });
  });
  const deviceAction =
    (action: (id: string) => unknown) =>
    (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      try {
        action(request.params.id);
        return reply.code(204).send();
      } catch (err) {
        if (err instanceof GraphError) return adminError(reply, err.status, err.message);
        throw err;
      }
    };
  server.post(
    '/_emulator/devices/:id/soft-delete',
    deviceAction((id) => store.softDeleteDevice(id)),
  );
  server.post(
    '/_emulator/devices/:id/restore',
    deviceAction((id) => store.restoreDevice(id)),
  );
  server.post(
    '/_emulator/devices/:id/sign-in',
    deviceAction((id) => store.recordSignIn(id)),
  );
  server.post('/_emulator/seed', (request, reply) => {
    const parsed = z
      .object({ devices: z.number().int().min(0).max(1_000_000) })
      .strict()
      .safeParse(request.body);
    if (!parsed.success) return adminError(reply, 400, 'body must be {"devices": <count>}');
    return reply.send(store.seed(parsed.data.devices, seedOptions));
  });
  server.put('/_emulator/app/roles', (request, reply) => {
    const parsed = z
      .object({ roles: z.array(z.string()) })
      .strict()
      .safeParse(request.body);
    if (!parsed.success) return adminError(reply, 400, 'body must be {"roles": ["Device.Read.All", …]}');
    app.roles = parsed.data.roles;
    return reply.send({ roles: app.roles });
  });
  server.post('/_emulator/app/certificates', (request, reply) => {
    const parsed = z.object({ certificate: z.string() }).strict().safeParse(request.body);
    if (!parsed.success) return adminError(reply, 400, 'body must be {"certificate": "<PEM>"}');
    try {
      new X509Certificate(parsed.data.certificate);
    } catch {
      return adminError(reply, 400, 'not a PEM certificate');
    }
    app.certificates.push(parsed.data.certificate);
    return reply.code(204).send();
  });

  // ---- groups in bulk (tests, benchmarks, demos) ------------------------------------------------

  const idList = z.array(z.string().min(1)).max(1_000_000);
  const withGraphErrors =
    <T>(handler: (request: FastifyRequest<T & { Params: { id: string } }>, reply: FastifyReply) => unknown) =>
    (request: FastifyRequest<T & { Params: { id: string } }>, reply: FastifyReply) => {
      try {
        return handler(request, reply);
      } catch (err) {
        if (err instanceof GraphError) return adminError(reply, err.status, err.message);
        throw err;
      }
    };
  server.post('/_emulator/groups', (request, reply) => {
    const parsed = z
      .object({
        id: z.string().optional(),
        displayName: z.string().min(1),
        description: z.string().nullable().optional(),
        members: idList.optional(),
        /** The active devices at positions `from` … `to - 1` in creation order become members too. */
        devices: z
          .object({ from: z.number().int().min(0), to: z.number().int().min(0) })
          .strict()
          .optional(),
      })
      .strict()
      .safeParse(request.body);
    if (!parsed.success)
      return adminError(
        reply,
        400,
        'body must be {"displayName": "…", "members": ["<object id>", …], "devices": {"from": 0, "to": 100}}',
      );
    const { members = [], devices: range, ...input } = parsed.data;
    try {
      const ids = [...members];
      if (range) ids.push(...store.deviceIdsAt(range.from, range.to));
      const group = store.createGroup(input, ids);
      return reply.code(201).send({ ...group, memberCount: store.members(group.id).length });
    } catch (err) {
      if (err instanceof GraphError) return adminError(reply, err.status, err.message);
      throw err;
    }
  });
  server.post<{ Params: { id: string } }>(
    '/_emulator/groups/:id/members',
    withGraphErrors((request, reply) => {
      const parsed = z.object({ members: idList }).strict().safeParse(request.body);
      if (!parsed.success) return adminError(reply, 400, 'body must be {"members": ["<object id>", …]}');
      return reply.send({ added: store.addMembers(request.params.id, parsed.data.members) });
    }),
  );
  server.post<{ Params: { id: string } }>(
    '/_emulator/groups/:id/members/remove',
    withGraphErrors((request, reply) => {
      const parsed = z.object({ members: idList }).strict().safeParse(request.body);
      if (!parsed.success) return adminError(reply, 400, 'body must be {"members": ["<object id>", …]}');
      return reply.send({ removed: store.removeMembers(request.params.id, parsed.data.members) });
    }),
  );

  // ---- the cloud DRS -------------------------------------------------------------------------

  const pem = (reply: FastifyReply, text: string): FastifyReply =>
    reply.header('Content-Type', 'application/x-pem-file').send(text);
  server.get('/_emulator/drs/issuer', (_request, reply) => pem(reply, store.drs.issuerCertificatePem));
  const certificateOf = (id: string) => {
    const certificate = store.deviceCertificate(id);
    if (!certificate)
      throw new GraphError(
        404,
        'NotFound',
        `No device '${id}' with a certificate of the emulator's DRS (devices created through Graph carry the key their creator gave).`,
      );
    return certificate;
  };
  server.get<{ Params: { id: string } }>(
    '/_emulator/drs/devices/:id',
    withGraphErrors((request, reply) => {
      const certificate = certificateOf(request.params.id);
      const device = store.activeDeviceByDeviceId(certificate.deviceId)?.device;
      return reply.send({
        id: device?.id,
        deviceId: certificate.deviceId,
        thumbprint: certificate.thumbprint,
        publicKeyHash: certificate.publicKeyHash,
        alternativeSecurityIdKey: certificate.alternativeSecurityIdKey,
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
        certificatePem: certificate.certificatePem,
        privateKeyPem: certificate.privateKeyPem,
        issuerPem: store.drs.issuerCertificatePem,
      });
    }),
  );
  server.get<{ Params: { id: string }; Querystring: { chain?: string } }>(
    '/_emulator/drs/devices/:id/certificate',
    withGraphErrors<{ Querystring: { chain?: string } }>((request, reply) => {
      const certificate = certificateOf(request.params.id);
      const chain = request.query.chain === 'true' ? store.drs.issuerCertificatePem : '';
      return pem(reply, certificate.certificatePem + chain);
    }),
  );
  server.get<{ Params: { id: string } }>(
    '/_emulator/drs/devices/:id/key',
    withGraphErrors((request, reply) => pem(reply, certificateOf(request.params.id).privateKeyPem)),
  );
  server.post('/_emulator/drs/devices', (request, reply) => {
    const parsed = z
      .object({
        deviceId: z
          .string()
          .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i)
          .optional(),
        displayName: z.string().min(1).optional(),
        operatingSystem: z.string().optional(),
        operatingSystemVersion: z.string().optional(),
        trustType: z.enum(['Workplace', 'AzureAd', 'ServerAd']).optional(),
        isManaged: z.boolean().optional(),
        isCompliant: z.boolean().optional(),
        accountEnabled: z.boolean().optional(),
        /** Owner (and user) of the device: object id or UPN. */
        registeredOwners: z.array(z.string()).optional(),
      })
      .strict()
      .safeParse(request.body ?? {});
    if (!parsed.success)
      return adminError(
        reply,
        400,
        `invalid registration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
      );
    const { registeredOwners = [], ...input } = parsed.data;
    try {
      const { device, certificate } = store.registerDevice(input, {
        registeredOwners,
        registeredUsers: registeredOwners,
      });
      return reply.code(201).send({
        device,
        certificatePem: certificate.certificatePem,
        privateKeyPem: certificate.privateKeyPem,
        issuerPem: store.drs.issuerCertificatePem,
      });
    } catch (err) {
      if (err instanceof GraphError) return adminError(reply, err.status, err.message);
      throw err;
    }
  });

  await server.listen({ host, port });
  const address = server.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const urlHost =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : isIP(host) === 6 ? `[${host}]` : host;
  url = `https://${urlHost}:${boundPort}`;
  if (!isLoopback(host))
    log.warn({ host }, 'the emulator listens beyond loopback; its admin routes have no authentication');
  log.debug({ url, devices: store.counts().active, dataFile: options.dataFile }, 'Graph emulator started');

  let closed = false;
  return {
    url,
    tenantId: app.tenantId,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    caFile: tls.caFile,
    caPem: tls.caPem,
    dataDir,
    cloudIssuerFile,
    cloudIssuerPem: store.drs.issuerCertificatePem,
    store,
    faults,
    stats,
    identity,
    entraConfigYaml: () =>
      entraConfigYaml({ url, tenantId: app.tenantId, clientId: app.clientId, caFile: tls.caFile }),
    async close() {
      if (closed) return;
      closed = true;
      await server.close();
      store.close();
      if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
    },
  };
}
