// The forest preparation plan (SPEC §2): from what the forest has now (a PreparationState, read by
// survey.ts) to the list of changes that make it ready — each object created when missing, the
// DeviceRegistrationService pointed at the device container with AD FS's stale-device cleanup off,
// the cloud DRS issuer certificates of --cloud-issuer added beside the ones already there, the
// connector's ACEs added where they are missing. Pure: no I/O, so every decision here is
// unit-tested; apply.ts carries it out.
import { deviceContainerDn, deviceRegistrationDns } from '../ad/discovery.js';
import { dnEquals } from '../ad/dn.js';
import {
  CLOUD_ENABLED_ATTRIBUTE,
  CLOUD_ISSUER_ATTRIBUTE,
  INACTIVITY_PERIOD_ATTRIBUTE,
  isTrue,
  staleCleanupEffect,
} from '../ad/registration-service.js';
import { aceToSddl, mergeDacl, missingAces, type SecurityDescriptor } from '../ad/security-descriptor.js';
import { DwbError } from '../errors.js';
import { expiryWarnings, type CloudIssuerCertificate } from './cloud-issuer.js';
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
  /** msDS-MaximumRegistrationInactivityPeriod as read; undefined when it has no value. */
  inactivityPeriod?: string;
  /** msDS-CloudIsEnabled as read (TRUE/FALSE); undefined when it has no value. */
  cloudIsEnabled?: string;
  /** The values of msDS-CloudIssuerPublicCertificates (DER), as read. */
  cloudIssuers?: Buffer[];
  /** Made by AD FS (Initialize-ADDeviceRegistration): it carries settings only AD FS writes. */
  madeByAdfs?: boolean;
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

/** One attribute change of a modify step: replace its values, or add values beside the ones there. */
export type AttributeChange =
  | { operation: 'replace'; type: string; values: string[] }
  | { operation: 'add'; type: string; values: Buffer[] };

export type PreparationStep =
  | { kind: 'create'; dn: string; attributes: Record<string, string[]> }
  | { kind: 'modify'; dn: string; changes: AttributeChange[] }
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

export interface PlanOptions {
  /** The cloud DRS issuer certificates of --cloud-issuer, judged fit (cloud-issuer.ts). */
  cloudIssuers?: readonly CloudIssuerCertificate[];
  /** The time expiry warnings are computed against. */
  now?: Date;
}

/**
 * The cloud issuer step: add the --cloud-issuer certificates the object lacks (never remove a value:
 * a forest prepared by Azure AD Connect keeps its own) and turn msDS-CloudIsEnabled on.
 */
function ensureCloudIssuers(
  service: ServiceSnapshot,
  wanted: readonly CloudIssuerCertificate[],
): PlannedChange {
  const present = service.exists ? (service.cloudIssuers ?? []) : [];
  const missing = wanted.filter((w) => !present.some((p) => p.equals(w.der)));
  const enabled = service.exists && isTrue(service.cloudIsEnabled);
  const name = (c: CloudIssuerCertificate): string => `${c.facts.subject} (thumbprint ${c.facts.thumbprint})`;
  if (missing.length === 0 && enabled) {
    return {
      action: 'none',
      dn: service.dn,
      detail: `${CLOUD_ISSUER_ATTRIBUTE} has ${wanted.map(name).join('; ')}; ${CLOUD_ENABLED_ATTRIBUTE}=TRUE`,
    };
  }
  const changes: AttributeChange[] = [];
  const why: string[] = [];
  if (missing.length > 0) {
    changes.push({ operation: 'add', type: CLOUD_ISSUER_ATTRIBUTE, values: missing.map((m) => m.der) });
    const kept =
      present.length > 0
        ? ` (the ${present.length} value${present.length > 1 ? 's' : ''} there stay${present.length > 1 ? '' : 's'})`
        : '';
    why.push(`add to ${CLOUD_ISSUER_ATTRIBUTE}: ${missing.map(name).join('; ')}${kept}`);
  }
  if (!enabled) {
    changes.push({ operation: 'replace', type: CLOUD_ENABLED_ATTRIBUTE, values: ['TRUE'] });
    why.push(
      service.exists && service.cloudIsEnabled !== undefined
        ? `${CLOUD_ENABLED_ATTRIBUTE} was ${service.cloudIsEnabled}, now TRUE`
        : `${CLOUD_ENABLED_ATTRIBUTE}=TRUE`,
    );
  }
  return {
    action: 'modify',
    dn: service.dn,
    detail: why.join('; '),
    step: { kind: 'modify', dn: service.dn, changes },
  };
}

