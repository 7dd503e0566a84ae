// The Entra connector: the import side of the engine for Microsoft Graph. It reads devices with
// /devices/delta (a full read, then changes from the saved delta link), page by page so that memory
// follows the page and not the directory; reads registered owners and users with their on-premises
// SIDs through $batch; and deals with throttling, expired delta tokens and Graph's error answers.
import { randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EntraConfig } from '../config/load.js';
import { DwbError } from '../errors.js';
import { logger } from '../log.js';
import { TokenSource, unreachable } from './auth.js';
import {
  describeGraphError,
  graphFailure,
  isResyncError,
  parseGraphError,
  parseGraphErrorObject,
} from './graph-error.js';
import { HttpTransport, NetworkError, type TransportResponse } from './http.js';
import { completeObserver, type EntraObserver, type EntraRoute } from './observer.js';
import {
  backoffDelay,
  defaultRetryPolicy,
  isRetryableStatus,
  mayRetry,
  parseRetryAfter,
  realSleep,
  type RetryPolicy,
} from './retry.js';
import {
  batchResponseSchema,
  deviceProperties,
  describeIssues,
  pageSchema,
  principalPageSchema,
  principalProperties,
  toDeviceChange,
  toPrincipal,
} from './schema.js';
import { runBounded } from '../util/bounded.js';
import { groupDeltaPath, groupSummarySchema, MAX_GROUPS_PER_DELTA, toGroupChange } from './groups.js';
import { mergedPages, type LastKnownDevices } from './merge.js';
import type {
  CloudReadEvent,
  DeltaPage,
  DeltaReadEvent,
  DeviceChange,
  DevicePrincipal,
  DeviceRelations,
  GroupChange,
  GroupDeltaEvent,
  GroupDeltaRequest,
  GroupSummary,
} from './types.js';

export interface EntraConnectorOptions {
  /** Metrics hooks; missing ones are no-ops. */
  observer?: Partial<EntraObserver>;
  /** Where to log; the process logger by default. */
  logger?: Logger;
  /** Retry bounds for throttling (429, 503) and transient failures. */
  retry?: Partial<RetryPolicy>;
  /** $batch requests in flight at once (each carries 20 requests). Default 4. */
  batchConcurrency?: number;
  /** Use this credential instead of the configured secret or certificate. */
  credential?: TokenCredential;
  /** How to wait between attempts (tests record the waits instead of sleeping). */
  sleep?: (ms: number) => Promise<void>;
}

/** A device as `probe()` sees it: just enough to name it. */
export interface DeviceSummary {
  id: string;
  deviceId: string | null;
  displayName: string | null;
}

export interface ProbeResult {
  /** Up to `top` devices of the tenant (none in an empty tenant). */
  devices: DeviceSummary[];
}

type Relation = 'registeredOwners' | 'registeredUsers';

interface GraphCall {
  method: 'GET' | 'POST';
  url: string;
  route: EntraRoute;
  /** What the user would call this request, for error messages. */
  what: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Graph allows 20 requests in one $batch. */
const BATCH_SIZE = 20;

export class EntraConnector {
  private readonly transport: HttpTransport;
  private readonly tokens: TokenSource;
  private readonly observer: EntraObserver;
  private readonly policy: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly graphOrigin: string;
  private readonly graphHost: string;

  constructor(
    readonly config: EntraConfig,
    private readonly options: EntraConnectorOptions = {},
  ) {
    const graph = new URL(config.graphUrl);
    this.graphOrigin = graph.origin;
    this.graphHost = graph.host;
    this.observer = completeObserver(options.observer);
    this.policy = { ...defaultRetryPolicy, ...options.retry };
    this.sleep = options.sleep ?? realSleep;
    this.transport = new HttpTransport({ caFile: config.caFile });
    this.tokens = new TokenSource(config, this.transport, this.observer, options.credential);
  }

  private get log(): Logger {
    return this.options.logger ?? logger();
  }

  private get v1(): string {
    return `${this.config.graphUrl.replace(/\/+$/, '')}/v1.0`;
  }

  /** The first request of a full read: every device, with only the properties SPEC §2 needs. */
  fullReadUrl(): string {
    return `${this.v1}/devices/delta?$select=${deviceProperties.join(',')}`;
  }

