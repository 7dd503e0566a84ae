// An msDS-Device object as the AD connector hands it over: its DN and CN, and the managed
// attributes of SPEC §2 as the exact bytes AD holds, so that desired and actual values compare byte
// for byte. Also the anchor that marks an object as written by this product.
import { bufs, str, type AdEntry } from './connection.js';
import { DEVICE_ATTRIBUTES } from './device-attributes.js';
import { bytesToGuid } from './guid.js';

/** Attribute name -> values, each value as the bytes AD holds. Absent attribute = no values. */
export type AdValues = Map<string, Buffer[]>;

/** An object found in the device container. */
export interface ActualObject {
  dn: string;
  /** The CN (for our objects, the deviceId). */
  cn: string;
  /** Managed attributes as AD returned them. */
  values: AdValues;
  objectGuid?: string;
}

export interface AttributeChange {
  operation: 'replace' | 'delete';
  attribute: string;
  values: Buffer[];
}

/** What to read of a device object: its names and every managed attribute. */
export const DEVICE_READ_ATTRIBUTES: readonly string[] = ['cn', 'objectGUID', ...DEVICE_ATTRIBUTES];

export function toActualObject(entry: AdEntry): ActualObject {
  const values: AdValues = new Map();
  for (const attribute of DEVICE_ATTRIBUTES) {
    const v = bufs(entry, attribute);
    if (v.length > 0) values.set(attribute, v);
  }
  const guid = bufs(entry, 'objectGUID')[0];
  return {
    dn: entry.dn,
    cn: str(entry, 'cn') ?? '',
    values,
    objectGuid: guid && guid.length === 16 ? bytesToGuid(guid) : undefined,
  };
}

const ANCHOR_PREFIX = 'Device_';

/** The msDS-CloudAnchor this product writes: the UTF-8 bytes of `Device_<Graph object id>`. */
export function cloudAnchor(graphId: string): Buffer {
  return Buffer.from(`${ANCHOR_PREFIX}${graphId}`, 'utf8');
}

/** True when an msDS-CloudAnchor value is one this product writes. */
export function isProductAnchor(value: Buffer | undefined): boolean {
  if (!value) return false;
  return /^Device_[0-9A-Za-z-]{1,64}$/.test(value.toString('utf8'));
}

/** True when the object carries this product's anchor: only such objects are updated or deleted. */
export function isManaged(actual: ActualObject): boolean {
  return isProductAnchor(actual.values.get('msDS-CloudAnchor')?.[0]);
}
