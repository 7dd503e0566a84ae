// ad.config-permissions: the connector can read the Device Registration Configuration and everything
// below it, measured while bound AS THE CONNECTOR: each object must be visible to it, and its DACL
// (with inherited ACEs) must grant the connector's token Read (RC, LC, RP) in the access check.
import { grantedRights } from '../ad/access-check.js';
import { deviceRegistrationDns } from '../ad/discovery.js';
import { AccessMask } from '../ad/security-descriptor.js';
import { adSession, connectorToken, daclAsConnector, requireDeviceSchema } from './ad-context.js';
import { fail, pass, runInitAd } from './support.js';
import type { Check } from './types.js';

const READ: [number, string][] = [
  [AccessMask.READ_PROPERTY, 'read properties'],
  [AccessMask.LIST_CHILDREN, 'list contents'],
  [AccessMask.READ_CONTROL, 'read permissions'],
];

export const adConfigPermissions: Check = {
  id: 'ad.config-permissions',
  title: 'The connector can read the Device Registration Configuration',
  async run(ctx) {
    await requireDeviceSchema(ctx);
    const { conn, rootDse } = await adSession(ctx);
    const dns = deviceRegistrationDns(rootDse.configurationNamingContext);
    const token = await connectorToken(ctx);
    const problems: string[] = [];
    for (const dn of [dns.configuration, dns.services, dns.service]) {
      const entry = await conn.read(dn, ['objectClass']);
      if (!entry) {
        problems.push(`cannot see ${dn} (it does not exist, or the connector may not read it)`);
        break; // what is below it cannot be judged either
      }
      const sd = await daclAsConnector(ctx, dn);
      if (!sd) {
        problems.push(`cannot read the permissions of ${dn}`);
        continue;
      }
      const rights = grantedRights(sd.dacl, token);
      const lacking = READ.filter(([bit]) => !(rights & bit)).map(([, name]) => name);
      if (lacking.length > 0) problems.push(`cannot ${lacking.join(', ')} on ${dn}`);
    }
    if (problems.length > 0) {
      return fail(
        `as ${ctx.forest.ad.bindDn}: ${problems.join('; ')}`,
        runInitAd(ctx),
        'DWB_AD_CONNECTOR_RIGHTS',
      );
    }
    return pass(`as ${ctx.forest.ad.bindDn}: reads ${dns.configuration} and the objects below it`);
  },
};
