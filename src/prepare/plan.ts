// The forest preparation plan (SPEC §2): from what the forest has now (a PreparationState, read by
// survey.ts) to the list of changes that make it ready — each object created when missing, the
// DeviceRegistrationService pointed at the device container, the connector's ACEs added where they
// are missing. Pure: no I/O, so every decision here is unit-tested; apply.ts carries it out.
import { deviceContainerDn, deviceRegistrationDns } from '../ad/discovery.js';
import { dnEquals } from '../ad/dn.js';
import { aceToSddl, mergeDacl, missingAces, type SecurityDescriptor } from '../ad/security-descriptor.js';
import { DwbError } from '../errors.js';
import type { ConnectorAccount } from './connector-account.js';
import type { ForestDomain } from './forest.js';
import { hasClass } from './forest.js';
import { deviceContainerGrants, registrationConfigurationGrants, type Grant } from './rights.js';

export interface ObjectSnapshot {
  dn: string;
  exists: boolean;
  /** objectClass values; empty when the object does not exist. */
  classes: string[];
}

export interface AclSnapshot extends ObjectSnapshot {
  /** The descriptor as read with the SD-flags control (DACL only); undefined when the object is missing. */
  descriptor?: SecurityDescriptor;
}

export interface ServiceSnapshot extends ObjectSnapshot {
  deviceLocation?: string;
  isEnabled?: string;
}

/** Everything the planner needs to know about the forest. */
export interface PreparationState {
  forestRootDomain: string;
  configurationNc: string;
  /** The domain where the device container lives (--domain). */
  domain: ForestDomain;
  connector: ConnectorAccount;
  /** Device classes the schema lacks (empty on a 2012 R2 or later schema). */
  missingClasses: string[];
  /** schemaIDGUID of msDS-Device. */
  deviceClassGuid: string;
  configuration: AclSnapshot;
  services: ObjectSnapshot;
  service: ServiceSnapshot;
  /** The object that an existing msDS-DeviceLocation names, when it is not the target container. */
  locationTarget?: ObjectSnapshot;
  /** msDS-DeviceRegistrationService objects of the configuration NC other than the canonical one. */
  otherServices: string[];
  container: AclSnapshot;
}

export type PreparationStep =
  | { kind: 'create'; dn: string; attributes: Record<string, string[]> }
  | { kind: 'modify'; dn: string; changes: { type: string; values: string[] }[] }
  | {
      kind: 'grant';
      dn: string;
      /** The grants the object lacks (all of them when it is created in this run). */
      missing: Grant[];
      /** The DACL before and after, when the object exists already. */
      before?: SecurityDescriptor;
      after?: SecurityDescriptor;
    };

export type ChangeAction = 'create' | 'modify' | 'none';

export interface PlannedChange {
  action: ChangeAction;
  dn: string;
  detail: string;
  /** What apply.ts does; absent when action is 'none'. */
  step?: PreparationStep;
  /** For permission changes: the ACEs (SDDL) that are added, or that are already there. */
  aces?: string[];
}

export interface PreparationPlan {
  changes: PlannedChange[];
  /** Things the administrator should know that do not stop the preparation. */
  warnings: string[];
  containerDn: string;
  serviceDn: string;
  connector: ConnectorAccount;
  domain: ForestDomain;
}

export const CONFIGURATION_CLASS = 'container';
export const SERVICES_CLASS = 'msDS-DeviceRegistrationServiceContainer';
export const SERVICE_CLASS = 'msDS-DeviceRegistrationService';
export const CONTAINER_CLASS = 'msDS-DeviceContainer';

function conflict(dn: string, found: string[], wanted: string): DwbError {
  return new DwbError(
    'DWB_AD_OBJECT_CONFLICT',
    `${dn} exists but is of class ${found[found.length - 1] ?? 'unknown'}, not ${wanted}; init-ad did not change anything.`,
  );
}

function ensureObject(
  snapshot: ObjectSnapshot,
  objectClass: string,
  attributes: Record<string, string[]> = {},
  detail = objectClass,
): PlannedChange {
  if (snapshot.exists) {
    if (!hasClass(snapshot.classes, objectClass)) throw conflict(snapshot.dn, snapshot.classes, objectClass);
    return { action: 'none', dn: snapshot.dn, detail: `exists (${objectClass})` };
  }
  return {
    action: 'create',
    dn: snapshot.dn,
    detail,
    step: { kind: 'create', dn: snapshot.dn, attributes: { objectClass: [objectClass], ...attributes } },
  };
}

function ensureGrants(
  snapshot: AclSnapshot,
  grants: Grant[],
  connector: ConnectorAccount,
  domainSid?: string,
): PlannedChange {
  const sddl = (list: Grant[]): string[] => list.map((g) => `(${aceToSddl(g.ace, domainSid)})`);
  const describe = (list: Grant[]): string => list.map((g) => g.description).join('; ');
  if (!snapshot.exists) {
    return {
      action: 'modify',
      dn: snapshot.dn,
      detail: `grant ${connector.displayName}: ${describe(grants)}`,
      step: { kind: 'grant', dn: snapshot.dn, missing: grants },
      aces: sddl(grants),
    };
  }
  if (!snapshot.descriptor?.dacl) {
    throw new DwbError('DWB_AD_INSUFFICIENT_RIGHTS', `cannot read the permissions (DACL) of ${snapshot.dn}.`);
  }
  const missingSet = new Set(
    missingAces(
      snapshot.descriptor.dacl,
      grants.map((g) => g.ace),
    ),
  );
  const missing = grants.filter((g) => missingSet.has(g.ace));
  if (missing.length === 0) {
    return {
      action: 'none',
      dn: snapshot.dn,
      detail: `${connector.displayName} already has: ${describe(grants)}`,
      aces: sddl(grants),
    };
  }
  const { sd: after } = mergeDacl(
    snapshot.descriptor,
    missing.map((g) => g.ace),
  );
  return {
    action: 'modify',
    dn: snapshot.dn,
    detail: `grant ${connector.displayName}: ${describe(missing)}`,
    step: { kind: 'grant', dn: snapshot.dn, missing, before: snapshot.descriptor, after },
    aces: sddl(missing),
  };
}

