// Finds the device container the engine writes to: the forest's DeviceRegistrationService object
// names it in msDS-DeviceLocation (that is where AD FS looks); without one, CN=RegisteredDevices in
// ad.domain (or the connector's own domain). Also checks the schema has the device classes.
import { type AdConnection, str, strs } from '../ad/connection.js';
import {
  deviceContainerDn,
  deviceRegistrationDns,
  discoverSchema,
  readRootDse,
  type RootDse,
} from '../ad/discovery.js';
import { dnEquals, domainToDn } from '../ad/dn.js';
import type { AdConfig } from '../config/load.js';
import { DwbError } from '../errors.js';
import { logger } from '../log.js';
import type { TargetInfo } from './engine.js';

export interface ResolvedTarget extends TargetInfo {
  rootDse: RootDse;
  /** Where the container DN came from. */
  source: 'msDS-DeviceLocation' | 'ad.domain' | 'default naming context';
}

export async function resolveTarget(conn: AdConnection, ad: AdConfig): Promise<ResolvedTarget> {
  const rootDse = await readRootDse(conn);
  const schema = await discoverSchema(conn, rootDse.schemaNamingContext);
  if (!schema.hasDeviceClasses) {
    throw new DwbError(
      'DWB_AD_SCHEMA_TOO_OLD',
      `the forest schema has no ${Object.entries(schema.classes)
        .filter(([, ok]) => !ok)
        .map(([c]) => c)
        .join(', ')} class: device writeback needs the Windows Server 2012 R2 schema or later.`,
    );
  }
  const drs = deviceRegistrationDns(rootDse.configurationNamingContext);
  const service = await conn.read(drs.service, ['msDS-DeviceLocation']).catch(() => undefined);
  const location = service ? str(service, 'msDS-DeviceLocation') : undefined;
  const configured = ad.domain ? deviceContainerDn(domainToDn(ad.domain)) : undefined;
  let containerDn: string;
  let source: ResolvedTarget['source'];
  if (location) {
    containerDn = location;
    source = 'msDS-DeviceLocation';
    if (configured && !dnEquals(configured, location)) {
      logger().warn(
        { configured, location },
        `ad.domain points at ${configured}, but the forest's DeviceRegistrationService names ${location}; writing to ${location}, where AD FS looks.`,
      );
    }
  } else if (configured) {
    containerDn = configured;
    source = 'ad.domain';
  } else {
    containerDn = deviceContainerDn(rootDse.defaultNamingContext);
    source = 'default naming context';
  }
  const container = await conn.read(containerDn, ['objectClass']);
  if (!container) {
    throw new DwbError(
      'DWB_AD_CONTAINER_MISSING',
      `the device container ${containerDn} does not exist (or the connector cannot read it).`,
    );
  }
  if (!strs(container, 'objectClass').some((c) => c.toLowerCase() === 'msds-devicecontainer')) {
    throw new DwbError(
      'DWB_AD_CONTAINER_MISSING',
      `${containerDn} exists but is not an msDS-DeviceContainer.`,
      {
        fix: 'Point msDS-DeviceLocation at an msDS-DeviceContainer: run `device-writeback check` for details and `device-writeback init-ad` to repair.',
      },
    );
  }
  return { rootDse, schema, containerDn: container.dn || containerDn, source };
}
