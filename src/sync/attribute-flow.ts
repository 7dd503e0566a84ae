// The sync rule's attribute flow (SPEC §2): a Graph device and its registered owners/users become
// the desired msDS-Device object, every value already in the exact form AD stores and returns, so
// that desired and actual compare byte for byte. A value that cannot be converted quarantines the
// device with a stable code; attributes the schema lacks are simply not written.
import { createHash } from 'node:crypto';
import { DEVICE_ATTRIBUTES } from '../ad/device-attributes.js';
import { cloudAnchor, type AdValues } from '../ad/device-object.js';
import type { AttributeSchema, SchemaCapabilities } from '../ad/discovery.js';
import { toFileTime } from '../ad/filetime.js';
import { guidToBytes, isGuid } from '../ad/guid.js';
import { sidToBytes } from '../ad/sid.js';
import { DEVICE_KEY_TYPE, decodeDeviceKey } from '../entra/device-key.js';
import type { CloudDevice, DeviceRelations } from '../entra/types.js';

export interface DesiredObject {
  /** Lower-case GUID; also the CN. */
  deviceId: string;
  graphId: string;
  displayName: string;
  values: AdValues;
}

export type FlowResult =
  { ok: true; object: DesiredObject } | { ok: false; code: DeviceErrorCode; message: string };

/** Per-device error codes (stable; shown in sync output, status and the console). */
export const deviceErrorCatalog = {
  DWB_DEVICE_BAD_ID: 'the deviceId is not a GUID, so it cannot become msDS-DeviceID or the CN',
  DWB_DEVICE_NO_KEY:
    'no alternativeSecurityIds key of type 2: altSecurityIdentities (required by msDS-Device) cannot be written',
  DWB_DEVICE_BAD_KEY:
    'a type-2 key is not base64 of UTF-16LE "X509:<SHA1-TP-PUBKEY>" + 40 hex + base64 SHA-256',
  DWB_DEVICE_BAD_SID: "a registered owner's or user's onPremisesSecurityIdentifier is not a SID",
  DWB_DEVICE_VALUE_TOO_LONG: "a value is longer than the schema's rangeUpper (displayName: 256 characters)",
  DWB_DEVICE_MISSING_VALUE: 'a value msDS-Device requires (displayName, accountEnabled) is missing',
  DWB_DEVICE_BAD_VALUE: 'a value cannot be converted (NUL character, bad date, number out of range)',
  DWB_DEVICE_INVALID: 'Graph returned a device record that failed validation',
  DWB_DEVICE_CONFLICT:
    'CN=<deviceId> is taken by an object device-writeback did not write (see sync --adopt)',
  DWB_DEVICE_WRITE_FAILED:
    'the domain controller refused the add, modify or delete of this one object (LDAP code in the message)',
} as const;

export type DeviceErrorCode = keyof typeof deviceErrorCatalog;

/** msDS-DeviceTrustType: 0 workplace-joined (registered), 1 Entra-joined, 2 hybrid (domain) joined. */
const TRUST_TYPE_VALUES: Record<string, number> = { workplace: 0, azuread: 1, serverad: 2 };

