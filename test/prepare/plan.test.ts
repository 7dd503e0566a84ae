import { describe, expect, it } from 'vitest';
import { fromSddl, toSddl } from '../../src/ad/security-descriptor.js';
import { DwbError } from '../../src/errors.js';
import { readCloudIssuerFiles } from '../../src/prepare/cloud-issuer.js';
import { planToLdif } from '../../src/prepare/ldif.js';
import { planPreparation, type PreparationState } from '../../src/prepare/plan.js';
import { makeIssuer } from '../support/issuer.js';

const DOMAIN_SID = 'S-1-5-21-1-2-3';
const CONNECTOR_SID = `${DOMAIN_SID}-1105`;
const DEVICE = '5df2b673-6d41-4774-b3e8-d52e8ee9ff99';
const CONFIG_NC = 'CN=Configuration,DC=corp,DC=example,DC=test';
const DRC = `CN=Device Registration Configuration,CN=Services,${CONFIG_NC}`;
const DRSS = `CN=Device Registration Services,${DRC}`;
const DRS = `CN=DeviceRegistrationService,${DRSS}`;
const CONTAINER = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';

const missing = (dn: string) => ({ dn, exists: false, classes: [] as string[] });
const present = (dn: string, cls: string) => ({ dn, exists: true, classes: ['top', cls] });

function freshForest(): PreparationState {
  return {
    forestRootDomain: 'corp.example.test',
    configurationNc: CONFIG_NC,
    domain: {
      dnsName: 'corp.example.test',
      dn: 'DC=corp,DC=example,DC=test',
      netbiosName: 'CORP',
      sid: DOMAIN_SID,
      heldByThisDc: true,
    },
    connector: {
      given: 'svc',
      dn: 'CN=svc,CN=Users,DC=corp,DC=example,DC=test',
      sid: CONNECTOR_SID,
      displayName: 'CORP\\svc',
    },
    missingClasses: [],
    deviceClassGuid: DEVICE,
    configuration: missing(DRC),
    services: missing(DRSS),
    service: missing(DRS),
    otherServices: [],
    container: missing(CONTAINER),
  };
}

function preparedForest(): PreparationState {
  const state = freshForest();
  return {
    ...state,
    configuration: {
      ...present(DRC, 'container'),
      descriptor: fromSddl(
        `D:AI(A;;RPLCLORC;;;AU)(A;CI;RPLCLORC;;;${CONNECTOR_SID})(A;CIID;GA;;;EA)`,
        DOMAIN_SID,
      ),
    },
    services: present(DRSS, 'msDS-DeviceRegistrationServiceContainer'),
    service: {
      ...present(DRS, 'msDS-DeviceRegistrationService'),
      deviceLocation: CONTAINER,
      isEnabled: 'TRUE',
      inactivityPeriod: '0',
      cloudIssuers: [],
    },
    container: {
      ...present(CONTAINER, 'msDS-DeviceContainer'),
      descriptor: fromSddl(
        `D:AI(A;;RPLCLORC;;;AU)(OA;;CCDC;${DEVICE};;${CONNECTOR_SID})(OA;CIIO;RPWP;;${DEVICE};${CONNECTOR_SID})(A;;RPLCLORC;;;${CONNECTOR_SID})(A;CIID;GA;;;EA)`,
        DOMAIN_SID,
      ),
    },
  };
}

