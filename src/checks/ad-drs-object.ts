// ad.drs-object: CN=DeviceRegistrationService,CN=Device Registration Services,CN=Device Registration
// Configuration,CN=Services,<configuration NC> exists and is an msDS-DeviceRegistrationService.
import { deviceRegistration, hasObjectClass, mostSpecificClass, requireDeviceSchema } from './ad-context.js';
import { fail, pass, runInitAd } from './support.js';
import type { Check } from './types.js';

export const adDrsObject: Check = {
  id: 'ad.drs-object',
  title: 'Device Registration Service object in the configuration partition',
  async run(ctx) {
    await requireDeviceSchema(ctx);
    const { serviceDn, service } = await deviceRegistration(ctx);
    if (!service) {
      return fail(
        `${serviceDn} does not exist (or the connector cannot read it)`,
        runInitAd(ctx),
        'DWB_AD_DRS_MISSING',
      );
    }
    if (!hasObjectClass(service, 'msDS-DeviceRegistrationService')) {
      return fail(
        `${serviceDn} is a ${mostSpecificClass(service)}, not an msDS-DeviceRegistrationService`,
        `Delete ${serviceDn} (it is not a device registration service), then: ${runInitAd(ctx)}`,
        'DWB_AD_OBJECT_CONFLICT',
      );
    }
    return pass(`found ${serviceDn}`);
  },
};
