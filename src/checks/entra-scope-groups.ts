// entra.scope-groups: each group of writeback.scope.groups exists in Entra ID and its members can be
// read (GroupMember.Read.All), so that the scope can be judged at all: the engine stops rather than
// delete the devices of a configured group it cannot find (DWB_SCOPE_GROUP_NOT_FOUND). Each group is
// named with how many devices it holds, nested groups included. Skipped when no group is set.
import { requireEntraConnection } from './entra-connect.js';
import { fail, pass, skip } from './support.js';
import type { Check } from './types.js';

export const entraScopeGroups: Check = {
  id: 'entra.scope-groups',
  title: 'Microsoft Graph: each group of writeback.scope.groups exists and its members can be read',
  async run(ctx) {
    const groups = ctx.config.writeback.scope.groups ?? [];
    if (groups.length === 0)
      return skip('writeback.scope.groups is not set: group membership is not part of the scope');
    const entra = ctx.config.entra;
    if (!entra) return skip('Entra connector not configured (no entra section in the configuration)');
    const connector = await requireEntraConnection(ctx, entra);
    const found: string[] = [];
    const missing: string[] = [];
    for (const [i, id] of groups.entries()) {
      // A 403 (GroupMember.Read.All missing) is DWB_ENTRA_FORBIDDEN, reported as a failure by the
      // runner with the permission to grant.
      const group = await connector.findGroup(id);
      if (!group) {
        missing.push(`writeback.scope.groups[${i}] ${id}`);
        continue;
      }
      const devices = await connector.groupDeviceCount(id);
      const held =
        devices === undefined
          ? 'members readable'
          : `${devices} device${devices === 1 ? '' : 's'}, nested groups included`;
      found.push(`"${group.displayName ?? id}" (${held})`);
    }
    if (missing.length > 0) {
      return fail(
        `no group with this object id in Entra ID: ${missing.join('; ')}${found.length > 0 ? `; found: ${found.join(', ')}` : ''}`,
        'Copy the object id of each group from the Entra admin center (Groups > the group > Overview > Object ID) into writeback.scope.groups, or remove the entry. Until then every sync stops (DWB_SCOPE_GROUP_NOT_FOUND) rather than delete the devices of a group it cannot find.',
        'DWB_SCOPE_GROUP_NOT_FOUND',
      );
    }
    return pass(
      `${found.length} scope group${found.length === 1 ? '' : 's'} found, members readable: ${found.join(', ')}`,
    );
  },
};
