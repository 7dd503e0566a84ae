// ad.stale-cleanup: the Device Registration Service's msDS-MaximumRegistrationInactivityPeriod is 0.
// When it is N > 0, AD FS's device registration service deletes every msDS-Device that has not
// signed in for N days ([MS-DVRE] 3.1.5 StaleDeviceCleanup) — devices this product wrote included —
// and the next full reconcile writes them again, in a loop.
import {
  INACTIVITY_PERIOD_ATTRIBUTE,
  inactivityDays,
  staleCleanupEffect,
} from '../ad/registration-service.js';
import { deviceRegistration, requireDeviceSchema } from './ad-context.js';
import { CheckSkipped, pass, runInitAd, warn } from './support.js';
import type { Check } from './types.js';

export const adStaleCleanup: Check = {
  id: 'ad.stale-cleanup',
  title: "AD FS's stale-device cleanup leaves written devices alone",
  async run(ctx) {
    await requireDeviceSchema(ctx);
    const { serviceDn, service, settings } = await deviceRegistration(ctx);
    if (!service || !settings)
      throw new CheckSkipped('no Device Registration Service object (see ad.drs-object)');
    const fix = `${runInitAd(ctx)} — it sets ${INACTIVITY_PERIOD_ATTRIBUTE} to 0. (On an AD FS server, Set-AdfsDeviceRegistration -MaximumInactiveDays 0 does the same.)`;
    const days = inactivityDays(settings);
    if (days === 0) {
      return pass(
        `${INACTIVITY_PERIOD_ATTRIBUTE} = 0 on ${serviceDn}: AD FS's stale-device cleanup deletes no device`,
      );
    }
    if (days === null) {
      return warn(
        `${INACTIVITY_PERIOD_ATTRIBUTE} of ${serviceDn} has no value: what AD FS's stale-device cleanup does then is not documented; 0 turns it off for certain (Azure AD Connect sets 0 too)`,
        fix,
        'DWB_AD_STALE_CLEANUP',
      );
    }
    if (Number.isNaN(days)) {
      return warn(
        `${INACTIVITY_PERIOD_ATTRIBUTE} of ${serviceDn} is ${JSON.stringify(settings.inactivityPeriod)}, not a number of days`,
        fix,
        'DWB_AD_STALE_CLEANUP',
      );
    }
    return warn(
      `${INACTIVITY_PERIOD_ATTRIBUTE} of ${serviceDn} is ${days}: ${staleCleanupEffect(days)}`,
      fix,
      'DWB_AD_STALE_CLEANUP',
    );
  },
};
