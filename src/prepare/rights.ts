// The least-privilege rights of SPEC §2 that init-ad grants the connector account, as ACEs.
//
// On the device container:
//   (OA;;CCDC;<msDS-Device>;;<connector>)       create and delete child objects of class msDS-Device
//   (OA;CIIO;RPWP;;<msDS-Device>;<connector>)   read and write all properties of the msDS-Device
//                                               objects below (inherit-only: not the container itself)
//   (A;;RPLCLORC;;;<connector>)                 list and read the container itself
// On CN=Device Registration Configuration:
//   (A;CI;RPLCLORC;;;<connector>)               read, inherited by everything below it
//
// Why exactly these bits:
// - "Read all properties" and "Write all properties" in the ACL editor are RP (0x10) and WP (0x20);
//   that is all the sync engine does to a device object. Deleting a device needs DC on the container
//   (granted above), not SD on the object; the product never reads a device's security descriptor
//   (RC) and msDS-Device is a leaf, so LC/LO on it would grant nothing useful.
// - "Read" (what dsacls shows as GENERIC READ) is RC|LC|RP|LO = 0x20094. It is written as those four
//   bits rather than as GR (0x80000000): a directory maps GR to them when it stores the ACE, and an ACE
//   written as GR would then never compare equal to what is read back, breaking idempotency.
import { AccessMask, AceFlag, AceType, type AccessAce } from '../ad/security-descriptor.js';

/** RC|LC|RP|LO: what "Read" (generic read) means for a directory object. */
export const DS_READ =
  AccessMask.READ_CONTROL | AccessMask.LIST_CHILDREN | AccessMask.READ_PROPERTY | AccessMask.LIST_OBJECT;

export interface Grant {
  ace: AccessAce;
  /** What the ACE grants, in words an AD administrator uses. */
  description: string;
}

export function deviceContainerGrants(connectorSid: string, deviceClassGuid: string): Grant[] {
  return [
    {
      ace: {
        type: AceType.ACCESS_ALLOWED_OBJECT,
        flags: 0,
        mask: AccessMask.CREATE_CHILD | AccessMask.DELETE_CHILD,
        sid: connectorSid,
        objectType: deviceClassGuid,
      },
      description: 'create and delete msDS-Device objects (this object only)',
    },
    {
      ace: {
        type: AceType.ACCESS_ALLOWED_OBJECT,
        flags: AceFlag.CONTAINER_INHERIT | AceFlag.INHERIT_ONLY,
        mask: AccessMask.READ_PROPERTY | AccessMask.WRITE_PROPERTY,
        sid: connectorSid,
        inheritedObjectType: deviceClassGuid,
      },
      description: 'read and write all properties (descendant msDS-Device objects)',
    },
    {
      ace: { type: AceType.ACCESS_ALLOWED, flags: 0, mask: DS_READ, sid: connectorSid },
      description: 'list contents and read (this object only)',
    },
  ];
}

export function registrationConfigurationGrants(connectorSid: string): Grant[] {
  return [
    {
      ace: {
        type: AceType.ACCESS_ALLOWED,
        flags: AceFlag.CONTAINER_INHERIT,
        mask: DS_READ,
        sid: connectorSid,
      },
      description: 'read (this object and all descendant objects)',
    },
  ];
}