  /**
   * Reads devices as whole records: a full read without a delta link, the changes since then with
   * one, each partial delta record merged with what `lastKnown` (the state store) holds.
   */
  readDevices(deltaLink: string | undefined, lastKnown: LastKnownDevices): AsyncGenerator<CloudReadEvent> {
    return mergedPages(this.readDelta(deltaLink), deltaLink === undefined, lastKnown);
  }

  /**
   * Reads devices page by page: a full read without a delta link, the changes since then with one.
   * The last page carries the next delta link. When Graph refuses the delta link (410,
   * syncStateNotFound, resyncRequired), yields `{ kind: 'reset' }` and starts a full read.
   */
  async *readDelta(deltaLink?: string): AsyncGenerator<DeltaReadEvent, void, undefined> {
    let url = deltaLink ?? this.fullReadUrl();
    let resets = 0;
    let pages = 0;
    let devices = 0;
    let full = deltaLink === undefined;
    const startFull = (reason: string): DeltaReadEvent => {
      resets++;
      if (resets > 3) {
        throw new DwbError(
          'DWB_ENTRA_BAD_RESPONSE',
          `Microsoft Graph at ${this.graphHost} kept refusing the delta read (${reason}).`,
        );
      }
      this.log.warn({ component: 'entra', reason }, 'delta token refused; starting a full read');
      this.observer.onReset(reason);
      url = this.fullReadUrl();
      full = true;
      pages = 0;
      devices = 0;
      return { kind: 'reset', reason };
    };
    if (deltaLink !== undefined && !this.isGraphUrl(deltaLink)) {
      yield startFull(`the saved delta link is not on entra.graphUrl ${this.graphOrigin}`);
    }
    // A delta read runs every few seconds in `run`: only full reads are worth an info line.
    this.log[full ? 'info' : 'debug'](
      { component: 'entra', mode: full ? 'full' : 'delta' },
      'reading devices from Microsoft Graph',
    );
    // Pages come one after another (each names the next), so the next one is requested as soon as
    // this one's link is known, before its devices are validated and handed over.
    const request = (pageUrl: string): Promise<TransportResponse> => {
      const pending = this.call({
        method: 'GET',
        url: pageUrl,
        route: 'devices.delta',
        what: 'the device delta read (GET /devices/delta)',
        headers: { prefer: `odata.maxpagesize=${this.config.pageSize}` },
      });
      pending.catch(() => undefined); // awaited below; a consumer that stops early leaves it unread
      return pending;
    };
    let pending = request(url);
    for (;;) {
      // Nothing of a page is kept in this frame while it waits at `yield`: at 100,000 devices, a
      // page held here until the consumer asks for the next one outlives two young-generation
      // collections and inflates the peak memory of a full pass.
      let answer: TransportResponse | undefined = await pending;
      if (answer.status < 200 || answer.status >= 300) {
        const info = parseGraphError(answer.body);
        if (isResyncError(answer.status, info)) {
          const location = answer.headers.location;
          this.log.debug({ component: 'entra', location }, 'Graph asked for a resync');
          const refused = describeGraphError(answer.status, info);
          answer = undefined;
          yield startFull(
            `Microsoft Graph answered ${refused}: the delta token has expired or is no longer valid`,
          );
          pending = request(url);
          continue;
        }
        throw graphFailure(answer.status, info, 'the device delta read (GET /devices/delta)', this.graphHost);
      }
      const page = this.devicePage(answer);
      answer = undefined;
      const { next, delta } = page;
      pages++;
      devices += page.length;
      if (next !== undefined) {
        this.assertGraphUrl(next, '@odata.nextLink');
        url = next;
        pending = request(next);
        yield { kind: 'page', changes: page.take() } satisfies DeltaPage;
        continue;
      }
      if (delta !== undefined) {
        this.assertGraphUrl(delta, '@odata.deltaLink');
        this.log[full ? 'info' : 'debug'](
          { component: 'entra', pages, changes: devices },
          'device read complete',
        );
        yield { kind: 'page', changes: page.take(), deltaLink: delta } satisfies DeltaPage;
        return;
      }
      throw new DwbError(
        'DWB_ENTRA_BAD_RESPONSE',
        `A /devices/delta page from ${this.graphHost} has neither @odata.nextLink nor @odata.deltaLink.`,
      );
    }
  }

