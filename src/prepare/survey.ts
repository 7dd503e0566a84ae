// Reads what forest preparation needs to plan: the forest facts, the target domain, the connector
// account, the objects of SPEC §2 as they are now and their DACLs (read with the SD-flags control
// limited to the DACL, which any reader with READ_CONTROL may use). Reads only; writes nothing.
import { type AdConnection, SdFlagsControl, buf } from '../ad/connection.js';
import { deviceContainerDn, deviceRegistrationDns, REQUIRED_CLASSES } from '../ad/discovery.js';
import { dnEquals } from '../ad/dn.js';
import { REGISTRATION_SERVICE_ATTRIBUTES, registrationServiceSettings } from '../ad/registration-service.js';
import { decodeSecurityDescriptor, type SecurityDescriptor } from '../ad/security-descriptor.js';
import { DwbError } from '../errors.js';
import { resolveConnectorAccount } from './connector-account.js';
import { findDomain, objectClasses, readForestFacts, type ForestFacts } from './forest.js';
import {
  schemaTooOld,
  type AclSnapshot,
  type ObjectSnapshot,
  type PreparationState,
  type ServiceSnapshot,
} from './plan.js';

export interface SurveyOptions {
  /** DNS name of the domain for the device container; default the forest root domain. */
  domain?: string;
  /** sAMAccountName, DOMAIN\name, UPN or DN. */
  connectorAccount: string;
}

export async function readObject(conn: AdConnection, dn: string): Promise<ObjectSnapshot> {
  const entry = await conn.read(dn, ['objectClass']);
  return { dn: entry?.dn || dn, exists: entry !== undefined, classes: objectClasses(entry) };
}

/** The DACL of an object (undefined when it does not exist or cannot be read). */
export async function readDacl(conn: AdConnection, dn: string): Promise<SecurityDescriptor | undefined> {
  const entry = await conn.read(dn, ['nTSecurityDescriptor'], [new SdFlagsControl(SdFlagsControl.DACL)]);
  const bytes = entry && buf(entry, 'nTSecurityDescriptor');
  return bytes ? decodeSecurityDescriptor(bytes) : undefined;
}

async function readAclObject(conn: AdConnection, dn: string): Promise<AclSnapshot> {
  const snapshot: AclSnapshot = await readObject(conn, dn);
  if (snapshot.exists) snapshot.descriptor = await readDacl(conn, dn);
  return snapshot;
}

export interface Survey {
  forest: ForestFacts;
  state: PreparationState;
}

export async function surveyForest(conn: AdConnection, options: SurveyOptions): Promise<Survey> {
  const forest = await readForestFacts(conn);
  const { rootDse } = forest;
  const missingClasses = REQUIRED_CLASSES.filter((c) => !forest.schema.classes[c]);
  if (missingClasses.length > 0) throw schemaTooOld(missingClasses);
  const domainName = options.domain ?? forest.rootDomain;
  const domain = findDomain(forest, domainName);
  if (!domain) {
    throw new DwbError(
      'DWB_AD_DOMAIN_UNKNOWN',
      `the forest ${forest.rootDomain} has no domain ${domainName}; its domains are: ${forest.domains.map((d) => d.dnsName).join(', ')}.`,
    );
  }
  if (!domain.heldByThisDc) {
    throw new DwbError(
      'DWB_AD_DOMAIN_NOT_ON_DC',
      `the domain controller ${rootDse.dnsHostName ?? conn.where} does not hold the domain ${domain.dnsName} (${domain.dn}), so it cannot create the device container there.`,
    );
  }
  const connector = await resolveConnectorAccount(conn, forest, options.connectorAccount);
  const dns = deviceRegistrationDns(rootDse.configurationNamingContext);
  const containerDn = deviceContainerDn(domain.dn);

  const serviceEntry = await conn.read(dns.service, REGISTRATION_SERVICE_ATTRIBUTES);
  const settings = serviceEntry ? registrationServiceSettings(serviceEntry) : undefined;
  const service: ServiceSnapshot = {
    dn: serviceEntry?.dn || dns.service,
    exists: serviceEntry !== undefined,
    classes: objectClasses(serviceEntry),
    deviceLocation: settings?.deviceLocation,
    isEnabled: settings?.isEnabled,
    inactivityPeriod: settings?.inactivityPeriod,
    cloudIsEnabled: settings?.cloudIsEnabled,
    cloudIssuers: settings?.cloudIssuers.map((c) => c.der) ?? [],
    madeByAdfs: settings?.madeByAdfs ?? false,
  };
  const locationTarget =
    service.deviceLocation && !dnEquals(service.deviceLocation, containerDn)
      ? await readObject(conn, service.deviceLocation).catch((): ObjectSnapshot => ({
          dn: service.deviceLocation!,
          exists: false,
          classes: [],
        }))
      : undefined;
  const allServices = await conn.search(rootDse.configurationNamingContext, {
    scope: 'sub',
    filter: '(objectClass=msDS-DeviceRegistrationService)',
    attributes: ['objectClass'],
  });
  const otherServices = allServices.map((e) => e.dn).filter((dn) => !dnEquals(dn, dns.service));

  const state: PreparationState = {
    forestRootDomain: forest.rootDomain,
    configurationNc: rootDse.configurationNamingContext,
    domain,
    connector,
    missingClasses,
    deviceClassGuid: forest.classGuids.get('msDS-Device') ?? '',
    configuration: await readAclObject(conn, dns.configuration),
    services: await readObject(conn, dns.services),
    service,
    locationTarget,
    otherServices,
    container: await readAclObject(conn, containerDn),
  };
  return { forest, state };
}
