// Microsoft Graph v1.0, the subset the product uses, independent of the HTTP framework: one
// request in, one response out. The server feeds it real requests; `$batch` feeds it the requests
// of a batch, so faults, authentication, permissions and statistics apply to those too.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { deltaPage, DEFAULT_DELTA_PAGE_SIZE } from './delta.js';
import { DEFAULT_GROUP_DELTA_MEMBERS_PER_PAGE, groupDeltaPage } from './group-delta.js';
import { badRequest, graphErrorBody, GraphError, notFound } from './errors.js';
import type { FaultInjector, RequestStats } from './faults.js';
import type { AccessTokenClaims, IdentityPlatform } from './identity.js';
import {
  defaultUserProperties,
  deviceProperties,
  deviceRelations,
  groupProperties,
  odataType,
  userProperties,
  type DeviceRelation,
  type DirectoryObjectKind,
  type EmulatedDevice,
  type EmulatedGroup,
  type EmulatedUser,
} from './model.js';
import {
  buildQuery,
  decodeToken,
  encodeToken,
  equalityOn,
  matchesFilter,
  parseExpand,
  parseFilter,
  parseQueryString,
  parseSelect,
  parseTop,
  preferredPageSize,
  project,
  type FilterExpression,
} from './odata.js';
import type { DeviceRecord, DirectoryObjectRecord, DirectoryStore, GroupRecord } from './store.js';

export interface GraphRequest {
  method: string;
  /** Path and query, starting with `/v1.0/`. */
  url: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body: unknown;
  /** `https://host:port` as the client reached us; links are built on it. */
  origin: string;
}