class FlowError extends Error {
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function checkLength(schema: SchemaCapabilities, attribute: string, value: string): void {
  const def: AttributeSchema | undefined = schema.attributes.get(attribute.toLowerCase());
  const upper = def?.rangeUpper;
  const length = [...value].length;
  if (upper !== undefined && length > upper) {
    throw new FlowError(
      'DWB_DEVICE_VALUE_TOO_LONG',
      `${attribute} is ${length} characters long; the schema allows at most ${upper}`,
    );
  }
  const lower = def?.rangeLower;
  if (lower !== undefined && length < lower) {
    throw new FlowError(
      'DWB_DEVICE_BAD_VALUE',
      `${attribute} is ${length} characters long; the schema requires at least ${lower}`,
    );
  }
}

function text(schema: SchemaCapabilities, attribute: string, value: string): Buffer {
  if (value.includes('\u0000'))
    throw new FlowError('DWB_DEVICE_BAD_VALUE', `${attribute} contains a NUL character`);
  checkLength(schema, attribute, value);
  return Buffer.from(value, 'utf8');
}

const bool = (v: boolean): Buffer => Buffer.from(v ? 'TRUE' : 'FALSE');

function sid(value: string, role: string): Buffer {
  try {
    return sidToBytes(value);
  } catch {
    throw new FlowError(
      'DWB_DEVICE_BAD_SID',
      `the ${role}'s onPremisesSecurityIdentifier ${JSON.stringify(value)} is not a SID`,
    );
  }
}

/** Computes the desired msDS-Device for a device, or why it cannot be written. */
export function desiredObject(
  device: CloudDevice,
  relations: DeviceRelations | null,
  schema: SchemaCapabilities,
): FlowResult {
  try {
    return { ok: true, object: build(device, relations, schema) };
  } catch (err) {
    if (err instanceof FlowError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'DWB_DEVICE_INVALID', message: (err as Error).message };
  }
}

function build(
  device: CloudDevice,
  relations: DeviceRelations | null,
  schema: SchemaCapabilities,
): DesiredObject {
  if (typeof device.deviceId !== 'string' || !isGuid(device.deviceId)) {
    throw new FlowError('DWB_DEVICE_BAD_ID', `deviceId ${JSON.stringify(device.deviceId)} is not a GUID`);
  }
  const deviceId = device.deviceId.replace(/[{}]/g, '').toLowerCase();
  const values: AdValues = new Map();
  const put = (attribute: string, v: Buffer[] | undefined): void => {
    if (!v || v.length === 0) return;
    if (!schema.has(attribute)) return; // not in this forest's schema: skipped, reported once by `check`
    values.set(attribute, v);
  };

  put('msDS-DeviceID', [guidToBytes(deviceId)]);

  const displayName = device.displayName ?? '';
  if (displayName.trim() === '')
    throw new FlowError('DWB_DEVICE_MISSING_VALUE', 'displayName is empty; msDS-Device requires one');
  put('displayName', [text(schema, 'displayName', displayName)]);

  if (typeof device.accountEnabled !== 'boolean') {
    throw new FlowError('DWB_DEVICE_MISSING_VALUE', 'accountEnabled is missing; msDS-IsEnabled is required');
  }
  put('msDS-IsEnabled', [bool(device.accountEnabled)]);

  const keys = (device.alternativeSecurityIds ?? []).filter((k) => k.type === DEVICE_KEY_TYPE);
  if (keys.length === 0) {
    throw new FlowError(
      'DWB_DEVICE_NO_KEY',
      'the device has no alternativeSecurityIds key of type 2, so altSecurityIdentities (required) cannot be written',
    );
  }
  const identities = keys.map((k, i) => {
    try {
      return decodeDeviceKey(k.key);
    } catch (err) {
      throw new FlowError('DWB_DEVICE_BAD_KEY', `alternativeSecurityIds[${i}]: ${(err as Error).message}`);
    }
  });
  put(
    'altSecurityIdentities',
    [...new Set(identities)].map((v) => text(schema, 'altSecurityIdentities', v)),
  );

  if (device.operatingSystem)
    put('msDS-DeviceOSType', [text(schema, 'msDS-DeviceOSType', device.operatingSystem)]);
  if (device.operatingSystemVersion)
    put('msDS-DeviceOSVersion', [text(schema, 'msDS-DeviceOSVersion', device.operatingSystemVersion)]);
  const physicalIds = [...new Set((device.physicalIds ?? []).filter((p) => p !== ''))];
  put(
    'msDS-DevicePhysicalIDs',
    physicalIds.map((p) => text(schema, 'msDS-DevicePhysicalIDs', p)),
  );
  if (typeof device.isManaged === 'boolean') put('msDS-IsManaged', [bool(device.isManaged)]);
  if (typeof device.isCompliant === 'boolean') put('msDS-IsCompliant', [bool(device.isCompliant)]);
  if (device.trustType) {
    const trust = TRUST_TYPE_VALUES[device.trustType.toLowerCase()];
    if (trust !== undefined) put('msDS-DeviceTrustType', [Buffer.from(String(trust))]);
  }
  if (typeof device.deviceVersion === 'number') {
    if (!Number.isInteger(device.deviceVersion) || Math.abs(device.deviceVersion) > 0x7fffffff) {
      throw new FlowError(
        'DWB_DEVICE_BAD_VALUE',
        `deviceVersion ${device.deviceVersion} is not a 32-bit integer`,
      );
    }
    put('msDS-DeviceObjectVersion', [Buffer.from(String(device.deviceVersion))]);
  }
  if (device.approximateLastSignInDateTime) {
    let filetime: string;
    try {
      filetime = toFileTime(device.approximateLastSignInDateTime);
    } catch (err) {
      throw new FlowError('DWB_DEVICE_BAD_VALUE', `approximateLastSignInDateTime: ${(err as Error).message}`);
    }
    put('msDS-ApproximateLastLogonTimeStamp', [Buffer.from(filetime)]);
  }
  if (relations) {
    const ownerSids = relations.registeredOwners
      .map((o) => o.onPremisesSecurityIdentifier)
      .filter((s): s is string => typeof s === 'string' && s !== '');
    if (ownerSids[0]) put('msDS-RegisteredOwner', [sid(ownerSids[0], 'registered owner')]);
    const userSids = [
      ...new Set(
        relations.registeredUsers
          .map((u) => u.onPremisesSecurityIdentifier)
          .filter((s): s is string => typeof s === 'string' && s !== '')
          .map((s) => s.toUpperCase()),
      ),
    ];
    put(
      'msDS-RegisteredUsers',
      userSids.map((s) => sid(s, 'registered user')),
    );
  }
  put('msDS-CloudAnchor', [cloudAnchor(device.id)]);
  return { deviceId, graphId: device.id, displayName, values };
}

/** Canonical fingerprint of a set of AD values (order of multi-values ignored). */
export function valuesHash(values: AdValues): string {
  const h = createHash('sha256');
  for (const attribute of DEVICE_ATTRIBUTES) {
    const v = values.get(attribute);
    if (!v || v.length === 0) continue;
    h.update(attribute.toLowerCase());
    h.update('\u0000');
    for (const hex of v.map((b) => b.toString('hex')).sort()) {
      h.update(hex);
      h.update(',');
    }
    h.update('\n');
  }
  return h.digest('base64url');
}
