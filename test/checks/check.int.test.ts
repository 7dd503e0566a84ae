// `check` against a real Samba AD DC, through the CLI: each troubleshooting step of the seed made to
// fail by hand, with the detail and the fix it prints. Each scenario has its own DC.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { addUser, useDc, type LabUser } from '../support/samba.js';
import {
  byId,
  checkJson,
  dumpDirectory,
  dwb,
  leakedSecrets,
  writeLabConfig,
  type LabConfig,
} from '../support/forest.js';

const run = promisify(execFile);
const CONNECTOR_PASSWORD = 'Conn-Pa55word!-chk42';
const ADMIN = ['--admin', 'Administrator@corp.example.test'];

function registration(configDn: string): { services: string; service: string } {
  const services = `CN=Device Registration Services,CN=Device Registration Configuration,CN=Services,${configDn}`;
  return { services, service: `CN=DeviceRegistrationService,${services}` };
}

describe('a duplicate msDS-DeviceRegistrationService', () => {
  const lab = useDc();

  it('ad.drs-unique fails and names both objects; the fix names the one to delete', async () => {
    const connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    const config = writeLabConfig(lab.dc, connector);
    expect((await dwb(config, ['init-ad', ...ADMIN])).code).toBe(0);
    const { services, service } = registration(lab.dc.forest.configDn);
    const duplicate = `CN=DeviceRegistrationService Copy,${services}`;
    await lab.admin.add(duplicate, {
      objectClass: 'msDS-DeviceRegistrationService',
      'msDS-DeviceLocation': `CN=RegisteredDevices,${lab.dc.forest.domainDn}`,
      'msDS-IsEnabled': 'TRUE',
    });

    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const unique = byId(report, 'ad.drs-unique');
    expect(unique.status).toBe('fail');
    expect(unique.detail).toContain('2 msDS-DeviceRegistrationService objects');
    expect(unique.detail).toContain(service);
    expect(unique.detail).toContain(duplicate);
    expect(unique.fix).toContain(`Keep ${service} and delete the duplicate`);
    expect(unique.fix).toContain(`'${duplicate}'`);
    expect(byId(report, 'ad.drs-object').status).toBe('pass');

    // init-ad still works on the canonical object, and says so.
    const again = await dwb(config, ['init-ad', ...ADMIN]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      `Warning: the configuration NC has other msDS-DeviceRegistrationService objects: ${duplicate}`,
    );
  });
});