  /**
   * One /devices/delta page, parsed: its links at once (the next page can be requested), its
   * devices validated one by one by `take()`, which hands them over and keeps nothing.
   */
  private devicePage(answer: TransportResponse): {
    next: string | undefined;
    delta: string | undefined;
    length: number;
    take: () => DeviceChange[];
  } {
    const page = this.parseJson(answer, pageSchema, 'a /devices/delta page');
    let items: unknown[] = page.value;
    return {
      next: page['@odata.nextLink'],
      delta: page['@odata.deltaLink'],
      length: items.length,
      take: () => {
        const changes = items.map(toDeviceChange);
        items = [];
        for (const change of changes) {
          if (change.kind === 'invalid') {
            this.observer.onInvalidDevice();
            this.log.warn(
              { component: 'entra', id: change.id, deviceId: change.deviceId, reason: change.reason },
              'device failed validation',
            );
          }
        }
        return changes;
      },
    };
  }

  /**
   * Registered owners and users, with their on-premises SIDs, of each device (by Graph object id):
   * $batch requests of 20, a few in flight. Throttled items are retried; a device whose relations
   * could not be read (gone, or a lasting error) is left out of the map, so that the engine keeps
   * what it knew rather than blanking the owner.
   */
  async fetchRelations(deviceObjectIds: readonly string[]): Promise<Map<string, DeviceRelations>> {
    const ids = [...new Set(deviceObjectIds)];
    const found = new Map<string, Partial<Record<Relation, DevicePrincipal[]>>>();
    const failed = new Map<string, string>();
    type Item = { device: string; relation: Relation; attempts: number };
    let pending: Item[] = ids.flatMap((device) => [
      { device, relation: 'registeredOwners' as const, attempts: 0 },
      { device, relation: 'registeredUsers' as const, attempts: 0 },
    ]);
    let waited = 0;
    for (let round = 1; pending.length > 0; round++) {
      const retry: Item[] = [];
      let retryAfter = 0;
      const batches: Item[][] = [];
      for (let i = 0; i < pending.length; i += BATCH_SIZE) batches.push(pending.slice(i, i + BATCH_SIZE));
      await runBounded(batches, this.options.batchConcurrency ?? 4, async (batch) => {
        const outcomes = await this.sendBatch(batch.map((item) => relationPath(item.device, item.relation)));
        for (const [index, item] of batch.entries()) {
          const outcome = outcomes[index]!;
          if (outcome.kind === 'ok') {
            const entry = found.get(item.device) ?? {};
            entry[item.relation] = outcome.principals;
            found.set(item.device, entry);
          } else if (outcome.kind === 'retry') {
            item.attempts++;
            if (item.attempts >= this.policy.maxAttempts) {
              throw new DwbError(
                outcome.status === 429 || outcome.status === 503
                  ? 'DWB_ENTRA_THROTTLED'
                  : 'DWB_ENTRA_BAD_RESPONSE',
                `Microsoft Graph at ${this.graphHost} kept failing ${item.relation} of device ${item.device} in $batch (${outcome.detail}) after ${item.attempts} attempts.`,
              );
            }
            retry.push(item);
            retryAfter = Math.max(retryAfter, outcome.waitMs ?? backoffDelay(round, this.policy));
          } else {
            failed.set(item.device, outcome.detail);
          }
        }
      });
      pending = retry;
      if (pending.length > 0) {
        if (waited + retryAfter > this.policy.maxTotalWaitMs) {
          throw new DwbError(
            'DWB_ENTRA_THROTTLED',
            `Microsoft Graph at ${this.graphHost} kept throttling the registered owner reads ($batch) for more than ${Math.round(this.policy.maxTotalWaitMs / 1000)} s.`,
          );
        }
        this.observer.onThrottle('$batch', 429, retryAfter);
        this.log.info(
          { component: 'entra', items: pending.length, waitMs: retryAfter },
          'retrying throttled $batch items',
        );
        await this.sleep(retryAfter);
        waited += retryAfter;
      }
    }
    const relations = new Map<string, DeviceRelations>();
    for (const id of ids) {
      const entry = found.get(id);
      if (failed.has(id) || !entry?.registeredOwners || !entry.registeredUsers) continue;
      relations.set(id, { registeredOwners: entry.registeredOwners, registeredUsers: entry.registeredUsers });
    }
    if (failed.size > 0) {
      this.log.warn(
        {
          component: 'entra',
          devices: failed.size,
          sample: [...failed].slice(0, 5).map(([id, why]) => ({ id, why })),
        },
        'registered owners/users of some devices could not be read; they keep their last known values',
      );
    }
    return relations;
  }