describe('planPreparation', () => {
  it('creates every object of a fresh forest, the container before the service that names it', () => {
    const plan = planPreparation(freshForest());
    expect(plan.changes.map((c) => [c.action, c.dn])).toEqual([
      ['create', CONTAINER],
      ['modify', CONTAINER],
      ['create', DRC],
      ['create', DRSS],
      ['create', DRS],
      ['modify', DRC],
    ]);
    const service = plan.changes[4]!.step;
    expect(service).toEqual({
      kind: 'create',
      dn: DRS,
      attributes: {
        objectClass: ['msDS-DeviceRegistrationService'],
        'msDS-DeviceLocation': [CONTAINER],
        'msDS-IsEnabled': ['TRUE'],
        'msDS-MaximumRegistrationInactivityPeriod': ['0'],
      },
    });
    expect(plan.changes[1]!.aces).toEqual([
      `(OA;;CCDC;${DEVICE};;${CONNECTOR_SID})`,
      `(OA;CIIO;RPWP;;${DEVICE};${CONNECTOR_SID})`,
      `(A;;RPLCLORC;;;${CONNECTOR_SID})`,
    ]);
    expect(plan.changes[5]!.aces).toEqual([`(A;CI;RPLCLORC;;;${CONNECTOR_SID})`]);
  });

  it('changes nothing in a prepared forest', () => {
    const plan = planPreparation(preparedForest());
    expect(plan.changes.map((c) => c.action)).toEqual(['none', 'none', 'none', 'none', 'none', 'none']);
    expect(plan.changes.every((c) => c.step === undefined)).toBe(true);
  });

  it('adds only the missing ACEs, in canonical order, and keeps the rest of the DACL', () => {
    const state = preparedForest();
    state.container.descriptor = fromSddl(
      `D:AI(D;;SD;;;WD)(A;;RPLCLORC;;;AU)(OA;;CCDC;${DEVICE};;${CONNECTOR_SID})(A;CIID;GA;;;EA)`,
      DOMAIN_SID,
    );
    const change = planPreparation(state).changes[1]!;
    expect(change.action).toBe('modify');
    expect(change.aces).toEqual([
      `(OA;CIIO;RPWP;;${DEVICE};${CONNECTOR_SID})`,
      `(A;;RPLCLORC;;;${CONNECTOR_SID})`,
    ]);
    const step = change.step;
    if (step?.kind !== 'grant' || !step.after) throw new Error('expected a grant with a DACL after');
    expect(toSddl(step.after, DOMAIN_SID)).toBe(
      `D:AI(D;;SD;;;WD)(A;;RPLCLORC;;;AU)(OA;;CCDC;${DEVICE};;${CONNECTOR_SID})(OA;CIIO;RPWP;;${DEVICE};${CONNECTOR_SID})(A;;RPLCLORC;;;${CONNECTOR_SID})(A;CIID;GA;;;EA)`,
    );
  });

  it('stops on a msDS-DeviceLocation that is empty or names something that is not a device container', () => {
    // The attribute is system-only: it cannot be rewritten, only set when the object is created.
    const empty = preparedForest();
    empty.service = { ...empty.service, deviceLocation: undefined };
    expect(() => planPreparation(empty)).toThrow(expect.objectContaining({ code: 'DWB_AD_DRS_BROKEN' }));
    const wrongClass = preparedForest();
    wrongClass.service = { ...wrongClass.service, deviceLocation: 'CN=Users,DC=corp,DC=example,DC=test' };
    wrongClass.locationTarget = present('CN=Users,DC=corp,DC=example,DC=test', 'container');
    expect(() => planPreparation(wrongClass)).toThrow(
      /names CN=Users,DC=corp,DC=example,DC=test, which is a container/,
    );
    const gone = preparedForest();
    gone.service = { ...gone.service, deviceLocation: 'CN=Gone,DC=corp,DC=example,DC=test' };
    gone.locationTarget = missing('CN=Gone,DC=corp,DC=example,DC=test');
    expect(() => planPreparation(gone)).toThrow(/which does not exist/);
  });

  it('turns a disabled Device Registration Service back on', () => {
    const state = preparedForest();
    state.service = { ...state.service, isEnabled: 'FALSE' };
    expect(planPreparation(state).changes[4]).toMatchObject({
      action: 'modify',
      step: { kind: 'modify', changes: [{ operation: 'replace', type: 'msDS-IsEnabled', values: ['TRUE'] }] },
    });
  });

  it('turns off the stale-device cleanup of a service with a period, or with none', () => {
    const ninety = preparedForest();
    ninety.service = { ...ninety.service, inactivityPeriod: '90' };
    const change = planPreparation(ninety).changes[4]!;
    expect(change).toMatchObject({
      action: 'modify',
      step: {
        kind: 'modify',
        changes: [{ operation: 'replace', type: 'msDS-MaximumRegistrationInactivityPeriod', values: ['0'] }],
      },
    });
    expect(change.detail).toContain('msDS-MaximumRegistrationInactivityPeriod was 90, now 0');
    expect(change.detail).toContain('older than 90 days');
    const none = preparedForest();
    none.service = { ...none.service, inactivityPeriod: undefined };
    expect(planPreparation(none).changes[4]!.detail).toBe(
      'msDS-MaximumRegistrationInactivityPeriod had no value, now 0 (no stale-device cleanup)',
    );
  });

  it('completes a service made by AD FS that names the same container, keeping its AD FS settings', () => {
    const adfs = preparedForest();
    adfs.service = { ...adfs.service, inactivityPeriod: '90', cloudIsEnabled: 'FALSE', madeByAdfs: true };
    const plan = planPreparation(adfs);
    expect(plan.changes.map((c) => c.action)).toEqual(['none', 'none', 'none', 'none', 'modify', 'none']);
    const service = plan.changes[4]!;
    expect(service.detail).toMatch(
      /^made by AD FS \(its AD FS settings are kept\), msDS-MaximumRegistrationInactivityPeriod was 90/,
    );
    // Only the period: msDS-CloudIsEnabled is left to --cloud-issuer, the rest is AD FS's.
    expect(service.step).toEqual({
      kind: 'modify',
      dn: DRS,
      changes: [{ operation: 'replace', type: 'msDS-MaximumRegistrationInactivityPeriod', values: ['0'] }],
    });
    expect(plan.warnings).toEqual([expect.stringContaining('has no cloud DRS issuer certificate')]);
  });

  it('stops when the forest already has a configuration pointing at another device container', () => {
    const state = preparedForest();
    state.service = {
      ...state.service,
      deviceLocation: 'CN=RegisteredDevices,DC=other,DC=corp,DC=example,DC=test',
    };
    state.locationTarget = present(
      'CN=RegisteredDevices,DC=other,DC=corp,DC=example,DC=test',
      'msDS-DeviceContainer',
    );
    expect(() => planPreparation(state)).toThrow(expect.objectContaining({ code: 'DWB_AD_DRS_ELSEWHERE' }));
  });

  it('refuses to create a second msDS-DeviceRegistrationService', () => {
    const state = freshForest();
    state.otherServices = [`CN=Old DRS,${DRSS}`];
    const err = (() => {
      try {
        planPreparation(state);
        return undefined;
      } catch (e) {
        return e;
      }
    })() as DwbError;
    expect(err.code).toBe('DWB_AD_DRS_ELSEWHERE');
    expect(err.message).toContain(`CN=Old DRS,${DRSS}`);
  });

  it('refuses a forest without the device classes, and an object of the wrong class', () => {
    const old = freshForest();
    old.missingClasses = ['msDS-Device', 'msDS-DeviceContainer', 'msDS-DeviceRegistrationService'];
    expect(() => planPreparation(old)).toThrow(/2012 R2 schema/);
    const clash = freshForest();
    clash.container = present(CONTAINER, 'container');
    expect(() => planPreparation(clash)).toThrow(expect.objectContaining({ code: 'DWB_AD_OBJECT_CONFLICT' }));
  });
});

