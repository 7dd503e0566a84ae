// ad.container-permissions: what the connector may really do in the device container, measured while
// bound AS THE CONNECTOR:
// - create msDS-Device children: the DC's own answer, allowedChildClassesEffective on the container;
// - write the device attributes: allowedAttributesEffective on an existing device when there is one
//   (the DC's answer again); for devices in general, and for deleting children, AD has no constructed
//   attribute, so the container's DACL (readable by the connector) and the DACL a new msDS-Device
//   gets (the class's defaultSecurityDescriptor plus the inheritable ACEs of the container) are run
//   through the access check of MS-DTYP against the connector's token (RootDSE tokenGroups, computed
//   by the DC). Group memberships, deny ACEs and ACE order count; no particular ACE is looked for.
import { grantedRights, inheritedAces } from '../ad/access-check.js';
import { type AdEntry, buf, str, strs } from '../ad/connection.js';
import { DEVICE_ATTRIBUTES } from '../ad/device-attributes.js';
import { dnToDomain, domainToDn } from '../ad/dn.js';
import { filter } from '../ad/filter.js';
import { AccessMask, fromSddl, type Ace } from '../ad/security-descriptor.js';
import { bytesToSid } from '../ad/sid.js';
import {
  adSession,
  attributeIdentities,
  connectorToken,
  daclAsConnector,
  deviceRegistration,
  hasObjectClass,
  requireDeviceSchema,
  schemaIdGuids,
} from './ad-context.js';
import { CheckSkipped, fail, pass, runInitAd } from './support.js';
import type { Check, CheckContext } from './types.js';

const includes = (values: string[], wanted: string): boolean =>
  values.some((v) => v.toLowerCase() === wanted.toLowerCase());

/** The explicit ACEs of the msDS-Device class's defaultSecurityDescriptor (every new device gets them). */
async function defaultDeviceAces(ctx: CheckContext, containerDn: string): Promise<Ace[]> {
  const { conn, rootDse } = await adSession(ctx);
  const [cls] = await conn.search(rootDse.schemaNamingContext, {
    scope: 'one',
    filter: filter`(&(objectClass=classSchema)(lDAPDisplayName=${'msDS-Device'}))`,
    attributes: ['defaultSecurityDescriptor'],
  });
  const sddl = cls && str(cls, 'defaultSecurityDescriptor');
  if (!sddl) return [];
  const head = await conn.read(domainToDn(dnToDomain(containerDn)), ['objectSid']);
  const sid = head && buf(head, 'objectSid');
  try {
    return fromSddl(sddl, sid ? bytesToSid(sid) : undefined).dacl?.aces ?? [];
  } catch {
    return []; // an alias this codec does not know: judge by the inherited ACEs alone
  }
}

async function firstDevice(ctx: CheckContext, containerDn: string): Promise<AdEntry | undefined> {
  const { conn } = await adSession(ctx);
  for await (const page of conn.searchPages(containerDn, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['allowedAttributesEffective'],
    pageSize: 1,
  })) {
    if (page[0]) return page[0];
  }
  return undefined;
}