export interface GraphResponse {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

export const GRAPH_CONTENT_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';
const DEFAULT_PAGE_SIZE = 100;
const MAX_BATCH_REQUESTS = 20;
/** Graph expands at most 20 objects of a relationship. */
const MAX_EXPANDED = 20;
/** Graph binds at most 20 relationships in one create or update (members@odata.bind). */
const MAX_BOUND = 20;
/** What $select may name on a collection of directory objects of several types. */
const directoryObjectProperties: readonly string[] = [
  ...new Set<string>([...deviceProperties, ...userProperties, ...groupProperties]),
];
const defaultPropertiesOf: Readonly<Record<DirectoryObjectKind, readonly string[]>> = {
  device: deviceProperties,
  user: defaultUserProperties,
  group: groupProperties,
};

const Permission = {
  readDevices: ['Device.Read.All', 'Device.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  writeDevices: ['Device.ReadWrite.All', 'Directory.ReadWrite.All'],
  readUsers: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  writeUsers: ['User.ReadWrite.All', 'Directory.ReadWrite.All'],
  readGroups: [
    'GroupMember.Read.All',
    'Group.Read.All',
    'GroupMember.ReadWrite.All',
    'Group.ReadWrite.All',
    'Directory.Read.All',
    'Directory.ReadWrite.All',
  ],
  createGroups: ['Group.Create', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  writeGroups: ['Group.ReadWrite.All', 'Directory.ReadWrite.All'],
  writeMembers: ['GroupMember.ReadWrite.All', 'Group.ReadWrite.All', 'Directory.ReadWrite.All'],
} as const;
type PermissionSet = readonly string[];

interface RouteContext {
  request: GraphRequest;
  segments: string[];
  query: URLSearchParams;
  claims: AccessTokenClaims;
  /** Resolved device for `/devices/{key}/…` routes. */
  device?: DeviceRecord;
  /** Resolved group for `/groups/{id}/…` routes. */
  group?: GroupRecord;
}

interface Route {
  /** Shown in statistics, e.g. `GET /v1.0/devices/{id}`. */
  template: string;
  permissions: PermissionSet[];
  handle: (ctx: RouteContext) => GraphResponse | Promise<GraphResponse>;
}

// ---- request body schemas --------------------------------------------------------------------

const alternativeSecurityIdSchema = z.object({
  type: z.number().int(),
  identityProvider: z.string().nullable().optional(),
  key: z.string(),
});

const nullableString = z.string().nullable();
const devicePropertySchemas: Partial<Record<keyof EmulatedDevice, z.ZodType>> = {
  accountEnabled: z.boolean(),
  approximateLastSignInDateTime: nullableString,
  complianceExpirationDateTime: nullableString,
  deviceCategory: nullableString,
  deviceId: z.string(),
  deviceMetadata: nullableString,
  deviceOwnership: nullableString,
  deviceVersion: z.number().int().nullable(),
  displayName: z.string(),
  domainName: nullableString,
  enrollmentProfileName: nullableString,
  enrollmentType: nullableString,
  externalSourceName: nullableString,
  isCompliant: z.boolean().nullable(),
  isManaged: z.boolean().nullable(),
  isRooted: z.boolean().nullable(),
  managementType: nullableString,
  manufacturer: nullableString,
  mdmAppId: nullableString,
  model: nullableString,
  onPremisesLastSyncDateTime: nullableString,
  onPremisesSecurityIdentifier: nullableString,
  onPremisesSyncEnabled: z.boolean().nullable(),
  operatingSystem: nullableString,
  operatingSystemVersion: nullableString,
  physicalIds: z.array(z.string()),
  profileType: nullableString,
  registrationDateTime: nullableString,
  sourceType: nullableString,
  systemLabels: z.array(z.string()),
  trustType: nullableString,
  extensionAttributes: z.record(z.string(), nullableString),
  alternativeSecurityIds: z.array(alternativeSecurityIdSchema),
};
const requiredOnCreate: (keyof EmulatedDevice)[] = [
  'accountEnabled',
  'alternativeSecurityIds',
  'deviceId',
  'displayName',
  'operatingSystem',
  'operatingSystemVersion',
];

const userPropertySchemas: Partial<Record<keyof EmulatedUser, z.ZodType>> = {
  accountEnabled: z.boolean(),
  businessPhones: z.array(z.string()),
  displayName: nullableString,
  givenName: nullableString,
  jobTitle: nullableString,
  mail: nullableString,
  mailNickname: nullableString,
  mobilePhone: nullableString,
  officeLocation: nullableString,
  onPremisesSamAccountName: nullableString,
  // Read-only in Graph (written by Entra Connect); writable here so that tests can link users to AD.
  onPremisesSecurityIdentifier: nullableString,
  onPremisesSyncEnabled: z.boolean().nullable(),
  preferredLanguage: nullableString,
  surname: nullableString,
  userPrincipalName: z.string().min(3),
};

const groupPropertySchemas: Partial<Record<keyof EmulatedGroup, z.ZodType>> = {
  classification: nullableString,
  description: nullableString,
  displayName: z.string().min(1).max(256),
  groupTypes: z.array(z.string()),
  isAssignableToRole: z.boolean().nullable(),
  mailEnabled: z.boolean(),
  mailNickname: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\x21-\x7e]+$/)
    .refine((v) => !/[@()\\[\]";:.<>,]/.test(v)),
  membershipRule: nullableString,
  membershipRuleProcessingState: nullableString,
  preferredDataLocation: nullableString,
  preferredLanguage: nullableString,
  securityEnabled: z.boolean(),
  theme: nullableString,
  visibility: nullableString,
};

function validateBody(
  body: unknown,
  schemas: Partial<Record<string, z.ZodType>>,
  typeName: string,
  ignored: readonly string[] = [],
): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('Write requests must contain a JSON object body.');
  const out: Record<string, unknown> = {};
  for (const [property, value] of Object.entries(body)) {
    if (ignored.includes(property) || property.startsWith('@odata.')) continue;
    const schema = schemas[property];
    if (!schema)
      throw badRequest(
        `Property '${property}' does not exist on type 'microsoft.graph.${typeName}' or is read-only.`,
      );
    const parsed = schema.safeParse(value);
    if (!parsed.success)
      throw badRequest(`Invalid value specified for property '${property}' of resource '${typeName}'.`);
    out[property] = parsed.data;
  }
  return out;
}

// ---- the service -----------------------------------------------------------------------------

/** Graph's `x-ms-ags-diagnostic` response header, as the emulator fills it in. */
const DIAGNOSTIC_HEADER = JSON.stringify({
  ServerInfo: {
    DataCenter: 'Emulator',
    Slice: 'E',
    Ring: '0',
    ScaleUnit: '000',
    RoleInstance: 'device-writeback',
  },
});

export interface GraphServiceOptions {
  deltaPageSize?: number;
  /** Members per page of groups/delta, over all its groups (default 1000). */
  groupDeltaMembersPerPage?: number;
}

export class GraphService {
  private readonly deltaPageSize: number;
  private readonly groupDeltaMembersPerPage: number;

  constructor(
    private readonly store: DirectoryStore,
    private readonly identity: IdentityPlatform,
    private readonly faults: FaultInjector,
    private readonly stats: RequestStats,
    options: GraphServiceOptions = {},
  ) {
    this.deltaPageSize = options.deltaPageSize ?? DEFAULT_DELTA_PAGE_SIZE;
    this.groupDeltaMembersPerPage = options.groupDeltaMembersPerPage ?? DEFAULT_GROUP_DELTA_MEMBERS_PER_PAGE;
  }

  async handle(request: GraphRequest): Promise<GraphResponse> {
    const requestId = randomUUID();
    const clientRequestId = request.headers['client-request-id'] ?? requestId;
    const baseHeaders: Record<string, string> = {
      'request-id': requestId,
      'client-request-id': clientRequestId,
      'x-ms-ags-diagnostic': DIAGNOSTIC_HEADER,
    };
    const questionMark = request.url.indexOf('?');
    const path = questionMark < 0 ? request.url : request.url.slice(0, questionMark);
    const query = parseQueryString(questionMark < 0 ? '' : request.url.slice(questionMark + 1));
    let template = `${request.method} ${path}`;
    let response: GraphResponse;
    try {
      const segments = path
        .split('/')
        .slice(2)
        .filter((s) => s !== '')
        .map((s) => decodeURIComponent(s));
      const { route, device, group } = this.route(request.method, segments);
      template = `${request.method} ${route.template}`;

      const fault = this.faults.decide(request.method, path);
      if (fault.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, fault.latencyMs));
      if (fault.failure) {
        this.stats.faultsInjected++;
        const headers: Record<string, string> = {};
        if (fault.failure.retryAfter !== undefined) headers['Retry-After'] = String(fault.failure.retryAfter);
        throw new GraphError(fault.failure.status, fault.failure.code, fault.failure.message, headers);
      }

      const claims = this.identity.authenticate(request.headers.authorization);
      for (const anyOf of route.permissions) {
        if (!anyOf.some((role) => claims.roles.includes(role))) {
          throw new GraphError(
            403,
            'Authorization_RequestDenied',
            'Insufficient privileges to complete the operation.',
          );
        }
      }
      const ctx: RouteContext = { request, segments, query, claims };
      if (device) ctx.device = this.resolveDevice(device);
      if (group !== undefined) {
        const record = this.store.activeGroup(group);
        if (!record) throw notFound(group);
        ctx.group = record;
      }
      response = await route.handle(ctx);
    } catch (err) {
      const error =
        err instanceof GraphError
          ? err
          : new GraphError(
              500,
              'generalException',
              `The emulator failed: ${err instanceof Error ? err.message : String(err)}`,
            );
      response = {
        status: error.status,
        headers: { ...error.headers },
        body: graphErrorBody(error, requestId, clientRequestId),
      };
    }
    this.stats.record(template, response.status);
    response.headers = { ...baseHeaders, ...response.headers };
    if (response.body !== undefined) response.headers['Content-Type'] = GRAPH_CONTENT_TYPE;
    return response;
  }

  // ---- routing -------------------------------------------------------------------------------

  /** Finds the route for the path segments after `/v1.0`; `device` is the `{key}` to resolve. */
  private route(
    method: string,
    segments: string[],
  ): { route: Route; device?: { id?: string; deviceId?: string }; group?: string } {
    const [first, second, third, fourth, fifth] = segments;
    const methodNotAllowed = (): never => {
      throw new GraphError(
        405,
        'Request_BadRequest',
        'Specified HTTP method is not allowed for the request target.',
      );
    };
    const pick = (routes: Record<string, Route | undefined>): Route => routes[method] ?? methodNotAllowed();
    const unknownSegment = (segment: string | undefined): never => {
      throw badRequest(`Resource not found for the segment '${segment ?? ''}'.`, 'BadRequest');
    };

    if (first === '$batch' && segments.length === 1) return { route: pick({ POST: this.batchRoute }) };

    const byAlternateKey = first ? /^devices\(deviceId='(.*)'\)$/i.exec(first) : null;
    if (first === 'devices' || byAlternateKey) {
      let key: { id?: string; deviceId?: string } | undefined;
      let rest: (string | undefined)[];
      if (byAlternateKey) {
        key = { deviceId: byAlternateKey[1]?.replace(/''/g, "'") ?? '' };
        rest = [second, third, fourth];
      } else {
        if (second === undefined)
          return { route: pick({ GET: this.listDevicesRoute, POST: this.createDeviceRoute }) };
        if (second === '$count' && segments.length === 2)
          return { route: pick({ GET: this.countDevicesRoute }) };
        if (/^(microsoft\.graph\.)?delta(\(\))?$/i.test(second) && segments.length === 2)
          return { route: pick({ GET: this.deltaRoute }) };
        key = { id: second };
        rest = [third, fourth, fifth];
      }
      const [relationSegment, afterRelation, last] = rest;
      if (segments.length > (byAlternateKey ? 4 : 5)) unknownSegment(segments[segments.length - 1]);
      const membership = ['memberof', 'transitivememberof'].indexOf(relationSegment?.toLowerCase() ?? '');
      if (membership >= 0) {
        const transitive = membership === 1;
        if (afterRelation === undefined)
          return { route: pick({ GET: this.memberOfRoute(transitive, undefined) }), device: key };
        if (afterRelation === '$count' && last === undefined)
          return { route: pick({ GET: this.memberOfRoute(transitive, undefined, true) }), device: key };
        if (afterRelation.toLowerCase() === 'microsoft.graph.group')
          if (last === undefined || last === '$count')
            return {
              route: pick({ GET: this.memberOfRoute(transitive, 'group', last === '$count') }),
              device: key,
            };
        return unknownSegment(last ?? afterRelation);
      }
      if (relationSegment === undefined) {
        return {
          route: pick({
            GET: this.getDeviceRoute,
            PATCH: this.updateDeviceRoute,
            DELETE: this.deleteDeviceRoute,
          }),
          device: key,
        };
      }
      const relation = deviceRelations.find((r) => r.toLowerCase() === relationSegment.toLowerCase());
      if (!relation) return unknownSegment(relationSegment);
      if (afterRelation === undefined)
        return { route: pick({ GET: this.relationRoute(relation, false) }), device: key };
      if (afterRelation === '$ref' && last === undefined) {
        return {
          route: pick({ GET: this.relationRefsRoute(relation), POST: this.addRelationRoute(relation) }),
          device: key,
        };
      }
      if (afterRelation.toLowerCase() === 'microsoft.graph.user' && last === undefined) {
        return { route: pick({ GET: this.relationRoute(relation, true) }), device: key };
      }
      if (last === '$ref')
        return { route: pick({ DELETE: this.removeRelationRoute(relation, afterRelation) }), device: key };
      return unknownSegment(last ?? afterRelation);
    }

    if (first === 'groups') {
      if (second === undefined)
        return { route: pick({ GET: this.listGroupsRoute, POST: this.createGroupRoute }) };
      if (/^(microsoft\.graph\.)?delta(\(\))?$/i.test(second) && segments.length === 2)
        return { route: pick({ GET: this.groupDeltaRoute }) };
      if (segments.length > 5) unknownSegment(segments[segments.length - 1]);
      const group = second;
      if (third === undefined)
        return {
          route: pick({
            GET: this.getGroupRoute,
            PATCH: this.updateGroupRoute,
            DELETE: this.deleteGroupRoute,
          }),
          group,
        };
      const transitive = third.toLowerCase() === 'transitivemembers';
      if (!transitive && third.toLowerCase() !== 'members') return unknownSegment(third);
      if (fourth === undefined)
        return { route: pick({ GET: this.membersRoute(transitive, undefined) }), group };
      if (fourth === '$count' && fifth === undefined)
        return { route: pick({ GET: this.membersRoute(transitive, undefined, true) }), group };
      if (!transitive && fourth === '$ref' && fifth === undefined)
        return { route: pick({ POST: this.addMemberRoute }), group };
      const cast = /^microsoft\.graph\.(device|user|group)$/i.exec(fourth)?.[1]?.toLowerCase() as
        DirectoryObjectKind | undefined;
      if (cast && (fifth === undefined || fifth === '$count'))
        return { route: pick({ GET: this.membersRoute(transitive, cast, fifth === '$count') }), group };
      if (!transitive && fifth === '$ref')
        return { route: pick({ DELETE: this.removeMemberRoute(fourth) }), group };
      return unknownSegment(fifth ?? fourth);
    }

    if (first === 'users') {
      if (second === undefined)
        return { route: pick({ GET: this.listUsersRoute, POST: this.createUserRoute }) };
      if (segments.length === 2)
        return { route: pick({ GET: this.getUserRoute, PATCH: this.updateUserRoute }) };
      return unknownSegment(third);
    }
    return unknownSegment(first);
  }

  private resolveDevice(key: { id?: string; deviceId?: string }): DeviceRecord {
    const record =
      key.deviceId !== undefined
        ? this.store.activeDeviceByDeviceId(key.deviceId)
        : this.store.activeDevice(key.id ?? '');
    if (!record) throw notFound(key.deviceId ?? key.id ?? '');
    return record;
  }

  // ---- devices -------------------------------------------------------------------------------

  private readonly listDevicesRoute: Route = {
    template: '/v1.0/devices',
    permissions: [Permission.readDevices],
    handle: (ctx) => {
      rejectOptions(ctx.query, ['$orderby', '$search', '$skip']);
      const select = parseSelect(ctx.query.get('$select'), deviceProperties, 'device');
      const expand = parseExpand(ctx.query.get('$expand'), deviceRelations);
      if (expand.length > 0) requireRoles(ctx.claims, Permission.readUsers);
      const rawFilter = ctx.query.get('$filter');
      const filter = rawFilter ? parseFilter(rawFilter, deviceProperties, 'device') : undefined;
      const pageSize =
        parseTop(ctx.query.get('$top')) ?? preferredPageSize(ctx.request.headers.prefer) ?? DEFAULT_PAGE_SIZE;
      const wantCount = this.countRequested(ctx);

      const start = this.listCursor(ctx.query.get('$skiptoken'));
      const value: Record<string, unknown>[] = [];
      let next: number | undefined;
      const indexed = filter ? equalityOn(filter, 'deviceId') : undefined;
      if (indexed !== undefined) {
        const record = this.store.activeDeviceByDeviceId(indexed);
        if (record && start === 0) value.push(this.deviceOut(record, select, expand));
      } else {
        const total = this.store.deviceOrdinalCount;
        let ordinal = start;
        for (; ordinal < total && value.length < pageSize; ordinal++) {
          const record = this.store.deviceRecordAt(ordinal);
          if (record?.state !== 'active' || (filter && !matchesFilter(record.device, filter))) continue;
          value.push(this.deviceOut(record, select, expand));
        }
        if (ordinal < total && this.anyActiveFrom(ordinal, filter)) next = ordinal;
      }
      const body: Record<string, unknown> = {
        '@odata.context': `${ctx.request.origin}/v1.0/$metadata#devices${selectSuffix(select)}`,
      };
      if (wantCount) body['@odata.count'] = this.countDevices(filter);
      if (next !== undefined) body['@odata.nextLink'] = nextLink(ctx, '/v1.0/devices', next);
      body.value = value;
      return ok(body);
    },
  };

  private readonly countDevicesRoute: Route = {
    template: '/v1.0/devices/$count',
    permissions: [Permission.readDevices],
    handle: (ctx) => {
      requireEventualConsistency(ctx);
      const rawFilter = ctx.query.get('$filter');
      const filter = rawFilter ? parseFilter(rawFilter, deviceProperties, 'device') : undefined;
      return {
        status: 200,
        headers: { 'Content-Type': 'text/plain;charset=utf-8' },
        body: String(this.countDevices(filter)),
      };
    },
  };

  private readonly deltaRoute: Route = {
    template: '/v1.0/devices/delta',
    permissions: [Permission.readDevices],
    handle: (ctx) => {
      rejectOptions(
        ctx.query,
        ['$filter', '$orderby', '$expand', '$search', '$top', '$count'],
        'on devices/delta (use the Prefer: odata.maxpagesize header for the page size)',
      );
      const select = parseSelect(ctx.query.get('$select'), deviceProperties, 'device');
      const pageSize = preferredPageSize(ctx.request.headers.prefer) ?? this.deltaPageSize;
      const result = deltaPage(this.store, {
        origin: ctx.request.origin,
        select,
        skiptoken: ctx.query.get('$skiptoken'),
        deltatoken: ctx.query.get('$deltatoken'),
        pageSize,
      });
      const headers: Record<string, string> = { ...result.headers };
      if (ctx.request.headers.prefer && /odata\.maxpagesize/i.test(ctx.request.headers.prefer)) {
        headers['Preference-Applied'] = `odata.maxpagesize=${pageSize}`;
      }
      return { status: 200, headers, body: result.body };
    },
  };

  private readonly getDeviceRoute: Route = {
    template: '/v1.0/devices/{id}',
    permissions: [Permission.readDevices],
    handle: (ctx) => {
      const select = parseSelect(ctx.query.get('$select'), deviceProperties, 'device');
      const expand = parseExpand(ctx.query.get('$expand'), deviceRelations);
      if (expand.length > 0) requireRoles(ctx.claims, Permission.readUsers);
      const device = requireDevice(ctx);
      return ok({
        '@odata.context': `${ctx.request.origin}/v1.0/$metadata#devices${selectSuffix(select)}/$entity`,
        ...this.deviceOut(device, select, expand),
      });
    },
  };

  private readonly createDeviceRoute: Route = {
    template: '/v1.0/devices',
    permissions: [Permission.writeDevices],
    handle: (ctx) => {
      const input = validateBody(ctx.request.body, devicePropertySchemas, 'device', ['id']);
      const missing = requiredOnCreate.filter((p) => input[p] === undefined);
      if (missing.length > 0)
        throw badRequest(`Required property '${missing[0]}' of resource 'Device' is missing.`);
      const created = this.store.createDevice(input as unknown as EmulatedDevice);
      const record = this.store.activeDevice(created.id) as DeviceRecord;
      return {
        status: 201,
        headers: {
          Location: `${ctx.request.origin}/v2/${this.identity.app.tenantId}/directoryObjects/${created.id}/Microsoft.DirectoryServices.Device`,
        },
        body: {
          '@odata.context': `${ctx.request.origin}/v1.0/$metadata#devices/$entity`,
          ...this.deviceOut(record, undefined, []),
        },
      };
    },
  };

  private readonly updateDeviceRoute: Route = {
    template: '/v1.0/devices/{id}',
    permissions: [Permission.writeDevices],
    handle: (ctx) => {
      const patch = validateBody(ctx.request.body, devicePropertySchemas, 'device');
      this.store.updateDevice(requireDevice(ctx).device.id, patch as Partial<EmulatedDevice>);
      return { status: 204, headers: {} };
    },
  };

  private readonly deleteDeviceRoute: Route = {
    template: '/v1.0/devices/{id}',
    permissions: [Permission.writeDevices],
    handle: (ctx) => {
      this.store.deleteDevice(requireDevice(ctx).device.id);
      return { status: 204, headers: {} };
    },
  };

  private relationRoute(relation: DeviceRelation, castToUser: boolean): Route {
    return {
      template: `/v1.0/devices/{id}/${relation}${castToUser ? '/microsoft.graph.user' : ''}`,
      permissions: [Permission.readDevices, Permission.readUsers],
      handle: (ctx) => {
        rejectOptions(ctx.query, ['$orderby', '$search', '$expand', '$skip']);
        const select = parseSelect(ctx.query.get('$select'), userProperties, 'user');
        const rawFilter = ctx.query.get('$filter');
        const filter = rawFilter ? parseFilter(rawFilter, userProperties, 'user') : undefined;
        const pageSize =
          parseTop(ctx.query.get('$top')) ??
          preferredPageSize(ctx.request.headers.prefer) ??
          DEFAULT_PAGE_SIZE;
        const device = requireDevice(ctx);
        const users = this.store
          .relation(device.device.id, relation)
          .filter((u) => !filter || matchesFilter(u, filter));
        const start = this.listCursor(ctx.query.get('$skiptoken'));
        const page = users.slice(start, start + pageSize);
        const body: Record<string, unknown> = {
          '@odata.context': `${ctx.request.origin}/v1.0/$metadata#${castToUser ? 'users' : 'directoryObjects'}${selectSuffix(select)}`,
        };
        if (this.countRequested(ctx)) body['@odata.count'] = users.length;
        if (start + pageSize < users.length) {
          body['@odata.nextLink'] = nextLink(ctx, ctx.request.url.split('?')[0] ?? '', start + pageSize);
        }
        body.value = page.map((u) => userOut(u, select, !castToUser));
        return ok(body);
      },
    };
  }

  private relationRefsRoute(relation: DeviceRelation): Route {
    return {
      template: `/v1.0/devices/{id}/${relation}/$ref`,
      permissions: [Permission.readDevices],
      handle: (ctx) => {
        const device = requireDevice(ctx);
        const tenant = this.identity.app.tenantId;
        return ok({
          '@odata.context': `${ctx.request.origin}/v1.0/$metadata#directoryObjects`,
          value: this.store.relation(device.device.id, relation).map((u) => ({
            '@odata.id': `${ctx.request.origin}/v2/${tenant}/directoryObjects/${u.id}/Microsoft.DirectoryServices.User`,
          })),
        });
      },
    };
  }

  private addRelationRoute(relation: DeviceRelation): Route {
    return {
      template: `/v1.0/devices/{id}/${relation}/$ref`,
      permissions: [Permission.writeDevices],
      handle: (ctx) => {
        const body = ctx.request.body as { '@odata.id'?: unknown } | undefined;
        const reference = typeof body?.['@odata.id'] === 'string' ? body['@odata.id'] : undefined;
        if (!reference)
          throw badRequest("The request body must contain '@odata.id' naming the directory object to add.");
        // https://graph.microsoft.com/v1.0/directoryObjects/{id} (or /users/{id})
        const userId = referencedId(reference);
        const user = this.store.userRecord(userId);
        if (!user) throw notFound(userId);
        this.store.addRelation(requireDevice(ctx).device.id, relation, user.id);
        return { status: 204, headers: {} };
      },
    };
  }

  private removeRelationRoute(relation: DeviceRelation, userId: string): Route {
    return {
      template: `/v1.0/devices/{id}/${relation}/{userId}/$ref`,
      permissions: [Permission.writeDevices],
      handle: (ctx) => {
        this.store.removeRelation(requireDevice(ctx).device.id, relation, userId);
        return { status: 204, headers: {} };
      },
    };
  }

  // ---- users ---------------------------------------------------------------------------------

  private readonly listUsersRoute: Route = {
    template: '/v1.0/users',
    permissions: [Permission.readUsers],
    handle: (ctx) => {
      rejectOptions(ctx.query, ['$orderby', '$search', '$expand', '$skip']);
      const select = parseSelect(ctx.query.get('$select'), userProperties, 'user');
      const rawFilter = ctx.query.get('$filter');
      const filter = rawFilter ? parseFilter(rawFilter, userProperties, 'user') : undefined;
      const pageSize =
        parseTop(ctx.query.get('$top')) ?? preferredPageSize(ctx.request.headers.prefer) ?? DEFAULT_PAGE_SIZE;
      const start = this.listCursor(ctx.query.get('$skiptoken'));
      const value: Record<string, unknown>[] = [];
      let ordinal = start;
      for (; ordinal < this.store.userCount && value.length < pageSize; ordinal++) {
        const user = this.store.userAt(ordinal);
        if (!user || (filter && !matchesFilter(user, filter))) continue;
        value.push(userOut(user, select, false));
      }
      const body: Record<string, unknown> = {
        '@odata.context': `${ctx.request.origin}/v1.0/$metadata#users${selectSuffix(select)}`,
      };
      if (ordinal < this.store.userCount) body['@odata.nextLink'] = nextLink(ctx, '/v1.0/users', ordinal);
      body.value = value;
      return ok(body);
    },
  };

  private readonly getUserRoute: Route = {
    template: '/v1.0/users/{id}',
    permissions: [Permission.readUsers],
    handle: (ctx) => {
      const select = parseSelect(ctx.query.get('$select'), userProperties, 'user');
      const key = ctx.segments[1] ?? '';
      const user = this.store.userRecord(key);
      if (!user) throw notFound(key);
      return ok({
        '@odata.context': `${ctx.request.origin}/v1.0/$metadata#users${selectSuffix(select)}/$entity`,
        ...userOut(user, select, false),
      });
    },
  };

  private readonly createUserRoute: Route = {
    template: '/v1.0/users',
    permissions: [Permission.writeUsers],
    handle: (ctx) => {
      const input = validateBody(ctx.request.body, userPropertySchemas, 'user', ['id', 'passwordProfile']);
      if (typeof input.userPrincipalName !== 'string')
        throw badRequest("Required property 'userPrincipalName' of resource 'User' is missing.");
      if (typeof input.displayName !== 'string')
        throw badRequest("Required property 'displayName' of resource 'User' is missing.");
      const user = this.store.createUser(input as Partial<EmulatedUser> & { userPrincipalName: string });
      return {
        status: 201,
        headers: {},
        body: {
          '@odata.context': `${ctx.request.origin}/v1.0/$metadata#users/$entity`,
          ...userOut(user, undefined, false),
        },
      };
    },
  };

  private readonly updateUserRoute: Route = {
    template: '/v1.0/users/{id}',
    permissions: [Permission.writeUsers],
    handle: (ctx) => {
      const patch = validateBody(ctx.request.body, userPropertySchemas, 'user', ['passwordProfile']);
      this.store.updateUser(ctx.segments[1] ?? '', patch as Partial<EmulatedUser>);
      return { status: 204, headers: {} };
    },
  };

  // ---- groups --------------------------------------------------------------------------------

  private readonly listGroupsRoute: Route = {
    template: '/v1.0/groups',
    permissions: [Permission.readGroups],
    handle: (ctx) => {
      rejectOptions(ctx.query, ['$orderby', '$search', '$expand', '$skip']);
      const select = parseSelect(ctx.query.get('$select'), groupProperties, 'group');
      const rawFilter = ctx.query.get('$filter');
      const filter = rawFilter ? parseFilter(rawFilter, groupProperties, 'group') : undefined;
      const pageSize =
        parseTop(ctx.query.get('$top')) ?? preferredPageSize(ctx.request.headers.prefer) ?? DEFAULT_PAGE_SIZE;
      const matching: GroupRecord[] = [];
      for (let i = 0; i < this.store.groupOrdinalCount; i++) {
        const record = this.store.groupRecordAt(i);
        if (record?.state === 'active' && (!filter || matchesFilter(record.group, filter)))
          matching.push(record);
      }
      return ok(
        this.page(ctx, '/v1.0/groups', `groups${selectSuffix(select)}`, matching, pageSize, (record) =>
          project(record.group, select ?? groupProperties),
        ),
      );
    },
  };

  private readonly getGroupRoute: Route = {
    template: '/v1.0/groups/{id}',
    permissions: [Permission.readGroups],
    handle: (ctx) => {
      const select = parseSelect(ctx.query.get('$select'), groupProperties, 'group');
      return ok({
        '@odata.context': `${ctx.request.origin}/v1.0/$metadata#groups${selectSuffix(select)}/$entity`,
        ...project(requireGroup(ctx).group, select ?? groupProperties),
      });
    },
  };

  private readonly createGroupRoute: Route = {
    template: '/v1.0/groups',
    permissions: [Permission.createGroups],
    handle: (ctx) => {
      const body = requireObject(ctx.request.body);
      const bound = this.boundMembers(body);
      const input = validateBody(body, groupPropertySchemas, 'group', ['members@odata.bind']);
      for (const required of ['displayName', 'mailEnabled', 'mailNickname', 'securityEnabled']) {
        if (input[required] === undefined)
          throw badRequest(`Required property '${required}' of resource 'Group' is missing.`);
      }
      const created = this.store.createGroup(
        input as Partial<EmulatedGroup> & { displayName: string },
        bound,
      );
      const tenant = this.identity.app.tenantId;
      return {
        status: 201,
        headers: {
          Location: `${ctx.request.origin}/v2/${tenant}/directoryObjects/${created.id}/Microsoft.DirectoryServices.Group`,
        },
        body: {
          '@odata.context': `${ctx.request.origin}/v1.0/$metadata#groups/$entity`,
          '@odata.id': `${ctx.request.origin}/v2/${tenant}/directoryObjects/${created.id}/Microsoft.DirectoryServices.Group`,
          ...project(created, groupProperties),
        },
      };
    },
  };

  private readonly updateGroupRoute: Route = {
    template: '/v1.0/groups/{id}',
    permissions: [Permission.writeGroups],
    handle: (ctx) => {
      const body = requireObject(ctx.request.body);
      const bound = this.boundMembers(body);
      const patch = validateBody(body, groupPropertySchemas, 'group', ['members@odata.bind']);
      const group = requireGroup(ctx);
      if (bound.length > 0) requireRoles(ctx.claims, Permission.writeMembers);
      for (const id of bound) {
        if (group.members.has(id.toLowerCase())) throw duplicateMembers();
      }
      this.store.updateGroup(group.group.id, patch as Partial<EmulatedGroup>);
      if (bound.length > 0) this.store.addMembers(group.group.id, bound);
      return { status: 204, headers: {} };
    },
  };

  private readonly deleteGroupRoute: Route = {
    template: '/v1.0/groups/{id}',
    permissions: [Permission.writeGroups],
    handle: (ctx) => {
      this.store.deleteGroup(requireGroup(ctx).group.id);
      return { status: 204, headers: {} };
    },
  };

  private membersRoute(transitive: boolean, cast: DirectoryObjectKind | undefined, count = false): Route {
    const relation = transitive ? 'transitiveMembers' : 'members';
    const castSegment = cast ? `/microsoft.graph.${cast}` : '';
    return {
      template: `/v1.0/groups/{id}/${relation}${castSegment}${count ? '/$count' : ''}`,
      permissions: [Permission.readGroups],
      handle: (ctx) => {
        rejectOptions(ctx.query, ['$orderby', '$search', '$expand', '$skip', '$filter']);
        // A cast of transitiveMembers is an advanced query (ConsistencyLevel and $count), as
        // documented and as Graph answers; a cast of members is not. $count always is.
        if (count || (cast && transitive)) requireEventualConsistency(ctx);
        if (cast && transitive && !count && !this.countRequested(ctx))
          throw badRequest(
            'OData casts of transitiveMembers need $count=true and ConsistencyLevel: eventual.',
            'Request_UnsupportedQuery',
          );
        const group = requireGroup(ctx);
        const all = transitive
          ? this.store.transitiveMembers(group.group.id)
          : this.store.members(group.group.id);
        const members = cast ? all.filter((m) => m.kind === cast) : all;
        if (count) return textCount(members.length);
        const select = parseSelect(
          ctx.query.get('$select'),
          cast ? propertiesOf(cast) : directoryObjectProperties,
          cast ?? 'directoryObject',
        );
        const pageSize =
          parseTop(ctx.query.get('$top')) ??
          preferredPageSize(ctx.request.headers.prefer) ??
          DEFAULT_PAGE_SIZE;
        const path = ctx.request.url.split('?')[0] ?? '';
        const context = `${cast ? `${cast}s` : 'directoryObjects'}${selectSuffix(select)}`;
        return ok(
          this.page(ctx, path, context, members, pageSize, (member) =>
            directoryObjectOut(member, select, !cast),
          ),
        );
      },
    };
  }

  private readonly addMemberRoute: Route = {
    template: '/v1.0/groups/{id}/members/$ref',
    permissions: [Permission.writeMembers],
    handle: (ctx) => {
      const body = ctx.request.body as { '@odata.id'?: unknown } | undefined;
      const reference = typeof body?.['@odata.id'] === 'string' ? body['@odata.id'] : undefined;
      if (!reference)
        throw badRequest("The request body must contain '@odata.id' naming the directory object to add.");
      this.store.addMember(requireGroup(ctx).group.id, referencedId(reference));
      return { status: 204, headers: {} };
    },
  };

  private removeMemberRoute(memberId: string): Route {
    return {
      template: '/v1.0/groups/{id}/members/{memberId}/$ref',
      permissions: [Permission.writeMembers],
      handle: (ctx) => {
        this.store.removeMember(requireGroup(ctx).group.id, memberId);
        return { status: 204, headers: {} };
      },
    };
  }

  private readonly groupDeltaRoute: Route = {
    template: '/v1.0/groups/delta',
    permissions: [Permission.readGroups],
    handle: (ctx) => {
      rejectOptions(
        ctx.query,
        ['$orderby', '$search', '$top', '$count', '$skip'],
        'on groups/delta (use the Prefer: odata.maxpagesize header for the page size)',
      );
      if (ctx.query.has('$expand')) {
        // v1.0 tracks membership with $select=members; $expand=members is the beta form.
        throw badRequest(
          "The query option '$expand' is not supported on groups/delta; use $select=members.",
          'Request_UnsupportedQuery',
        );
      }
      const prefer = ctx.request.headers.prefer ?? '';
      const pageSize = preferredPageSize(prefer) ?? this.deltaPageSize;
      const result = groupDeltaPage(
        this.store,
        {
          origin: ctx.request.origin,
          select: ctx.query.get('$select'),
          filter: ctx.query.get('$filter'),
          skiptoken: ctx.query.get('$skiptoken'),
          deltatoken: ctx.query.get('$deltatoken'),
          pageSize,
          membersPerPage: this.groupDeltaMembersPerPage,
          minimal: /return\s*=\s*minimal/i.test(prefer),
        },
        (raw) => parseFilter(raw, groupProperties, 'group'),
      );
      const headers: Record<string, string> = {};
      const applied = [
        /odata\.maxpagesize/i.test(prefer) ? `odata.maxpagesize=${pageSize}` : undefined,
        /return\s*=\s*minimal/i.test(prefer) ? 'return=minimal' : undefined,
      ].filter((p): p is string => p !== undefined);
      if (applied.length > 0) headers['Preference-Applied'] = applied.join(', ');
      return { status: 200, headers, body: result.body };
    },
  };

  private memberOfRoute(transitive: boolean, cast: 'group' | undefined, count = false): Route {
    const relation = transitive ? 'transitiveMemberOf' : 'memberOf';
    return {
      template: `/v1.0/devices/{id}/${relation}${cast ? '/microsoft.graph.group' : ''}${count ? '/$count' : ''}`,
      permissions: [Permission.readDevices, Permission.readGroups],
      handle: (ctx) => {
        rejectOptions(ctx.query, ['$orderby', '$search', '$expand', '$skip', '$filter']);
        if (cast || count) requireEventualConsistency(ctx);
        if (cast && !count && !this.countRequested(ctx))
          throw badRequest(
            'OData casts on directory object collections need $count=true and ConsistencyLevel: eventual.',
            'Request_UnsupportedQuery',
          );
        const device = requireDevice(ctx);
        const groups = transitive
          ? this.store.transitiveMemberOf(device.device.id)
          : this.store.memberOfGroups(device.device.id);
        if (count) return textCount(groups.length);
        const select = parseSelect(
          ctx.query.get('$select'),
          cast ? groupProperties : directoryObjectProperties,
          cast ? 'group' : 'directoryObject',
        );
        const pageSize =
          parseTop(ctx.query.get('$top')) ??
          preferredPageSize(ctx.request.headers.prefer) ??
          DEFAULT_PAGE_SIZE;
        const path = ctx.request.url.split('?')[0] ?? '';
        return ok(
          this.page(
            ctx,
            path,
            `${cast ? 'groups' : 'directoryObjects'}${selectSuffix(select)}`,
            groups,
            pageSize,
            (g) => directoryObjectOut({ kind: 'group', id: g.group.id, record: g }, select, !cast),
          ),
        );
      },
    };
  }

  /** The ids in `members@odata.bind` (at most 20), each an existing directory object. */
  private boundMembers(body: Record<string, unknown>): string[] {
    if (body['owners@odata.bind'] !== undefined)
      throw badRequest(
        'The emulator does not keep group owners; create the group without owners@odata.bind.',
      );
    const bind = body['members@odata.bind'];
    if (bind === undefined) return [];
    if (!Array.isArray(bind) || bind.some((r) => typeof r !== 'string'))
      throw badRequest("Invalid value specified for property 'members@odata.bind' of resource 'Group'.");
    if (bind.length > MAX_BOUND)
      throw badRequest(
        `A maximum of ${MAX_BOUND} relationships, such as owners and members, can be added in one request.`,
      );
    return (bind as string[]).map((reference) => {
      const id = referencedId(reference);
      if (!this.store.directoryObject(id)) throw notFound(id);
      return id;
    });
  }

  /** One page of an in-memory collection, paged by position with `$skiptoken`. */
  private page<T>(
    ctx: RouteContext,
    path: string,
    context: string,
    items: readonly T[],
    pageSize: number,
    out: (item: T) => Record<string, unknown>,
  ): Record<string, unknown> {
    const start = this.listCursor(ctx.query.get('$skiptoken'));
    const body: Record<string, unknown> = {
      '@odata.context': `${ctx.request.origin}/v1.0/$metadata#${context}`,
    };
    if (this.countRequested(ctx)) body['@odata.count'] = items.length;
    if (start + pageSize < items.length) body['@odata.nextLink'] = nextLink(ctx, path, start + pageSize);
    body.value = items.slice(start, start + pageSize).map(out);
    return body;
  }

  // ---- $batch --------------------------------------------------------------------------------

  private readonly batchRoute: Route = {
    template: '/v1.0/$batch',
    permissions: [],
    handle: async (ctx) => {
      const parsed = batchSchema.safeParse(ctx.request.body);
      if (!parsed.success) throw badRequest('Invalid batch payload format.', 'BadRequest');
      const { requests } = parsed.data;
      if (requests.length > MAX_BATCH_REQUESTS) {
        throw badRequest(`Number of requests exceeds the limit of ${MAX_BATCH_REQUESTS}.`, 'BadRequest');
      }
      const ids = new Set<string>();
      for (const item of requests) {
        if (ids.has(item.id))
          throw badRequest(`Batch request ids must be unique; '${item.id}' is repeated.`, 'BadRequest');
        ids.add(item.id);
      }
      const statusById = new Map<string, number>();
      const responses: Record<string, unknown>[] = [];
      for (const item of requests) {
        const failedDependency = (item.dependsOn ?? []).find((dep) => {
          const status = statusById.get(dep);
          return status === undefined || status >= 400;
        });
        if (failedDependency !== undefined) {
          statusById.set(item.id, 424);
          responses.push({
            id: item.id,
            status: 424,
            headers: { 'Content-Type': 'application/json' },
            body: {
              error: {
                code: 'FailedDependency',
                message: `The dependent request '${failedDependency}' failed or is unknown.`,
              },
            },
          });
          continue;
        }
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(item.headers ?? {})) headers[name.toLowerCase()] = value;
        headers.authorization ??= ctx.request.headers.authorization;
        const relative = item.url.replace(/^\/?(v1\.0\/)?/i, '');
        const sub = await this.handle({
          method: item.method.toUpperCase(),
          url: `/v1.0/${relative}`,
          headers,
          body: item.body,
          origin: ctx.request.origin,
        });
        statusById.set(item.id, sub.status);
        const entry: Record<string, unknown> = {
          id: item.id,
          status: sub.status,
          headers: batchHeaders(sub.headers),
        };
        if (sub.body !== undefined) entry.body = sub.body;
        responses.push(entry);
      }
      return ok({ responses });
    },
  };