describe('planPreparation with --cloud-issuer', () => {
  const a = makeIssuer('plan-a');
  const b = makeIssuer('plan-b');
  const azureAdConnect = makeIssuer('plan-aadc');
  const issuers = readCloudIssuerFiles([a.file, b.file]);

  it('on a fresh forest: creates the service, then adds the issuers and turns the cloud DRS on', () => {
    const plan = planPreparation(freshForest(), { cloudIssuers: issuers });
    expect(plan.changes.map((c) => [c.action, c.dn])).toEqual([
      ['create', CONTAINER],
      ['modify', CONTAINER],
      ['create', DRC],
      ['create', DRSS],
      ['create', DRS],
      ['modify', DRS],
      ['modify', DRC],
    ]);
    expect(plan.changes[5]!.step).toEqual({
      kind: 'modify',
      dn: DRS,
      changes: [
        { operation: 'add', type: 'msDS-CloudIssuerPublicCertificates', values: [a.der, b.der] },
        { operation: 'replace', type: 'msDS-CloudIsEnabled', values: ['TRUE'] },
      ],
    });
    expect(plan.changes[5]!.detail).toContain(
      `OU=test tenant plan-a, CN=MS-Organization-Access (thumbprint ${a.thumbprint})`,
    );
    expect(plan.warnings).toEqual([]);
  });

  it('adds only what is missing, never removes a value, and changes nothing when all is there', () => {
    const state = preparedForest();
    state.service = { ...state.service, cloudIssuers: [azureAdConnect.der, a.der], cloudIsEnabled: 'TRUE' };
    const change = planPreparation(state, { cloudIssuers: issuers }).changes[5]!;
    expect(change.step).toEqual({
      kind: 'modify',
      dn: DRS,
      changes: [{ operation: 'add', type: 'msDS-CloudIssuerPublicCertificates', values: [b.der] }],
    });
    expect(change.detail).toContain('(the 2 values there stay)');
    state.service = { ...state.service, cloudIssuers: [azureAdConnect.der, b.der, a.der] };
    const none = planPreparation(state, { cloudIssuers: issuers });
    expect(none.changes.map((c) => c.action)).toEqual([
      'none',
      'none',
      'none',
      'none',
      'none',
      'none',
      'none',
    ]);
    expect(none.changes[5]!.detail).toContain('msDS-CloudIsEnabled=TRUE');
  });

  it('turns msDS-CloudIsEnabled on when the issuers are there but it is FALSE', () => {
    const state = preparedForest();
    state.service = { ...state.service, cloudIssuers: [a.der, b.der], cloudIsEnabled: 'FALSE' };
    expect(planPreparation(state, { cloudIssuers: issuers }).changes[5]).toMatchObject({
      action: 'modify',
      detail: 'msDS-CloudIsEnabled was FALSE, now TRUE',
      step: { changes: [{ operation: 'replace', type: 'msDS-CloudIsEnabled', values: ['TRUE'] }] },
    });
  });

  it('warns without --cloud-issuer when the service has no issuer, or has them with the cloud DRS off', () => {
    expect(planPreparation(preparedForest()).warnings).toEqual([
      `${DRS} has no cloud DRS issuer certificate (msDS-CloudIssuerPublicCertificates): AD FS would refuse the certificate of every device written here. Add the tenant's issuer with --cloud-issuer <pem-file> (docs/prepare-forest.md says how to obtain it).`,
    ]);
    const off = preparedForest();
    off.service = { ...off.service, cloudIssuers: [a.der] };
    expect(planPreparation(off).warnings).toEqual([
      expect.stringContaining('msDS-CloudIsEnabled of CN=DeviceRegistrationService'),
    ]);
  });

  it('renders the issuers as base64 DER values of an add, and the LDIF of the period', () => {
    const state = preparedForest();
    state.service = { ...state.service, inactivityPeriod: '30' };
    const ldif = planToLdif(planPreparation(state, { cloudIssuers: issuers }));
    expect(ldif).toContain(
      `dn: ${DRS}\nchangetype: modify\nreplace: msDS-MaximumRegistrationInactivityPeriod\nmsDS-MaximumRegistrationInactivityPeriod: 0\n-`,
    );
    expect(ldif).toContain(
      `dn: ${DRS}\nchangetype: modify\nadd: msDS-CloudIssuerPublicCertificates\nmsDS-CloudIssuerPublicCertificates:: ${a.der.toString('base64')}\nmsDS-CloudIssuerPublicCertificates:: ${b.der.toString('base64')}\n-\nreplace: msDS-CloudIsEnabled\nmsDS-CloudIsEnabled: TRUE\n-`,
    );
  });
});