describe('msDS-DeviceLocation broken', () => {
  const lab = useDc();
  let connector: LabUser;
  let config: LabConfig;
  const { service } = registration('CN=Configuration,DC=corp,DC=example,DC=test');
  const containerDn = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';

  beforeAll(async () => {
    connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    config = writeLabConfig(lab.dc, connector);
    expect((await dwb(config, ['init-ad', ...ADMIN])).code).toBe(0);
  });

  it('pointing at an object of another class: ad.device-location fails; init-ad refuses; recreating fixes it', async () => {
    // msDS-DeviceLocation is system-only: a DRS object that points elsewhere is made by hand, at creation.
    await lab.admin.del(service);
    await lab.admin.add(service, {
      objectClass: 'msDS-DeviceRegistrationService',
      'msDS-DeviceLocation': `CN=Users,${lab.dc.forest.domainDn}`,
      'msDS-IsEnabled': 'TRUE',
    });
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const location = byId(report, 'ad.device-location');
    expect(location.status).toBe('fail');
    expect(location.detail).toBe(
      `msDS-DeviceLocation names CN=Users,${lab.dc.forest.domainDn}, which is a container, not an msDS-DeviceContainer`,
    );
    expect(location.fix).toContain(`Delete ${service}`);
    expect(location.fix).toContain('device-writeback init-ad');

    const before = await dumpDirectory(lab.dc);
    const refused = await dwb(config, ['init-ad', ...ADMIN]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('DWB_AD_DRS_BROKEN');
    expect(refused.stderr).toContain('system-only');
    expect(await dumpDirectory(lab.dc)).toBe(before);

    await lab.admin.del(service); // the fix, as an administrator follows it
    const fixed = await dwb(config, ['init-ad', ...ADMIN]);
    expect(fixed.code).toBe(0);
    expect((await checkJson(config)).report.ok).toBe(true);
  });

  it('naming a deleted container (the nearest to "emptied": AD refuses to empty a mandatory attribute)', async () => {
    // Samba, like AD, rejects removing msDS-DeviceLocation (mandatory and system-only, even for the
    // system); deleting the container leaves the value pointing at its tombstone.
    await lab.admin.del(containerDn);
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const location = byId(report, 'ad.device-location');
    expect(location.status).toBe('fail');
    expect(location.detail).toMatch(
      /^msDS-DeviceLocation names a deleted object \(CN=RegisteredDevices\\0ADEL:[0-9a-f-]+,CN=Deleted Objects,DC=corp,DC=example,DC=test\): the device container was deleted$/,
    );
    expect(location.fix).toContain(`Delete ${service}`);
    expect(byId(report, 'ad.container-permissions').status).toBe('fail');

    await lab.admin.del(service);
    expect((await dwb(config, ['init-ad', ...ADMIN])).code).toBe(0);
    expect((await checkJson(config)).report.ok).toBe(true);
  });

  it('naming another device container: init-ad refuses to make a second configuration; check warns about ad.domain', async () => {
    const other = `CN=OtherDevices,${lab.dc.forest.domainDn}`;
    await lab.admin.add(other, { objectClass: 'msDS-DeviceContainer' });
    await lab.admin.del(service);
    await lab.admin.add(service, {
      objectClass: 'msDS-DeviceRegistrationService',
      'msDS-DeviceLocation': other,
      'msDS-IsEnabled': 'TRUE',
    });
    const refused = await dwb(config, ['init-ad', ...ADMIN]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `DWB_AD_DRS_ELSEWHERE: the forest's DeviceRegistrationService (${service}) already names the device container ${other}`,
    );
    const location = byId((await checkJson(config)).report, 'ad.device-location');
    expect(location.status).toBe('warn');
    expect(location.detail).toContain(`ad.domain is corp.example.test; devices are written to ${other}`);
  });
});

describe('ad.connect failures and state.writable', () => {
  const lab = useDc();
  let connector: LabUser;

  beforeAll(async () => {
    connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
  });

  it('a wrong connector password fails ad.connect with the cause, skips the rest, and leaks nothing', async () => {
    const config = writeLabConfig(lab.dc, connector, { password: 'Wrong-Pa55word-zz9' });
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const connect = byId(report, 'ad.connect');
    expect(connect.status).toBe('fail');
    expect(connect.detail).toBe(
      `${lab.dc.url}: ${lab.dc.address}:636 refused the credentials (invalid credentials).`,
    );
    expect(connect.fix).toContain('ad.bindDn');
    expect(byId(report, 'ad.schema')).toMatchObject({
      status: 'skip',
      detail: 'skipped: no connection to Active Directory (see ad.connect)',
    });
    expect(leakedSecrets(result, ['Wrong-Pa55word-zz9', CONNECTOR_PASSWORD])).toEqual([]);
  });

  it('a CA that did not issue the DC certificate fails ad.connect with the TLS cause', async () => {
    const dir = writeLabConfig(lab.dc, connector).dir;
    const otherCa = path.join(dir, 'other-ca.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      path.join(dir, 'other-ca-key.pem'),
      '-out',
      otherCa,
      '-days',
      '1',
      '-subj',
      '/CN=Some other CA',
    ]);
    const config = writeLabConfig(lab.dc, connector, { caFile: otherCa });
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const connect = byId(report, 'ad.connect');
    expect(connect.status).toBe('fail');
    expect(connect.detail).toContain(`TLS with ${lab.dc.address}:636 failed`);
    expect(connect.detail).toMatch(/certificate/i);
    expect(connect.fix).toContain('ad.caFile');
    const human = await dwb(config, ['check']);
    expect(human.stdout).toMatch(/✖\s+ad\.connect\s+fail/);
    expect(leakedSecrets(result, [CONNECTOR_PASSWORD])).toEqual([]);
  });

  it('state.writable fails when the folder of state.sqlite does not exist, and passes otherwise', async () => {
    const good = writeLabConfig(lab.dc, connector);
    expect(byId((await checkJson(good)).report, 'state.writable')).toMatchObject({ status: 'pass' });
    const bad = writeLabConfig(lab.dc, connector, {
      yaml: `ad:\n  url: ${lab.dc.url}\n  bindDn: "${connector.dn}"\n  password: { env: DWB_AD_PASSWORD }\n  caFile: ${lab.dc.caFile}\nstate:\n  sqlite: /nonexistent-dwb/state.db\n`,
    });
    const state = byId((await checkJson(bad)).report, 'state.writable');
    expect(state.status).toBe('fail');
    expect(state.detail).toBe('the folder /nonexistent-dwb of state.sqlite does not exist');
  });
});
