// A connected schema for unit tests: every attribute of the SPEC §2 table (ad/device-attributes.ts),
// with the range limits a 2012 R2 Samba DC reports, minus those a test says are missing.
import { DEVICE_ATTRIBUTES } from '../../src/ad/device-attributes.js';
import type { AttributeSchema, SchemaCapabilities } from '../../src/ad/discovery.js';

const LIMITS: Record<string, Partial<AttributeSchema>> = {
  displayName: { rangeUpper: 256 },
  'msDS-DeviceOSType': { rangeUpper: 1024 },
  'msDS-DeviceOSVersion': { rangeUpper: 512 },
  'msDS-DevicePhysicalIDs': { rangeLower: 1, rangeUpper: 1024 },
};

export function fakeSchema(missing: string[] = []): SchemaCapabilities {
  const names = DEVICE_ATTRIBUTES.filter((n) => !missing.includes(n));
  const attributes = new Map(
    names.map((n) => [
      n.toLowerCase(),
      { name: n, syntax: '', singleValued: true, ...LIMITS[n] } as AttributeSchema,
    ]),
  );
  return {
    classes: { 'msDS-Device': true, 'msDS-DeviceContainer': true, 'msDS-DeviceRegistrationService': true },
    attributes,
    hasDeviceClasses: true,
    missingOptionalAttributes: missing,
    has: (a) => attributes.has(a.toLowerCase()),
  };
}
