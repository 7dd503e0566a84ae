// ad.drs-unique: the configuration partition holds exactly one msDS-DeviceRegistrationService (a
// forest has one device registration configuration); duplicates are listed for deletion.
import { dnEquals } from '../ad/dn.js';
import { adSession, deviceRegistration, requireDeviceSchema } from './ad-context.js';
import { fail, pass, runInitAd, shellQuote } from './support.js';
import type { Check } from './types.js';

export const adDrsUnique: Check = {
  id: 'ad.drs-unique',
  title: 'Exactly one device registration configuration in the forest',
  async run(ctx) {
    await requireDeviceSchema(ctx);
    const { conn, rootDse } = await adSession(ctx);
    const { serviceDn } = await deviceRegistration(ctx);
    const found = await conn.search(rootDse.configurationNamingContext, {
      scope: 'sub',
      filter: '(objectClass=msDS-DeviceRegistrationService)',
      attributes: ['objectClass'],
    });
    const dns = found.map((e) => e.dn);
    if (dns.length === 0) {
      return fail(
        'no msDS-DeviceRegistrationService object in the configuration partition',
        runInitAd(ctx),
        'DWB_AD_DRS_MISSING',
      );
    }
    if (dns.length === 1) return pass(`one msDS-DeviceRegistrationService: ${dns[0]}`);
    const keep = dns.find((dn) => dnEquals(dn, serviceDn));
    const remove = keep ? dns.filter((dn) => dn !== keep) : dns.slice(1);
    return fail(
      `${dns.length} msDS-DeviceRegistrationService objects: ${dns.join('; ')}`,
      `Keep ${keep ?? dns[0]} and delete ${remove.length > 1 ? 'the duplicates' : 'the duplicate'}, as an enterprise admin: ${remove
        .map((dn) => `ldapdelete -H ${ctx.forest.ad.url} ${shellQuote(dn)}`)
        .join(' && ')}`,
      'DWB_AD_DRS_DUPLICATE',
    );
  },
};