describe('planToLdif', () => {
  it('renders creations, repairs and DACL changes, with the SD-flags control and the SDDL', () => {
    const state = preparedForest();
    state.service = { ...state.service, isEnabled: 'FALSE' };
    state.configuration.descriptor = fromSddl('D:AI(A;;RPLCLORC;;;AU)', DOMAIN_SID);
    const ldif = planToLdif(planPreparation(state));
    expect(ldif).toContain(
      `dn: ${DRS}\nchangetype: modify\nreplace: msDS-IsEnabled\nmsDS-IsEnabled: TRUE\n-`,
    );
    expect(ldif).toContain(`# ACEs to add (SDDL): (A;CI;RPLCLORC;;;${CONNECTOR_SID})`);
    expect(ldif).toContain(`# DACL after (SDDL):  D:AI(A;;RPLCLORC;;;AU)(A;CI;RPLCLORC;;;${CONNECTOR_SID})`);
    expect(ldif).toContain(
      `dn: ${DRC}\ncontrol: 1.2.840.113556.1.4.801 true:: MAMCAQQ=\nchangetype: modify\nreplace: nTSecurityDescriptor\nnTSecurityDescriptor:: `,
    );
    expect(ldif).toContain(`# unchanged: ${CONTAINER}`);

    const fresh = planToLdif(planPreparation(freshForest()));
    expect(fresh).toContain(`dn: ${CONTAINER}\nchangetype: add\nobjectClass: msDS-DeviceContainer`);
    expect(fresh).toContain(`msDS-DeviceLocation: ${CONTAINER}`);
  });
});
