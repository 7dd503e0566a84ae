// What the connector accepts from Microsoft Graph, as zod schemas: pages strictly enough to follow
// them safely, and each device on its own, so that one malformed device is quarantined with the
// reason while the rest of the page goes on. Unknown extra properties are ignored.
import { z } from 'zod';
import type { AlternativeSecurityId, DeviceChange, DevicePrincipal, PartialCloudDevice } from './types.js';

/** The device properties SPEC §2 needs, and nothing else: what `$select` asks Graph for. */
export const deviceProperties = [
  'id',
  'deviceId',
  'displayName',
  'accountEnabled',
  'operatingSystem',
  'operatingSystemVersion',
  'trustType',
  'isManaged',
  'isCompliant',
  'deviceVersion',
  'approximateLastSignInDateTime',
  'physicalIds',
  'alternativeSecurityIds',
] as const;

/** What is read of a registered owner or user; `onPremisesSecurityIdentifier` only comes when selected. */
export const principalProperties = ['id', 'userPrincipalName', 'onPremisesSecurityIdentifier'] as const;

// The base64 alphabet only, padding not enforced: Microsoft's own device: delta example carries the
// key "base64Y3YxN2E1MWFlYw==" (22 characters). Decoding the key is the planner's job (SPEC §2).
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const nullableString = z.string().nullable();
const nullableBoolean = z.boolean().nullable();

const alternativeSecurityIdSchema = z.object({
  type: z.number().int(),
  identityProvider: z
    .string()
    .nullable()
    .optional()
    .transform((v) => v ?? null),
  key: z.string().regex(BASE64, 'expected base64 (Edm.Binary)'),
});

/** A device as it arrives: every property but `id` may be absent (delta pages send what changed). */
const deviceSchema = z.object({
  id: z.string().min(1),
  deviceId: z.string().min(1).optional(),
  displayName: nullableString.optional(),
  accountEnabled: nullableBoolean.optional(),
  operatingSystem: nullableString.optional(),
  operatingSystemVersion: nullableString.optional(),
  trustType: nullableString.optional(),
  isManaged: nullableBoolean.optional(),
  isCompliant: nullableBoolean.optional(),
  deviceVersion: z.number().int().nullable().optional(),
  approximateLastSignInDateTime: z
    .string()
    .refine((v) => !Number.isNaN(Date.parse(v)), 'expected an ISO 8601 date-time')
    .nullable()
    .optional(),
  // Graph documents both collections as not nullable; a null is read as "none".
  physicalIds: z
    .array(z.string())
    .nullable()
    .optional()
    .transform((v) => (v === undefined ? undefined : (v ?? []))),
  alternativeSecurityIds: z
    .array(alternativeSecurityIdSchema)
    .nullable()
    .optional()
    .transform((v) => (v === undefined ? undefined : (v ?? []))),
});

const removedSchema = z.object({
  id: z.string().min(1),
  '@removed': z.object({ reason: z.string().optional() }).loose(),
});

/** One delta (or list) page; its items are validated one by one afterwards. */
export const pageSchema = z
  .object({
    value: z.array(z.unknown()),
    '@odata.nextLink': z.string().optional(),
    '@odata.deltaLink': z.string().optional(),
  })
  .loose();

export const principalSchema = z
  .object({
    '@odata.type': z.string().optional(),
    id: z.string().min(1),
    userPrincipalName: z.string().nullable().optional(),
    onPremisesSecurityIdentifier: z.string().nullable().optional(),
  })
  .loose();

export const principalPageSchema = z.object({
  value: z.array(principalSchema),
  '@odata.nextLink': z.string().optional(),
});

export const batchResponseSchema = z.object({
  responses: z.array(
    z.object({
      id: z.string(),
      status: z.number().int(),
      headers: z.record(z.string(), z.unknown()).optional(),
      body: z.unknown().optional(),
    }),
  ),
});

/** One item of a delta page: a change, a removal, or a device that failed validation. */
export function toDeviceChange(item: unknown): DeviceChange {
  const record =
    typeof item === 'object' && item !== null && !Array.isArray(item)
      ? (item as Record<string, unknown>)
      : undefined;
  const id = typeof record?.id === 'string' && record.id !== '' ? record.id : undefined;
  const deviceId = typeof record?.deviceId === 'string' ? record.deviceId : undefined;
  if (record && '@removed' in record) {
    const removed = removedSchema.safeParse(record);
    if (!removed.success) return invalid(id, deviceId, removed.error);
    const reason = removed.data['@removed'].reason === 'changed' ? 'changed' : 'deleted';
    return { kind: 'removed', id: removed.data.id, reason };
  }
  const fast = record ? commonDevice(record) : undefined;
  if (fast) return { kind: 'upsert', device: fast };
  return deviceBySchema(item, id, deviceId);
}

