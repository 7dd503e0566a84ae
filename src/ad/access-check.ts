// Effective rights: the access check of MS-DTYP 2.5.3.2 for directory objects, run over a DACL and the
// token (the SIDs a domain controller reports in tokenGroups for the bound account). Used where AD
// has no constructed attribute that answers the question (deleting children, the rights a child will
// inherit), so that `check` measures what the connector may really do — group memberships, deny ACEs
// and ACE order included — instead of looking for particular ACEs. Pure.
import { AccessMask, AceFlag, AceType, isOpaqueAce, type Ace, type Acl } from './security-descriptor.js';

const ALLOW = new Set<number>([AceType.ACCESS_ALLOWED, AceType.ACCESS_ALLOWED_OBJECT]);
const DENY = new Set<number>([AceType.ACCESS_DENIED, AceType.ACCESS_DENIED_OBJECT]);

/** Every right of a directory object (what GENERIC_ALL maps to). */
export const DS_ALL_RIGHTS = 0x000f01ff;

const PRINCIPAL_SELF = 'S-1-5-10';
const CREATOR_OWNER = 'S-1-3-0';
const OWNER_RIGHTS = 'S-1-3-4';

/** The generic mapping of directory objects (MS-ADTS 5.1.3.3). */
export function mapGenericRights(mask: number): number {
  let m = mask >>> 0;
  if (m & AccessMask.GENERIC_READ)
    m |=
      AccessMask.READ_CONTROL | AccessMask.LIST_CHILDREN | AccessMask.READ_PROPERTY | AccessMask.LIST_OBJECT;
  if (m & AccessMask.GENERIC_WRITE)
    m |= AccessMask.READ_CONTROL | AccessMask.WRITE_PROPERTY | AccessMask.SELF_WRITE;
  if (m & AccessMask.GENERIC_EXECUTE) m |= AccessMask.READ_CONTROL | AccessMask.LIST_CHILDREN;
  if (m & AccessMask.GENERIC_ALL) m |= DS_ALL_RIGHTS;
  const generic =
    AccessMask.GENERIC_READ | AccessMask.GENERIC_WRITE | AccessMask.GENERIC_EXECUTE | AccessMask.GENERIC_ALL;
  return (m & ~generic) >>> 0;
}

export interface AccessRequest {
  /**
   * The path in the object type tree the access is for, as schemaIDGUIDs: e.g. [class] to create a
   * child of that class, or [class, property set, attribute] to write an attribute. An object ACE
   * applies when its object type is on this path; an ACE without object type always applies.
   */
  objectTypes?: readonly string[];
  /** SID of the object itself, which PRINCIPAL_SELF (PS) stands for. */
  selfSid?: string;
  /** The object's owner: granted READ_CONTROL and WRITE_DAC unless an OWNER RIGHTS ACE says otherwise. */
  ownerSid?: string;
}

/**
 * The rights a token has through a DACL for one access request (the mask of granted bits).
 * A missing DACL (NULL DACL) grants everything.
 */
export function grantedRights(
  dacl: Acl | undefined,
  token: ReadonlySet<string>,
  request: AccessRequest = {},
): number {
  if (!dacl) return DS_ALL_RIGHTS;
  const path = new Set((request.objectTypes ?? []).map((g) => g.toLowerCase()));
  const holds = (sid: string): boolean => {
    if (sid === PRINCIPAL_SELF) return request.selfSid !== undefined && token.has(request.selfSid);
    if (sid === CREATOR_OWNER) return false; // only meaningful in inheritable ACEs
    if (sid === OWNER_RIGHTS) return request.ownerSid !== undefined && token.has(request.ownerSid);
    return token.has(sid);
  };
  let granted = 0;
  let denied = 0;
  const ownerRightsPresent = dacl.aces.some(
    (a) => !isOpaqueAce(a) && a.sid === OWNER_RIGHTS && !(a.flags & AceFlag.INHERIT_ONLY),
  );
  if (request.ownerSid && token.has(request.ownerSid) && !ownerRightsPresent) {
    granted |= AccessMask.READ_CONTROL | AccessMask.WRITE_DAC;
  }
  for (const ace of dacl.aces) {
    if (isOpaqueAce(ace) || ace.flags & AceFlag.INHERIT_ONLY) continue;
    const allow = ALLOW.has(ace.type);
    const deny = DENY.has(ace.type);
    if (!allow && !deny) continue;
    if (ace.objectType && !path.has(ace.objectType.toLowerCase())) continue;
    if (!holds(ace.sid)) continue;
    const mask = mapGenericRights(ace.mask);
    if (allow) granted = (granted | (mask & ~denied)) >>> 0;
    else denied = (denied | (mask & ~granted)) >>> 0;
  }
  return granted >>> 0;
}

/**
 * The ACEs a new child of class `childClassGuid` inherits from its parent's DACL (MS-DTYP 2.5.3.4,
 * as directory objects use it: CONTAINER_INHERIT, filtered by the inherited object type).
 */
export function inheritedAces(parentDacl: Acl | undefined, childClassGuid: string): Ace[] {
  const out: Ace[] = [];
  for (const ace of parentDacl?.aces ?? []) {
    if (isOpaqueAce(ace) || !(ace.flags & AceFlag.CONTAINER_INHERIT)) continue;
    if (ace.inheritedObjectType && ace.inheritedObjectType.toLowerCase() !== childClassGuid.toLowerCase())
      continue;
    let flags = (ace.flags & ~AceFlag.INHERIT_ONLY) | AceFlag.INHERITED;
    if (ace.flags & AceFlag.NO_PROPAGATE_INHERIT)
      flags &= ~(AceFlag.CONTAINER_INHERIT | AceFlag.OBJECT_INHERIT | AceFlag.NO_PROPAGATE_INHERIT);
    out.push({ ...ace, flags });
  }
  return out;
}