  // ---- helpers -------------------------------------------------------------------------------

  private deviceOut(
    record: DeviceRecord,
    select: string[] | undefined,
    expand: { relation: string; select?: string }[],
  ): Record<string, unknown> {
    const out = project(record.device, select ?? deviceProperties);
    for (const item of expand) {
      const users = this.store
        .relation(record.device.id, item.relation as DeviceRelation)
        .slice(0, MAX_EXPANDED);
      const userSelect = parseSelect(item.select ?? null, userProperties, 'user');
      out[item.relation] = users.map((u) => userOut(u, userSelect, true));
    }
    return out;
  }

  private listCursor(skiptoken: string | null): number {
    if (skiptoken === null) return 0;
    const state = decodeToken<{ o?: unknown }>(skiptoken);
    if (!state || typeof state.o !== 'number' || state.o < 0)
      throw badRequest('The $skiptoken is not valid.', 'Request_BadRequest');
    return state.o;
  }

  private anyActiveFrom(ordinal: number, filter: FilterExpression | undefined): boolean {
    for (let i = ordinal; i < this.store.deviceOrdinalCount; i++) {
      const record = this.store.deviceRecordAt(i);
      if (record?.state === 'active' && (!filter || matchesFilter(record.device, filter))) return true;
    }
    return false;
  }

