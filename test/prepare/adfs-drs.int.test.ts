// A forest whose Device Registration Service AD FS made (Initialize-ADDeviceRegistration: stale-device
// cleanup after 90 days, a registration quota, its own issuer certificate, cloud DRS off), against a
// real Samba AD DC through the CLI: ad.stale-cleanup warns, init-ad completes the object instead of
// refusing it (the period to 0, AD FS's own settings kept), and repairs a period that has no value.
import { beforeAll, describe, expect, it } from 'vitest';
import { addUser, ldapsearch, useDc, type LabUser } from '../support/samba.js';
import { byId, checkJson, dwb, writeLabConfig, type LabConfig } from '../support/forest.js';
import { makeIssuer } from '../support/issuer.js';

const CONNECTOR_PASSWORD = 'Conn-Pa55word!-adfs31';
const ADMIN = ['--admin', 'Administrator@corp.example.test'];
const PERIOD = 'msDS-MaximumRegistrationInactivityPeriod';

interface InitAdJson {
  changes: { action: 'create' | 'modify' | 'none'; dn: string; detail: string }[];
  warnings: string[];
}

describe('a Device Registration Service made by AD FS', () => {
  const lab = useDc();
  let connector: LabUser;
  let config: LabConfig;
  let drs: string;
  let container: string;
  // The on-premises DRS's own issuer (msDS-IssuerPublicCertificates), which AD FS writes.
  const adfsIssuer = makeIssuer('adfs-own-drs');
  const tenant = makeIssuer('adfs-tenant');

  const attribute = async (name: string): Promise<string[]> =>
    (await ldapsearch(lab.dc, drs, ['-s', 'base', name]))
      .split('\n')
      .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
      .map((l) => l.slice(name.length + 1).trim());

  beforeAll(async () => {
    connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    config = writeLabConfig(lab.dc, connector);
    const configuration = `CN=Device Registration Configuration,CN=Services,${lab.dc.forest.configDn}`;
    const services = `CN=Device Registration Services,${configuration}`;
    drs = `CN=DeviceRegistrationService,${services}`;
    container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
    // What Initialize-ADDeviceRegistration leaves (the settings Get-AdfsDeviceRegistration shows).
    await lab.admin.add(container, { objectClass: 'msDS-DeviceContainer' });
    await lab.admin.add(configuration, { objectClass: 'container' });
    await lab.admin.add(services, { objectClass: 'msDS-DeviceRegistrationServiceContainer' });
    await lab.admin.add(drs, {
      objectClass: 'msDS-DeviceRegistrationService',
      'msDS-DeviceLocation': container,
      'msDS-IsEnabled': 'TRUE',
      [PERIOD]: '90',
      'msDS-RegistrationQuota': '10',
      'msDS-IssuerPublicCertificates': adfsIssuer.der,
      'msDS-CloudIsEnabled': 'FALSE',
    });
  });

  it('ad.stale-cleanup warns that AD FS would delete written devices after 90 days, with the fix', async () => {
    const { report } = await checkJson(config);
    const check = byId(report, 'ad.stale-cleanup');
    expect(check.status).toBe('warn');
    expect(check.code).toBe('DWB_AD_STALE_CLEANUP');
    expect(check.detail).toBe(
      `${PERIOD} of ${drs} is 90: AD FS's stale-device cleanup would delete every msDS-Device, written ones included, whose msDS-ApproximateLastLogonTimeStamp is older than 90 days, and the next full reconcile would write them again, in a loop`,
    );
    expect(check.fix).toContain(`device-writeback init-ad --config ${config.file}`);
    expect(check.fix).toContain(`it sets ${PERIOD} to 0`);
    expect(check.fix).toContain('Set-AdfsDeviceRegistration -MaximumInactiveDays 0');
    // The DRS object itself is fine for the other checks.
    expect(byId(report, 'ad.drs-object').status).toBe('pass');
    expect(byId(report, 'ad.device-location').status).toBe('pass');
  });

  it('init-ad completes it: the period to 0, the grants added, AD FS settings and cloud issuer state kept', async () => {
    const r = await dwb(config, ['init-ad', ...ADMIN, '--json']);
    expect(r.stderr).not.toContain('DWB_');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as InitAdJson;
    expect(report.changes.map((c) => c.action)).toEqual([
      'none',
      'modify',
      'none',
      'none',
      'modify',
      'modify',
    ]);
    expect(report.changes[4]).toMatchObject({ dn: drs, action: 'modify' });
    expect(report.changes[4]!.detail).toMatch(
      new RegExp(
        `^made by AD FS \\(its AD FS settings are kept\\), ${PERIOD} was 90, now 0 \\(AD FS's stale-device cleanup would delete`,
      ),
    );
    expect(report.warnings).toEqual([expect.stringContaining('has no cloud DRS issuer certificate')]);

    expect(await attribute(PERIOD)).toEqual(['0']);
    expect(await attribute('msDS-RegistrationQuota')).toEqual(['10']);
    expect(await attribute('msDS-IssuerPublicCertificates')).toEqual([
      `: ${adfsIssuer.der.toString('base64')}`,
    ]);
    expect(await attribute('msDS-CloudIsEnabled')).toEqual(['FALSE']);
    expect(await attribute('msDS-DeviceLocation')).toEqual([container]);

    const { report: checks } = await checkJson(config);
    expect(byId(checks, 'ad.stale-cleanup')).toMatchObject({
      status: 'pass',
      code: null,
      detail: `${PERIOD} = 0 on ${drs}: AD FS's stale-device cleanup deletes no device`,
    });
    expect(byId(checks, 'ad.container-permissions').status).toBe('pass');
    expect(byId(checks, 'ad.cloud-issuer')).toMatchObject({
      status: 'warn',
      code: 'DWB_AD_CLOUD_ISSUER_MISSING',
    });
    const again = JSON.parse((await dwb(config, ['init-ad', ...ADMIN, '--json'])).stdout) as InitAdJson;
    expect(again.changes.every((c) => c.action === 'none')).toBe(true);
    expect(again.changes[4]!.detail).toContain('made by AD FS (its AD FS settings are kept)');
  });

  it('init-ad --cloud-issuer then turns the cloud DRS on beside AD FS’s own issuer', async () => {
    const r = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', tenant.file, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as InitAdJson;
    expect(report.changes[5]!.detail).toContain('msDS-CloudIsEnabled was FALSE, now TRUE');
    expect(await attribute('msDS-CloudIsEnabled')).toEqual(['TRUE']);
    expect(await attribute('msDS-IssuerPublicCertificates')).toEqual([
      `: ${adfsIssuer.der.toString('base64')}`,
    ]);
    expect(byId((await checkJson(config)).report, 'ad.cloud-issuer').status).toBe('pass');
  });

  it('a period without a value: ad.stale-cleanup warns, init-ad sets 0', async () => {
    await lab.admin.modify(drs, [{ operation: 'delete', type: PERIOD, values: [] }]);
    const check = byId((await checkJson(config)).report, 'ad.stale-cleanup');
    expect(check.status).toBe('warn');
    expect(check.detail).toContain(`${PERIOD} of ${drs} has no value`);
    const r = await dwb(config, ['init-ad', ...ADMIN]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${PERIOD} had no value, now 0 (no stale-device cleanup)`);
    expect(await attribute(PERIOD)).toEqual(['0']);
    expect(byId((await checkJson(config)).report, 'ad.stale-cleanup').status).toBe('pass');
  });
});