/** toDeviceChange for a device without its fast path: deviceSchema decides (exported for its test). */
export function deviceBySchema(item: unknown, id?: string, deviceId?: string): DeviceChange {
  const parsed = deviceSchema.safeParse(item);
  if (!parsed.success) return invalid(id, deviceId, parsed.error);
  const device: PartialCloudDevice = { id: parsed.data.id };
  // Copy only what Graph sent: an absent property must stay absent so the engine keeps its last value.
  for (const [key, value] of Object.entries(parsed.data)) {
    if (value !== undefined) (device as unknown as Record<string, unknown>)[key] = value;
  }
  return { kind: 'upsert', device };
}

const NULLABLE_STRINGS = ['displayName', 'operatingSystem', 'operatingSystemVersion', 'trustType'] as const;
const NULLABLE_BOOLEANS = ['accountEnabled', 'isManaged', 'isCompliant'] as const;

/**
 * The fast path of toDeviceChange: a device of the usual shape, checked by hand without the
 * allocations of a schema parse (a full read validates every device of the tenant). It accepts
 * only what deviceSchema accepts and returns what it would return (a test holds them to that);
 * anything else, valid or not, returns undefined and goes through deviceSchema, which also
 * explains what is wrong.
 */
export function commonDevice(record: Record<string, unknown>): PartialCloudDevice | undefined {
  const { id, deviceId } = record;
  if (typeof id !== 'string' || id === '') return undefined;
  const device: PartialCloudDevice = { id };
  if (deviceId !== undefined) {
    if (typeof deviceId !== 'string' || deviceId === '') return undefined;
    device.deviceId = deviceId;
  }
  for (const key of NULLABLE_STRINGS) {
    const v = record[key];
    if (v === undefined) continue;
    if (v !== null && typeof v !== 'string') return undefined;
    device[key] = v;
  }
  for (const key of NULLABLE_BOOLEANS) {
    const v = record[key];
    if (v === undefined) continue;
    if (v !== null && typeof v !== 'boolean') return undefined;
    device[key] = v;
  }
  const {
    deviceVersion,
    approximateLastSignInDateTime: signIn,
    physicalIds,
    alternativeSecurityIds,
  } = record;
  if (deviceVersion !== undefined) {
    if (deviceVersion !== null && !Number.isSafeInteger(deviceVersion)) return undefined;
    device.deviceVersion = deviceVersion as number | null;
  }
  if (signIn !== undefined) {
    if (signIn !== null && (typeof signIn !== 'string' || Number.isNaN(Date.parse(signIn)))) return undefined;
    device.approximateLastSignInDateTime = signIn;
  }
  if (physicalIds !== undefined) {
    if (physicalIds === null) device.physicalIds = [];
    else if (!Array.isArray(physicalIds) || !physicalIds.every((x) => typeof x === 'string'))
      return undefined;
    else device.physicalIds = physicalIds as string[];
  }
  if (alternativeSecurityIds !== undefined) {
    if (alternativeSecurityIds === null) device.alternativeSecurityIds = [];
    else if (!Array.isArray(alternativeSecurityIds)) return undefined;
    else {
      const out: AlternativeSecurityId[] = [];
      for (const entry of alternativeSecurityIds as unknown[]) {
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return undefined;
        const { type, identityProvider, key } = entry as Record<string, unknown>;
        if (!Number.isSafeInteger(type)) return undefined;
        if (
          identityProvider !== undefined &&
          identityProvider !== null &&
          typeof identityProvider !== 'string'
        )
          return undefined;
        if (typeof key !== 'string' || !BASE64.test(key)) return undefined;
        out.push({ type: type as number, identityProvider: identityProvider ?? null, key });
      }
      device.alternativeSecurityIds = out;
    }
  }
  return device;
}

export function toPrincipal(raw: z.infer<typeof principalSchema>): DevicePrincipal {
  return {
    id: raw.id,
    userPrincipalName: raw.userPrincipalName ?? null,
    onPremisesSecurityIdentifier: raw.onPremisesSecurityIdentifier ?? null,
  };
}

function invalid(id: string | undefined, deviceId: string | undefined, error: z.ZodError): DeviceChange {
  const change: DeviceChange = { kind: 'invalid', reason: describeIssues(error) };
  if (id !== undefined) change.id = id;
  if (deviceId !== undefined) change.deviceId = deviceId;
  return change;
}

/** "alternativeSecurityIds[0].key: expected base64" — paths and expectations, never the values. */
export function describeIssues(error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((issue) => {
    const where = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
      .join('');
    return `${where || '(device)'}: ${issue.message}`;
  });
  if (error.issues.length > 5) lines.push(`and ${error.issues.length - 5} more`);
  return lines.join('; ');
}