  private countDevices(filter: FilterExpression | undefined): number {
    let count = 0;
    for (let i = 0; i < this.store.deviceOrdinalCount; i++) {
      const record = this.store.deviceRecordAt(i);
      if (record?.state === 'active' && (!filter || matchesFilter(record.device, filter))) count++;
    }
    return count;
  }

  private countRequested(ctx: RouteContext): boolean {
    const raw = ctx.query.get('$count');
    if (raw === null || raw.toLowerCase() === 'false') return false;
    if (raw.toLowerCase() !== 'true')
      throw badRequest(`Invalid value '${raw}' for $count; use true or false.`);
    requireEventualConsistency(ctx);
    return true;
  }
}

const batchSchema = z.object({
  requests: z.array(
    z.object({
      id: z.string().min(1),
      method: z.string().regex(/^(GET|POST|PATCH|PUT|DELETE)$/i),
      url: z.string().min(1),
      headers: z.record(z.string(), z.string()).optional(),
      body: z.unknown().optional(),
      dependsOn: z.array(z.string()).optional(),
    }),
  ),
});

function ok(body: unknown): GraphResponse {
  return { status: 200, headers: {}, body };
}

function requireDevice(ctx: RouteContext): DeviceRecord {
  if (!ctx.device) throw new Error('route without a device');
  return ctx.device;
}