export function schemaTooOld(missingClasses: readonly string[]): DwbError {
  return new DwbError(
    'DWB_AD_SCHEMA_TOO_OLD',
    `the forest schema has no ${missingClasses.join(', ')} class${missingClasses.length > 1 ? 'es' : ''}: device writeback needs the Windows Server 2012 R2 schema or later. init-ad did not change anything.`,
  );
}

/** Plans the preparation; throws a DwbError when the forest cannot be prepared as it is. */
export function planPreparation(state: PreparationState): PreparationPlan {
  if (state.missingClasses.length > 0) throw schemaTooOld(state.missingClasses);
  const dns = deviceRegistrationDns(state.configurationNc);
  const containerDn = deviceContainerDn(state.domain.dn);
  const domainSid = state.domain.sid;
  const warnings: string[] = [];
  const changes: PlannedChange[] = [];

  // The service must not become a second configuration of the forest (the seed allows one).
  const service = state.service;
  const location = service.deviceLocation;
  const locationIsOurs = location !== undefined && dnEquals(location, containerDn);
  const locationIsAnotherContainer =
    location !== undefined &&
    !locationIsOurs &&
    state.locationTarget?.exists === true &&
    hasClass(state.locationTarget.classes, CONTAINER_CLASS);
  if (service.exists && locationIsAnotherContainer) {
    throw new DwbError(
      'DWB_AD_DRS_ELSEWHERE',
      `the forest's DeviceRegistrationService (${service.dn}) already names the device container ${location}, not ${containerDn} in ${state.domain.dnsName}. init-ad did not change anything.`,
      {
        fix: `A forest holds one device registration configuration. To keep it, run init-ad with the --domain of ${location}; to move it, delete ${service.dn} first (AD FS device authentication uses it).`,
      },
    );
  }
  if (!service.exists && state.otherServices.length > 0) {
    throw new DwbError(
      'DWB_AD_DRS_ELSEWHERE',
      `the forest already has an msDS-DeviceRegistrationService elsewhere (${state.otherServices.join('; ')}); creating ${service.dn} would make a second one. init-ad did not change anything.`,
      {
        fix: `A forest holds one device registration configuration. Delete ${state.otherServices.join(' and ')} (if stale), then run init-ad again.`,
      },
    );
  }
  if (service.exists && state.otherServices.length > 0) {
    warnings.push(
      `the configuration NC has other msDS-DeviceRegistrationService objects: ${state.otherServices.join('; ')}. Delete them: a forest must have exactly one (check ad.drs-unique).`,
    );
  }

  changes.push(ensureObject(state.container, CONTAINER_CLASS));
  changes.push(
    ensureGrants(
      state.container,
      deviceContainerGrants(state.connector.sid, state.deviceClassGuid),
      state.connector,
      domainSid,
    ),
  );
  changes.push(ensureObject(state.configuration, CONFIGURATION_CLASS));
  changes.push(ensureObject(state.services, SERVICES_CLASS));

  if (!service.exists) {
    changes.push(
      ensureObject(
        service,
        SERVICE_CLASS,
        { 'msDS-DeviceLocation': [containerDn], 'msDS-IsEnabled': ['TRUE'] },
        `${SERVICE_CLASS}, msDS-DeviceLocation=${containerDn}, msDS-IsEnabled=TRUE`,
      ),
    );
  } else {
    if (!hasClass(service.classes, SERVICE_CLASS)) throw conflict(service.dn, service.classes, SERVICE_CLASS);
    if (!locationIsOurs) {
      // msDS-DeviceLocation is system-only: LDAP may set it when the object is created, never later.
      const what =
        location === undefined
          ? 'is empty'
          : state.locationTarget?.exists
            ? `names ${location}, which is a ${state.locationTarget.classes[state.locationTarget.classes.length - 1] ?? 'object'}, not an msDS-DeviceContainer`
            : `names ${location}, which does not exist`;
      throw new DwbError(
        'DWB_AD_DRS_BROKEN',
        `msDS-DeviceLocation of ${service.dn} ${what}. It cannot be corrected in place (the attribute is system-only). init-ad did not change anything.`,
      );
    }
    const fixes: { type: string; values: string[] }[] = [];
    const why: string[] = [];
    if ((service.isEnabled ?? '').toUpperCase() !== 'TRUE') {
      fixes.push({ type: 'msDS-IsEnabled', values: ['TRUE'] });
      why.push(`msDS-IsEnabled was ${service.isEnabled ?? 'empty'}, now TRUE`);
    }
    changes.push(
      fixes.length === 0
        ? {
            action: 'none',
            dn: service.dn,
            detail: `exists, msDS-DeviceLocation=${containerDn}, msDS-IsEnabled=TRUE`,
          }
        : {
            action: 'modify',
            dn: service.dn,
            detail: why.join('; '),
            step: { kind: 'modify', dn: service.dn, changes: fixes },
          },
    );
  }
  changes.push(
    ensureGrants(
      state.configuration,
      registrationConfigurationGrants(state.connector.sid),
      state.connector,
      domainSid,
    ),
  );
  return {
    changes,
    warnings,
    containerDn,
    serviceDn: dns.service,
    connector: state.connector,
    domain: state.domain,
  };
}