/** Plans the preparation; throws a DwbError when the forest cannot be prepared as it is. */
export function planPreparation(state: PreparationState, options: PlanOptions = {}): PreparationPlan {
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
        {
          'msDS-DeviceLocation': [containerDn],
          'msDS-IsEnabled': ['TRUE'],
          [INACTIVITY_PERIOD_ATTRIBUTE]: ['0'],
        },
        `${SERVICE_CLASS}, msDS-DeviceLocation=${containerDn}, msDS-IsEnabled=TRUE, ${INACTIVITY_PERIOD_ATTRIBUTE}=0`,
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
    // A service made by AD FS (Initialize-ADDeviceRegistration) that names this container is
    // completed: only what device writeback needs changes, its other AD FS settings stay.
    const fixes: AttributeChange[] = [];
    const why: string[] = [];
    if (!isTrue(service.isEnabled)) {
      fixes.push({ operation: 'replace', type: 'msDS-IsEnabled', values: ['TRUE'] });
      why.push(`msDS-IsEnabled was ${service.isEnabled ?? 'empty'}, now TRUE`);
    }
    if (service.inactivityPeriod?.trim() !== '0') {
      fixes.push({ operation: 'replace', type: INACTIVITY_PERIOD_ATTRIBUTE, values: ['0'] });
      why.push(
        service.inactivityPeriod === undefined
          ? `${INACTIVITY_PERIOD_ATTRIBUTE} had no value, now 0 (no stale-device cleanup)`
          : `${INACTIVITY_PERIOD_ATTRIBUTE} was ${service.inactivityPeriod}, now 0 (${staleCleanupEffect(service.inactivityPeriod)})`,
      );
    }
    const adfs = service.madeByAdfs ? 'made by AD FS (its AD FS settings are kept), ' : '';
    changes.push(
      fixes.length === 0
        ? {
            action: 'none',
            dn: service.dn,
            detail: `exists, ${adfs}msDS-DeviceLocation=${containerDn}, msDS-IsEnabled=TRUE, ${INACTIVITY_PERIOD_ATTRIBUTE}=0`,
          }
        : {
            action: 'modify',
            dn: service.dn,
            detail: `${adfs}${why.join('; ')}`,
            step: { kind: 'modify', dn: service.dn, changes: fixes },
          },
    );
  }
  const cloudIssuers = options.cloudIssuers ?? [];
  if (cloudIssuers.length > 0) {
    changes.push(ensureCloudIssuers(service, cloudIssuers));
    warnings.push(...expiryWarnings(cloudIssuers, options.now));
  } else if (!service.exists || (service.cloudIssuers ?? []).length === 0) {
    warnings.push(
      `${service.dn} has no cloud DRS issuer certificate (${CLOUD_ISSUER_ATTRIBUTE}): AD FS would refuse the certificate of every device written here. Add the tenant's issuer with --cloud-issuer <pem-file> (docs/prepare-forest.md says how to obtain it).`,
    );
  } else if (!isTrue(service.cloudIsEnabled)) {
    warnings.push(
      `${CLOUD_ENABLED_ATTRIBUTE} of ${service.dn} is ${service.cloudIsEnabled ?? 'empty'}, not TRUE: AD FS does not treat the cloud Device Registration Service as enabled. Run init-ad with --cloud-issuer <pem-file> to turn it on.`,
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
