// ad.device-location: the Device Registration Service's msDS-DeviceLocation has a value and names an
// existing msDS-DeviceContainer (where AD FS looks for devices, and where devices are written).
import { dnEquals, dnToDomain, domainToDn } from '../ad/dn.js';
import { deviceContainerDn } from '../ad/discovery.js';
import {
  adSession,
  deviceRegistration,
  hasObjectClass,
  mostSpecificClass,
  requireDeviceSchema,
} from './ad-context.js';
import { CheckSkipped, fail, pass, runInitAd, warn } from './support.js';
import type { Check } from './types.js';

export const adDeviceLocation: Check = {
  id: 'ad.device-location',
  title: 'msDS-DeviceLocation names an existing msDS-DeviceContainer',
  async run(ctx) {
    await requireDeviceSchema(ctx);
    const { conn } = await adSession(ctx);
    const { serviceDn, service, location } = await deviceRegistration(ctx);
    if (!service) throw new CheckSkipped(`no Device Registration Service object (see ad.drs-object)`);
    // msDS-DeviceLocation is system-only: it is set when the object is created and cannot be rewritten.
    const recreate = `Delete ${serviceDn} as an enterprise admin (note any AD FS device registration settings on it first), then: ${runInitAd(ctx)}`;
    if (!location) return fail(`msDS-DeviceLocation of ${serviceDn} is empty`, recreate, 'DWB_AD_DRS_BROKEN');
    const target = await conn.read(location, ['objectClass']);
    if (!target) {
      return fail(
        /\\0ADEL:/i.test(location)
          ? `msDS-DeviceLocation names a deleted object (${location}): the device container was deleted`
          : `msDS-DeviceLocation names ${location}, which does not exist (or the connector cannot read it)`,
        recreate,
        'DWB_AD_DRS_BROKEN',
      );
    }
    if (!hasObjectClass(target, 'msDS-DeviceContainer')) {
      return fail(
        `msDS-DeviceLocation names ${location}, which is a ${mostSpecificClass(target)}, not an msDS-DeviceContainer`,
        recreate,
        'DWB_AD_DRS_BROKEN',
      );
    }
    const configured = ctx.forest.ad.domain ? deviceContainerDn(domainToDn(ctx.forest.ad.domain)) : undefined;
    if (configured && !dnEquals(configured, location)) {
      return warn(
        `msDS-DeviceLocation names ${location} (an msDS-DeviceContainer), but ad.domain is ${ctx.forest.ad.domain}; devices are written to ${location}, where AD FS looks`,
        `Set ad.domain to ${dnToDomain(location)} (or remove it) so that the configuration says where devices go.`,
        'DWB_AD_DEVICE_LOCATION_MISMATCH',
      );
    }
    return pass(`msDS-DeviceLocation = ${location} (msDS-DeviceContainer)`);
  },
};