  /** The registered owners of one device (for the entra.owners check). */
  async registeredOwners(deviceObjectId: string): Promise<DevicePrincipal[]> {
    return this.readPrincipals(
      `${this.v1}${relationPath(deviceObjectId, 'registeredOwners')}`,
      'registeredOwners',
    );
  }

  /**
   * Reads the membership of scope groups with groups/delta: without a delta link a first round,
   * which lists each group with all its members (a large group across several pages); with one, a
   * later round, which lists only the groups whose membership changed, with the members added and
   * removed, and `@removed` for a deleted group. When Graph refuses the delta link, yields a reset
   * and reads a first round of the same groups. The last page carries the next delta link.
   */
  async *readGroupDelta(request: GroupDeltaRequest): AsyncGenerator<GroupDeltaEvent, void, undefined> {
    const ids = request.groupIds;
    if (ids.length === 0 || ids.length > MAX_GROUPS_PER_DELTA) {
      throw new RangeError(
        `a groups/delta read covers 1 to ${MAX_GROUPS_PER_DELTA} groups, not ${ids.length}`,
      );
    }
    const what = 'the scope group read (GET /groups/delta)';
    const firstRound = `${this.v1}${groupDeltaPath(ids)}`;
    let url = request.deltaLink ?? firstRound;
    let resets = 0;
    const reset = (reason: string): GroupDeltaEvent => {
      if (++resets > 3) {
        throw new DwbError(
          'DWB_ENTRA_BAD_RESPONSE',
          `Microsoft Graph at ${this.graphHost} kept refusing ${what} (${reason}).`,
        );
      }
      this.log.warn(
        { component: 'entra', reason },
        'group delta token refused; reading the scope groups again',
      );
      this.observer.onReset(reason);
      url = firstRound;
      return { kind: 'reset', reason };
    };
    if (request.deltaLink !== undefined && !this.isGraphUrl(request.deltaLink)) {
      yield reset(`the saved group delta link is not on entra.graphUrl ${this.graphOrigin}`);
    }
    for (;;) {
      const answer = await this.call({ method: 'GET', url, route: 'groups.delta', what });
      if (answer.status < 200 || answer.status >= 300) {
        const info = parseGraphError(answer.body);
        if (isResyncError(answer.status, info)) {
          yield reset(
            `Microsoft Graph answered ${describeGraphError(answer.status, info)}: the group delta token has expired or is no longer valid`,
          );
          continue;
        }
        throw groupFailure(answer.status, info, what, this.graphHost);
      }
      const page = this.parseJson(answer, pageSchema, 'a /groups/delta page');
      let groups: GroupChange[];
      try {
        groups = page.value.map(toGroupChange);
      } catch (err) {
        throw new DwbError(
          'DWB_ENTRA_BAD_RESPONSE',
          `A /groups/delta page from ${this.graphHost} is malformed: ${(err as Error).message}.`,
        );
      }
      const next = page['@odata.nextLink'];
      const delta = page['@odata.deltaLink'];
      if (next !== undefined) {
        this.assertGraphUrl(next, '@odata.nextLink');
        url = next;
        yield { kind: 'page', groups };
        continue;
      }
      if (delta !== undefined) {
        this.assertGraphUrl(delta, '@odata.deltaLink');
        yield { kind: 'page', groups, deltaLink: delta };
        return;
      }
      throw new DwbError(
        'DWB_ENTRA_BAD_RESPONSE',
        `A /groups/delta page from ${this.graphHost} has neither @odata.nextLink nor @odata.deltaLink.`,
      );
    }
  }

