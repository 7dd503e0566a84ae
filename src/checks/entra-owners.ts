// entra.owners: registered owners can be read with their onPremisesSecurityIdentifier (which Graph
// returns only when selected, and only with User.Read.All). Reads the owners of a sample of devices
// through the connector's $batch path and warns about owners that have no on-premises SID: their
// devices get no msDS-RegisteredOwner, so AD FS cannot tie them to the user.
import type { DevicePrincipal } from '../entra/types.js';
import { requireEntraConnection } from './entra-connect.js';
import { pass, skip, warn } from './support.js';
import type { Check } from './types.js';

/** Devices sampled: enough to notice cloud-only owners, a single $batch round trip. */
const SAMPLE = 10;

function who(owner: DevicePrincipal): string {
  return owner.userPrincipalName ?? owner.id;
}

export const entraOwners: Check = {
  id: 'entra.owners',
  title: 'Microsoft Graph: registered owners and their on-premises SIDs can be read',
  async run(ctx) {
    const entra = ctx.config.entra;
    if (!entra) return skip('Entra connector not configured (no entra section in the configuration)');
    const connector = await requireEntraConnection(ctx, entra);
    const { devices } = await connector.probe(SAMPLE);
    if (devices.length === 0)
      return skip('the tenant has no device yet, so there are no registered owners to read');
    // A 403 here (User.Read.All missing) is DWB_ENTRA_FORBIDDEN, reported as a failure by the runner.
    const relations = await connector.fetchRelations(devices.map((d) => d.id));
    const owners = [...relations.values()].flatMap((r) => r.registeredOwners);
    const sampled = `${devices.length} device${devices.length === 1 ? '' : 's'}`;
    if (owners.length === 0) {
      return pass(
        `none of the ${sampled} read has a registered owner (normal for hybrid-joined devices); owners are read with $select=onPremisesSecurityIdentifier`,
      );
    }
    const withSid = owners.filter((o) => o.onPremisesSecurityIdentifier);
    const bare = owners.filter((o) => !o.onPremisesSecurityIdentifier && !o.userPrincipalName);
    if (bare.length === owners.length) {
      return warn(
        `the ${owners.length} registered owner${owners.length === 1 ? '' : 's'} of ${sampled} came back without their properties (no userPrincipalName, no onPremisesSecurityIdentifier): the app can see that they exist but not read users`,
        'Grant the app registration the Microsoft Graph application permission User.Read.All, with admin consent; without it no msDS-RegisteredOwner can be written.',
        'DWB_ENTRA_FORBIDDEN',
      );
    }
    const cloudOnly = owners.filter((o) => !o.onPremisesSecurityIdentifier);
    if (cloudOnly.length > 0) {
      const examples = cloudOnly.slice(0, 3).map(who).join(', ');
      return warn(
        `${cloudOnly.length} of ${owners.length} registered owners of ${sampled} have no onPremisesSecurityIdentifier (cloud-only users, e.g. ${examples}): their devices are written without msDS-RegisteredOwner, and AD FS cannot issue the registered-owner claims for them`,
        'Synchronize these users from on-premises Active Directory (Entra Connect or Cloud Sync) so that they carry their AD SID; devices of cloud-only users are still written, without an owner.',
        'DWB_ENTRA_OWNER_NO_SID',
      );
    }
    const example = withSid[0]!;
    return pass(
      `${owners.length} registered owner${owners.length === 1 ? '' : 's'} of ${sampled} read with their on-premises SID (e.g. ${who(example)}: ${example.onPremisesSecurityIdentifier})`,
    );
  },
};
