// What is in the device container, managed or not: the seed's "Verify" step (Active Directory
// Administrative Center > RegisteredDevices) as data, for `devices` and the console.
import { str, buf, type AdConnection } from './connection.js';
import { bytesToGuid } from './guid.js';
import { escapeFilterValue } from './filter.js';
import { isProductAnchor } from './device-object.js';

export interface ContainerDevice {
  dn: string;
  deviceId: string | null;
  displayName: string | null;
  enabled: boolean | null;
  osType: string | null;
  osVersion: string | null;
  managed: boolean;
}

const ATTRIBUTES = [
  'cn',
  'msDS-DeviceID',
  'displayName',
  'msDS-IsEnabled',
  'msDS-DeviceOSType',
  'msDS-DeviceOSVersion',
  'msDS-CloudAnchor',
];

/** A search filter matching `text` in the display name, the CN (deviceId) or the OS. */
export function deviceSearchFilter(text: string | undefined): string {
  if (!text) return '(objectClass=msDS-Device)';
  const v = escapeFilterValue(text);
  return `(&(objectClass=msDS-Device)(|(displayName=*${v}*)(cn=*${v}*)(msDS-DeviceOSType=*${v}*)))`;
}

export async function listContainer(
  conn: AdConnection,
  containerDn: string,
  search?: string,
): Promise<ContainerDevice[]> {
  const out: ContainerDevice[] = [];
  for await (const page of conn.searchPages(containerDn, {
    scope: 'one',
    filter: deviceSearchFilter(search),
    attributes: ATTRIBUTES,
    pageSize: 1000,
  })) {
    for (const e of page) {
      const id = buf(e, 'msDS-DeviceID');
      const enabled = str(e, 'msDS-IsEnabled');
      out.push({
        dn: e.dn,
        deviceId: id && id.length === 16 ? bytesToGuid(id) : null,
        displayName: str(e, 'displayName') ?? null,
        enabled: enabled === undefined ? null : enabled.toUpperCase() === 'TRUE',
        osType: str(e, 'msDS-DeviceOSType') ?? null,
        osVersion: str(e, 'msDS-DeviceOSVersion') ?? null,
        managed: isProductAnchor(buf(e, 'msDS-CloudAnchor')),
      });
    }
  }
  out.sort((a, b) => (a.displayName ?? '').localeCompare(b.displayName ?? ''));
  return out;
}