export const adContainerPermissions: Check = {
  id: 'ad.container-permissions',
  title: 'The connector can create, delete and write msDS-Device objects in the device container',
  async run(ctx) {
    const schema = await requireDeviceSchema(ctx);
    const { conn } = await adSession(ctx);
    const { containerDn } = await deviceRegistration(ctx);
    const fix = runInitAd(ctx, { domain: dnToDomain(containerDn) });
    const container = await conn.read(containerDn, ['objectClass', 'allowedChildClassesEffective']);
    if (!container) {
      return fail(
        `the connector cannot see ${containerDn} (it does not exist, or the connector may not read it)`,
        fix,
        'DWB_AD_CONNECTOR_RIGHTS',
      );
    }
    if (!hasObjectClass(container, 'msDS-DeviceContainer')) {
      throw new CheckSkipped(`${containerDn} is not an msDS-DeviceContainer (see ad.device-location)`);
    }
    const deviceGuid = (await schemaIdGuids(ctx, ['msDS-Device'])).get('msDS-Device');
    if (!deviceGuid) throw new CheckSkipped('the schema has no msDS-Device class (see ad.schema)');
    const token = await connectorToken(ctx);
    const missing: string[] = [];

    if (!includes(strs(container, 'allowedChildClassesEffective'), 'msDS-Device')) {
      missing.push('create msDS-Device objects (allowedChildClassesEffective does not list msDS-Device)');
    }
    const sd = await daclAsConnector(ctx, containerDn);
    if (!sd) {
      missing.push('read the permissions of the container (it has no Read right there)');
      return fail(
        `as ${ctx.forest.ad.bindDn}, on ${containerDn}, the connector cannot: ${missing.join('; ')}`,
        fix,
        'DWB_AD_CONNECTOR_RIGHTS',
      );
    }
    const onContainer = grantedRights(sd.dacl, token);
    if (!(onContainer & AccessMask.LIST_CHILDREN)) missing.push('list the container');
    if (!(onContainer & AccessMask.READ_PROPERTY)) missing.push('read the container');

    // A new device's DACL: the class default plus what the container passes down.
    const deviceDacl = {
      revision: 4,
      aces: [...(await defaultDeviceAces(ctx, containerDn)), ...inheritedAces(sd.dacl, deviceGuid)],
    };
    const deleteChild =
      grantedRights(sd.dacl, token, { objectTypes: [deviceGuid] }) & AccessMask.DELETE_CHILD;
    const deleteSelf = grantedRights(deviceDacl, token, { objectTypes: [deviceGuid] }) & AccessMask.DELETE;
    if (!deleteChild && !deleteSelf) missing.push('delete msDS-Device objects');

    const attributes = await attributeIdentities(
      ctx,
      DEVICE_ATTRIBUTES.filter((a) => schema.has(a)),
    );
    const unreadable: string[] = [];
    const unwritable: string[] = [];
    for (const a of attributes) {
      const path = [deviceGuid, ...(a.propertySet ? [a.propertySet] : []), a.schemaIdGuid];
      const rights = grantedRights(deviceDacl, token, { objectTypes: path });
      if (!(rights & AccessMask.READ_PROPERTY)) unreadable.push(a.name);
      if (!(rights & AccessMask.WRITE_PROPERTY)) unwritable.push(a.name);
    }
    if (unreadable.length > 0) missing.push(`read ${unreadable.join(', ')} on msDS-Device objects`);
    if (unwritable.length > 0) missing.push(`write ${unwritable.join(', ')} on msDS-Device objects`);

    // Where a device exists, the DC itself says which attributes the connector may write on it.
    const device = await firstDevice(ctx, containerDn);
    let onDevice = '';
    if (device) {
      const writable = strs(device, 'allowedAttributesEffective');
      const notWritable = attributes.map((a) => a.name).filter((n) => !includes(writable, n));
      if (notWritable.length > 0)
        missing.push(`write ${notWritable.join(', ')} on ${device.dn} (allowedAttributesEffective)`);
      else onDevice = `; allowedAttributesEffective on ${device.dn} confirms it`;
    }

    if (missing.length > 0) {
      return fail(
        `as ${ctx.forest.ad.bindDn}, on ${containerDn}, the connector cannot: ${missing.join('; ')}`,
        fix,
        'DWB_AD_CONNECTOR_RIGHTS',
      );
    }
    return pass(
      `as ${ctx.forest.ad.bindDn}: creates msDS-Device objects in ${containerDn} (allowedChildClassesEffective), deletes them, reads and writes their ${attributes.length} device attributes, lists and reads the container (DACLs evaluated against the connector's tokenGroups)${onDevice}`,
    );
  },
};