  /** A group by object id, or undefined when Entra ID has none (GET /groups/{id}). */
  async findGroup(id: string): Promise<GroupSummary | undefined> {
    const what = `GET /groups/${id}`;
    const answer = await this.call({
      method: 'GET',
      url: `${this.v1}/groups/${encodeURIComponent(id)}?$select=id,displayName`,
      route: 'groups.get',
      what,
    });
    if (answer.status === 404) return undefined;
    if (answer.status < 200 || answer.status >= 300)
      throw groupFailure(answer.status, parseGraphError(answer.body), what, this.graphHost);
    const group = this.parseJson(answer, groupSummarySchema, `the ${what} answer`);
    return { id: group.id.toLowerCase(), displayName: group.displayName ?? null };
  }

  /**
   * How many devices are members of a group, directly or through nested groups
   * (`/transitiveMembers/microsoft.graph.device/$count`, an advanced query): reading it needs the
   * same permission as the membership itself. Undefined when Graph does not count (the members are
   * then read once to prove the permission).
   */
  async groupDeviceCount(id: string): Promise<number | undefined> {
    const group = encodeURIComponent(id);
    const counted = await this.call({
      method: 'GET',
      url: `${this.v1}/groups/${group}/transitiveMembers/microsoft.graph.device/$count`,
      route: 'groups.members',
      what: `the members of group ${id}`,
      headers: { consistencylevel: 'eventual', accept: 'text/plain' },
    });
    if (counted.status >= 200 && counted.status < 300) {
      const n = Number(counted.body.toString('utf8').trim());
      if (Number.isInteger(n) && n >= 0) return n;
    } else if (counted.status === 401 || counted.status === 403) {
      throw groupFailure(
        counted.status,
        parseGraphError(counted.body),
        `the members of group ${id}`,
        this.graphHost,
      );
    }
    const listed = await this.call({
      method: 'GET',
      url: `${this.v1}/groups/${group}/members?$top=1&$select=id`,
      route: 'groups.members',
      what: `the members of group ${id}`,
    });
    if (listed.status < 200 || listed.status >= 300)
      throw groupFailure(
        listed.status,
        parseGraphError(listed.body),
        `the members of group ${id}`,
        this.graphHost,
      );
    return undefined;
  }

  /** Obtains a token and reads `GET /v1.0/devices?$top=n`: the connection check. */
  async probe(top = 1): Promise<ProbeResult> {
    const answer = await this.call({
      method: 'GET',
      url: `${this.v1}/devices?$top=${top}&$select=id,deviceId,displayName`,
      route: 'devices.list',
      what: 'GET /devices',
    });
    if (answer.status < 200 || answer.status >= 300) {
      throw graphFailure(answer.status, parseGraphError(answer.body), 'GET /devices', this.graphHost);
    }
    const page = this.parseJson(answer, pageSchema, 'the GET /devices answer');
    const devices: DeviceSummary[] = [];
    for (const item of page.value) {
      const change = toDeviceChange(item);
      if (change.kind !== 'upsert') continue;
      devices.push({
        id: change.device.id,
        deviceId: change.device.deviceId ?? null,
        displayName: change.device.displayName ?? null,
      });
    }
    return { devices };
  }

  /** Closes idle connections. */
  close(): void {
    this.transport.close();
  }

  // --- Graph requests ---------------------------------------------------------------------------

