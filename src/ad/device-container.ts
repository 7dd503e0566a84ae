// Finds the device container the engine writes to: the forest's DeviceRegistrationService object
// names it in msDS-DeviceLocation (that is where AD FS looks); without one, CN=RegisteredDevices in
// ad.domain (or the connector's own domain). Also checks the schema has the device classes.
import type { AdConfig } from '../config/load.js';
import { DwbError, causeText } from '../errors.js';
import { logger } from '../log.js';
import { type AdConnection, str, strs } from './connection.js';
import {
  deviceContainerDn,
  deviceRegistrationDns,
  discoverSchema,
  readRootDse,
  type RootDse,
  type SchemaCapabilities,
} from './discovery.js';
import { dnEquals, domainToDn } from './dn.js';

/** The container devices are written to, and what the forest's schema can hold. */
export interface DeviceContainer {
  containerDn: string;
  schema: SchemaCapabilities;
}

export interface LocatedDeviceContainer extends DeviceContainer {
  rootDse: RootDse;
  /** Where the container DN came from. */
  source: 'msDS-DeviceLocation' | 'ad.domain' | 'default naming context';
}

export async function locateDeviceContainer(
  conn: AdConnection,
  ad: Pick<AdConfig, 'domain'>,
): Promise<LocatedDeviceContainer> {
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
  // Only "no such object" means there is no service object; anything else (access denied, a DC
  // that stopped answering) is an error, never a silent fall-back to ad.domain.
  let service;
  try {
    service = await conn.read(drs.service, ['msDS-DeviceLocation']);
  } catch (err) {
    throw new DwbError(
      'DWB_AD_OPERATION_FAILED',
      `cannot read the Device Registration Service object ${drs.service}: ${causeText(err)}`,
      { cause: err },
    );
  }
  const location = service ? str(service, 'msDS-DeviceLocation') : undefined;
  const configured = ad.domain ? deviceContainerDn(domainToDn(ad.domain)) : undefined;
  let containerDn: string;
  let source: LocatedDeviceContainer['source'];
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