function requireGroup(ctx: RouteContext): GroupRecord {
  if (!ctx.group) throw new Error('route without a group');
  return ctx.group;
}

function requireObject(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('Write requests must contain a JSON object body.');
  return body as Record<string, unknown>;
}

function duplicateMembers(): GraphError {
  return badRequest(
    "One or more added object references already exist for the following modified properties: 'members'.",
  );
}

/** The object id at the end of a reference such as https://graph.microsoft.com/v1.0/directoryObjects/{id}. */
function referencedId(reference: string): string {
  const last =
    reference
      .replace(/[?#].*$/, '')
      .replace(/\/$/, '')
      .split('/')
      .pop() ?? '';
  return decodeURIComponent(last);
}

function propertiesOf(kind: DirectoryObjectKind): readonly string[] {
  return kind === 'device' ? deviceProperties : kind === 'user' ? userProperties : groupProperties;
}

/**
 * A member in a collection of directory objects: its own type's properties (the selected ones
 * that it has), and `@odata.type` unless the collection was cast to one type.
 */
function directoryObjectOut(
  member: DirectoryObjectRecord,
  select: string[] | undefined,
  typed: boolean,
): Record<string, unknown> {
  const source =
    member.kind === 'user'
      ? member.user
      : member.kind === 'device'
        ? member.record.device
        : member.record.group;
  const own = new Set(propertiesOf(member.kind));
  const projected = project(
    source,
    select ? select.filter((p) => own.has(p)) : defaultPropertiesOf[member.kind],
  );
  return typed ? { '@odata.type': odataType[member.kind], ...projected } : projected;
}

function textCount(count: number): GraphResponse {
  return { status: 200, headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body: String(count) };
}

function requireRoles(claims: AccessTokenClaims, anyOf: PermissionSet): void {
  if (!anyOf.some((role) => claims.roles.includes(role))) {
    throw new GraphError(
      403,
      'Authorization_RequestDenied',
      'Insufficient privileges to complete the operation.',
    );
  }
}

/** Graph needs `ConsistencyLevel: eventual` for $count on directory objects. */
function requireEventualConsistency(ctx: RouteContext): void {
  if ((ctx.request.headers.consistencylevel ?? '').toLowerCase() !== 'eventual') {
    throw badRequest(
      "$count is only supported with the 'ConsistencyLevel: eventual' request header.",
      'Request_UnsupportedQuery',
    );
  }
}

function rejectOptions(query: URLSearchParams, options: string[], where = ''): void {
  for (const option of options) {
    if (query.has(option)) {
      throw badRequest(
        `The query option '${option}' is not supported${where ? ` ${where}` : ''}.`,
        'Request_UnsupportedQuery',
      );
    }
  }
}

function selectSuffix(select: string[] | undefined): string {
  return select ? `(${select.join(',')})` : '';
}

function userOut(user: EmulatedUser, select: string[] | undefined, typed: boolean): Record<string, unknown> {
  const projected = project(user, select ?? defaultUserProperties);
  return typed ? { '@odata.type': '#microsoft.graph.user', ...projected } : projected;
}

/** The same request with a new `$skiptoken` (other query options kept, as Graph's links do). */
function nextLink(ctx: RouteContext, path: string, ordinal: number): string {
  const params: [string, string][] = [];
  for (const [key, value] of ctx.query) if (key !== '$skiptoken') params.push([key, value]);
  params.push(['$skiptoken', encodeToken({ o: ordinal })]);
  return `${ctx.request.origin}${path}${buildQuery(params)}`;
}

function batchHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'x-ms-ags-diagnostic') continue;
    out[name] = value;
  }
  return out;
}