  /**
   * One Graph request with a bearer token: a refused token is renewed once, throttling (429, 503)
   * and transient failures are retried within the policy. Returns the final answer, successful or
   * not; throws when Graph cannot be reached or keeps throttling.
   */
  private async call(request: GraphCall): Promise<TransportResponse> {
    let waited = 0;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.getToken();
      const headers: Record<string, string> = {
        accept: 'application/json',
        authorization: `Bearer ${token}`,
        'client-request-id': randomUUID(),
        'user-agent': 'device-writeback',
        ...request.headers,
      };
      let body: string | undefined;
      if (request.body !== undefined) {
        body = JSON.stringify(request.body);
        headers['content-type'] = 'application/json';
      }
      const started = Date.now();
      let answer: TransportResponse;
      try {
        answer = await this.transport.send({ method: request.method, url: request.url, headers, body });
      } catch (err) {
        this.observer.onRequest(request.route, 0, Date.now() - started);
        if (!(err instanceof NetworkError)) throw err;
        const wait = backoffDelay(attempt, this.policy);
        if (err.isTransient && mayRetry(this.policy, attempt, waited, wait)) {
          this.log.info(
            { component: 'entra', route: request.route, code: err.code, waitMs: wait },
            'Graph connection failed; retrying',
          );
          await this.sleep(wait);
          waited += wait;
          continue;
        }
        throw unreachable(err, `Microsoft Graph at ${this.config.graphUrl}`);
      }
      this.observer.onRequest(request.route, answer.status, Date.now() - started);
      this.log.debug(
        { component: 'entra', route: request.route, status: answer.status, ms: Date.now() - started },
        'graph request',
      );
      if (answer.status === 401 && !renewed) {
        // A token can be revoked or expire early; a fresh one is worth one more try.
        renewed = true;
        this.tokens.invalidate();
        continue;
      }
      if (isRetryableStatus(answer.status)) {
        const hinted = parseRetryAfter(answer.headers['retry-after']);
        const wait = hinted ?? backoffDelay(attempt, this.policy);
        if (!mayRetry(this.policy, attempt, waited, wait)) {
          const info = parseGraphError(answer.body);
          const why =
            attempt >= this.policy.maxAttempts
              ? `after ${attempt} attempts`
              : `it asked to wait ${(wait / 1000).toFixed(1)} s more, beyond the ${Math.round(this.policy.maxTotalWaitMs / 1000)} s the connector waits`;
          throw new DwbError(
            answer.status === 429 || answer.status === 503 ? 'DWB_ENTRA_THROTTLED' : 'DWB_ENTRA_BAD_RESPONSE',
            `Microsoft Graph at ${this.graphHost} kept refusing ${request.what} (${describeGraphError(answer.status, info)}); gave up ${why}.`,
          );
        }
        this.observer.onThrottle(request.route, answer.status, wait);
        // 429 and 503 are Graph's throttling answers; a 500, 502 or 504 is a server failure, retried
        // too but not called throttling, so that the log says what happened.
        const throttled = answer.status === 429 || answer.status === 503;
        const seen = describeGraphError(answer.status, parseGraphError(answer.body));
        this.log.info(
          {
            component: 'entra',
            route: request.route,
            status: answer.status,
            waitMs: wait,
            retryAfter: answer.headers['retry-after'],
          },
          throttled
            ? `Graph is throttling (${seen}); waiting before the next attempt`
            : `Graph failed ${request.what} (${seen}); retrying after ${(wait / 1000).toFixed(1)} s`,
        );
        await this.sleep(wait);
        waited += wait;
        continue;
      }
      return answer;
    }
  }

  /** Sends one $batch of GETs (paths relative to /v1.0) and sorts out each item's outcome. */
  private async sendBatch(paths: string[]): Promise<BatchOutcome[]> {
    const answer = await this.call({
      method: 'POST',
      url: `${this.v1}/$batch`,
      route: '$batch',
      what: 'the registered owner and user reads (POST /$batch)',
      body: { requests: paths.map((url, i) => ({ id: String(i + 1), method: 'GET', url })) },
    });
    if (answer.status < 200 || answer.status >= 300) {
      throw graphFailure(
        answer.status,
        parseGraphError(answer.body),
        'the registered owner and user reads (POST /$batch)',
        this.graphHost,
      );
    }
    const batch = this.parseJson(answer, batchResponseSchema, 'a $batch answer');
    const byId = new Map(batch.responses.map((r) => [r.id, r]));
    return Promise.all(
      paths.map(async (path, i): Promise<BatchOutcome> => {
        const item = byId.get(String(i + 1));
        if (!item) return { kind: 'retry', status: 0, detail: 'missing from the $batch answer' };
        const relation: Relation = path.includes('/registeredUsers') ? 'registeredUsers' : 'registeredOwners';
        const info = () => parseGraphErrorObject(item.body);
        if (item.status >= 200 && item.status < 300) {
          const page = principalPageSchema.safeParse(item.body);
          if (!page.success)
            return { kind: 'failed', detail: `malformed ${relation} answer: ${describeIssues(page.error)}` };
          const principals = page.data.value.map(toPrincipal);
          const next = page.data['@odata.nextLink'];
          if (next !== undefined) {
            this.assertGraphUrl(next, '@odata.nextLink');
            principals.push(...(await this.readPrincipals(next, relation)));
          }
          return { kind: 'ok', principals };
        }
        if (item.status === 404) return { kind: 'failed', detail: describeGraphError(404, info()) };
        if (item.status === 401 || item.status === 403) {
          throw graphFailure(item.status, info(), `${relation} (in POST /$batch)`, this.graphHost);
        }
        if (isRetryableStatus(item.status)) {
          const retryAfter = headerValue(item.headers, 'retry-after');
          return {
            kind: 'retry',
            status: item.status,
            waitMs: parseRetryAfter(retryAfter),
            detail: describeGraphError(item.status, info()),
          };
        }
        return { kind: 'failed', detail: describeGraphError(item.status, info()) };
      }),
    );
  }

  /** Follows a registeredOwners / registeredUsers collection to its end. */
  private async readPrincipals(firstUrl: string, relation: Relation): Promise<DevicePrincipal[]> {
    const principals: DevicePrincipal[] = [];
    let url: string | undefined = firstUrl;
    while (url !== undefined) {
      const answer = await this.call({ method: 'GET', url, route: relation, what: `GET ${relation}` });
      if (answer.status < 200 || answer.status >= 300) {
        throw graphFailure(answer.status, parseGraphError(answer.body), `GET ${relation}`, this.graphHost);
      }
      const page = this.parseJson(answer, principalPageSchema, `a ${relation} page`);
      principals.push(...page.value.map(toPrincipal));
      url = page['@odata.nextLink'];
      if (url !== undefined) this.assertGraphUrl(url, '@odata.nextLink');
    }
    return principals;
  }

  private parseJson<T>(answer: TransportResponse, schema: z.ZodType<T>, what: string): T {
    let data: unknown;
    try {
      data = JSON.parse(answer.body.toString('utf8'));
    } catch {
      throw new DwbError(
        'DWB_ENTRA_BAD_RESPONSE',
        `${capitalise(what)} from ${this.graphHost} is not JSON (HTTP ${answer.status}).`,
      );
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      throw new DwbError(
        'DWB_ENTRA_BAD_RESPONSE',
        `${capitalise(what)} from ${this.graphHost} is malformed: ${describeIssues(parsed.error)}.`,
      );
    }
    return parsed.data;
  }

  private isGraphUrl(link: string): boolean {
    try {
      return new URL(link).origin === this.graphOrigin;
    } catch {
      return false;
    }
  }

  /** Links are followed only on entra.graphUrl: the bearer token never goes anywhere else. */
  private assertGraphUrl(link: string, what: string): void {
    if (!this.isGraphUrl(link)) {
      throw new DwbError(
        'DWB_ENTRA_BAD_RESPONSE',
        `Microsoft Graph at ${this.graphHost} returned an ${what} outside entra.graphUrl (${safeOrigin(link)}); it is not followed.`,
      );
    }
  }
}

/** A refused group read names the permission it needs: GroupMember.Read.All. */
function groupFailure(
  status: number,
  info: ReturnType<typeof parseGraphError>,
  what: string,
  host: string,
): DwbError {
  if (status !== 403) return graphFailure(status, info, what, host);
  return new DwbError(
    'DWB_ENTRA_FORBIDDEN',
    `Microsoft Graph at ${host} denied ${what} (${describeGraphError(status, info)}).`,
    {
      fix: 'writeback.scope.groups needs the Microsoft Graph application permission GroupMember.Read.All (or Group.Read.All): API permissions > Add a permission > Microsoft Graph > Application permissions, then "Grant admin consent" for the tenant.',
    },
  );
}

type BatchOutcome =
  | { kind: 'ok'; principals: DevicePrincipal[] }
  | { kind: 'retry'; status: number; waitMs?: number; detail: string }
  | { kind: 'failed'; detail: string };

function relationPath(deviceObjectId: string, relation: Relation): string {
  return `/devices/${encodeURIComponent(deviceObjectId)}/${relation}?$select=${principalProperties.join(',')}`;
}

function headerValue(headers: Record<string, unknown> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && (typeof value === 'string' || typeof value === 'number'))
      return String(value);
  }
  return undefined;
}

function safeOrigin(link: string): string {
  try {
    return new URL(link).origin;
  } catch {
    return 'an unreadable URL';
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
