// init-ad and check against a real Samba AD DC, through the CLI as a user runs it
// (node bin/device-writeback.js … --config <file>). Each scenario has its own DC.
import { beforeAll, describe, expect, it } from 'vitest';
import { InsufficientAccessError } from 'ldapts';
import { bufs } from '../../src/ad/connection.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { prepareForestWith } from '../../src/prepare/index.js';
import { addUser, useDc, type LabUser } from '../support/samba.js';
import {
  byId,
  checkJson,
  dumpDirectory,
  dwb,
  leakedSecrets,
  sessionAs,
  writeLabConfig,
  type LabConfig,
} from '../support/forest.js';

const CONNECTOR_PASSWORD = 'Conn-Pa55word!-7f3k';
const PLAIN_PASSWORD = 'Plain-Pa55word!-q8w2';

interface InitAdJson {
  changes: { action: 'create' | 'modify' | 'none'; dn: string; detail: string; aces?: string[] }[];
  dryRun: boolean;
  connector: { dn: string; sid: string; displayName: string };
  ldif?: string;
}

function device(id: string): Record<string, string | Buffer> {
  return {
    objectClass: 'msDS-Device',
    'msDS-DeviceID': guidToBytes(id),
    'msDS-IsEnabled': 'TRUE',
    altSecurityIdentities: 'X509:<SHA1-TP-PUBKEY>0000000000000000000000000000000000000000',
    displayName: `device ${id.slice(0, 8)}`,
  };
}

describe('init-ad on a fresh forest', () => {
  const lab = useDc();
  let connector: LabUser;
  let config: LabConfig;
  let secrets: string[];
  const admin = ['--admin', 'Administrator@corp.example.test'];

  beforeAll(async () => {
    connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    config = writeLabConfig(lab.dc, connector);
    secrets = [CONNECTOR_PASSWORD, lab.dc.adminPassword];
  });

  it('check fails before preparation, with a fix that names init-ad', async () => {
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(byId(report, 'ad.connect').status).toBe('pass');
    const drs = byId(report, 'ad.drs-object');
    expect(drs.status).toBe('fail');
    expect(drs.detail).toContain('CN=DeviceRegistrationService,CN=Device Registration Services');
    expect(drs.fix).toContain(`device-writeback init-ad --config ${config.file} --domain corp.example.test`);
    expect(byId(report, 'ad.container-permissions').status).toBe('fail');

    const human = await dwb(config, ['check']);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/✖\s+ad\.drs-object\s+fail/);
    expect(human.stdout).toMatch(/✔\s+ad\.connect\s+pass/);
    expect(human.stdout).toMatch(/-\s+entra\.connect\s+skip/);
    expect(human.stdout).toContain('fix: Run as an enterprise admin');
    expect(leakedSecrets(result, secrets)).toEqual([]);
  });

  it('--dry-run prints LDIF and SDDL and leaves the directory byte for byte unchanged', async () => {
    const before = await dumpDirectory(lab.dc);
    const text = await dwb(config, ['init-ad', ...admin, '--dry-run']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Dry run: nothing was written.');
    expect(text.stdout).toContain(
      `dn: CN=RegisteredDevices,${lab.dc.forest.domainDn}\nchangetype: add\nobjectClass: msDS-DeviceContainer`,
    );
    expect(text.stdout).toContain(`msDS-DeviceLocation: CN=RegisteredDevices,${lab.dc.forest.domainDn}`);
    expect(text.stdout).toMatch(/\(OA;;CCDC;5df2b673-6d41-4774-b3e8-d52e8ee9ff99;;S-1-5-21-[\d-]+\)/);
    expect(text.stdout).toMatch(/\(A;CI;RPLCLORC;;;S-1-5-21-[\d-]+\)/);
    const json = await dwb(config, ['init-ad', ...admin, '--dry-run', '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as InitAdJson;
    expect(report.dryRun).toBe(true);
    expect(report.changes.map((c) => c.action)).toEqual([
      'create',
      'modify',
      'create',
      'create',
      'create',
      'modify',
    ]);
    expect(report.ldif).toContain('changetype: add');
    expect(await dumpDirectory(lab.dc)).toBe(before);
    expect(leakedSecrets(text, secrets)).toEqual([]);
    expect(leakedSecrets(json, secrets)).toEqual([]);
  });

  it('prepares the forest; then every ad.* check passes (the 2012 R2 schema only warns about 2016 attributes, and the cloud issuer is not there yet)', async () => {
    const run = await dwb(config, ['init-ad', ...admin]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'Forest prepared for device writeback (domain corp.example.test, connector CORP\\svc-writeback)',
    );
    expect(run.stdout).toContain('4 created, 2 modified, 0 unchanged');
    expect(run.stdout).toContain('msDS-MaximumRegistrationInactivityPeriod=0');
    expect(run.stdout).toContain('Warning: CN=DeviceRegistrationService');
    expect(run.stdout).toContain('has no cloud DRS issuer certificate');
    expect(leakedSecrets(run, secrets)).toEqual([]);

    const { result, report } = await checkJson(config);
    expect(result.code).toBe(0);
    expect(report.ok).toBe(true);
    const warned = ['ad.schema', 'ad.cloud-issuer'];
    for (const c of report.checks.filter((c) => c.id.startsWith('ad.') && !warned.includes(c.id))) {
      expect({ id: c.id, status: c.status, detail: c.detail }).toMatchObject({ id: c.id, status: 'pass' });
    }
    expect(byId(report, 'ad.stale-cleanup').status).toBe('pass');
    expect(byId(report, 'ad.cloud-issuer').status).toBe('warn');
    const schema = byId(report, 'ad.schema');
    expect(schema.status).toBe('warn');
    expect(schema.detail).toContain('msDS-IsCompliant, msDS-DeviceTrustType');
    expect(byId(report, 'state.writable').status).toBe('pass');
    expect(leakedSecrets(result, secrets)).toEqual([]);
  });

  it('the connector can create and delete devices in the container, and create none anywhere else', async () => {
    const containerDn = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
    // A second device container that init-ad did not prepare.
    const otherDn = `CN=OtherDevices,${lab.dc.forest.domainDn}`;
    await lab.admin.add(otherDn, { objectClass: 'msDS-DeviceContainer' });
    const conn = await sessionAs(lab.dc, connector);
    try {
      const id = '0f4e2c1a-1111-4222-8333-944445555666';
      await conn.add(`CN=${id},${containerDn}`, device(id));
      await conn.modify(`CN=${id},${containerDn}`, [
        { operation: 'replace', type: 'displayName', values: ['renamed'] },
      ]);
      const written = await conn.read(`CN=${id},${containerDn}`, ['msDS-DeviceID']);
      expect(bufs(written!, 'msDS-DeviceID')[0]).toEqual(guidToBytes(id));
      await conn.del(`CN=${id},${containerDn}`);

      const elsewhere = await conn.add(`CN=${id},${otherDn}`, device(id)).catch((e: unknown) => e);
      expect(elsewhere).toBeInstanceOf(InsufficientAccessError);
      const inUsers = await conn
        .add(`CN=${id},CN=Users,${lab.dc.forest.domainDn}`, device(id))
        .catch((e: unknown) => e);
      expect(inUsers).toBeInstanceOf(Error);
    } finally {
      await conn.close();
      await lab.admin.del(otherDn);
    }
  });

  it('a second run changes nothing, in its report and in the directory', async () => {
    const before = await dumpDirectory(lab.dc);
    const again = await dwb(config, ['init-ad', ...admin, '--json']);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as InitAdJson;
    expect(report.changes.map((c) => c.action)).toEqual(['none', 'none', 'none', 'none', 'none', 'none']);
    expect(report.connector.displayName).toBe('CORP\\svc-writeback');
    expect(await dumpDirectory(lab.dc)).toBe(before);
    const text = await dwb(config, ['init-ad', ...admin]);
    expect(text.stdout).toContain('Nothing to change: the forest was already prepared.');
  });

  it('resolves the connector account from sAMAccountName, DOMAIN\\name, UPN and DN alike', async () => {
    const sids = new Set<string>();
    for (const name of [
      'svc-writeback',
      'CORP\\svc-writeback',
      'svc-writeback@corp.example.test',
      connector.dn,
    ]) {
      // In-process: the code path of the CLI, without a process per form.
      const report = await prepareForestWith(lab.admin, { connectorAccount: name, dryRun: true });
      expect(report.changes.every((c) => c.action === 'none')).toBe(true);
      sids.add(report.connector.sid);
    }
    expect([...sids]).toEqual([connector.sid]);
    const unknown = await dwb(config, ['init-ad', ...admin, '--connector-account', 'nobody-here']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('DWB_AD_ACCOUNT_NOT_FOUND');
    const badDomain = await dwb(config, ['init-ad', ...admin, '--domain', 'elsewhere.test']);
    expect(badDomain.code).toBe(2);
    expect(badDomain.stderr).toContain(
      'DWB_AD_DOMAIN_UNKNOWN: the forest corp.example.test has no domain elsewhere.test; its domains are: corp.example.test.',
    );
  });

  it('runs with only ad.url and TLS settings in the file, and refuses a missing admin password', async () => {
    const minimal = writeLabConfig(lab.dc, connector, {
      yaml: `ad:\n  url: ${lab.dc.url}\n  caFile: ${lab.dc.caFile}\n`,
    });
    const run = await dwb(minimal, ['init-ad', ...admin, '--connector-account', 'svc-writeback', '--json']);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as InitAdJson).changes.every((c) => c.action === 'none')).toBe(true);
    const noAccount = await dwb(minimal, ['init-ad', ...admin]);
    expect(noAccount.code).toBe(2);
    expect(noAccount.stderr).toContain('--connector-account');
    const noPassword = await dwb(config, ['init-ad', ...admin], { DWB_ADMIN_PASSWORD: '' });
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain('DWB_ADMIN_PASSWORD_MISSING');
    const wrong = await dwb(config, ['init-ad', ...admin], { DWB_ADMIN_PASSWORD: 'Not-The-Admin-Pa55word' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('DWB_AD_BIND_FAILED');
    expect(wrong.stderr).toContain('Check --admin');
    expect(leakedSecrets(wrong, ['Not-The-Admin-Pa55word'])).toEqual([]);
  });
});

describe('init-ad without enough rights', () => {
  const lab = useDc();

  it('a plain user gets a clear error, nothing is written, and an enterprise admin then finishes', async () => {
    const connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    const plain = await addUser(lab, 'plain-user', PLAIN_PASSWORD);
    const config = writeLabConfig(lab.dc, connector);
    // A first bind sets the user's lastLogonTimestamp; bind once so that the dumps compare only init-ad.
    await (await sessionAs(lab.dc, plain)).close();
    const before = await dumpDirectory(lab.dc);
    const denied = await dwb(config, ['init-ad', '--admin', plain.userPrincipalName], {
      DWB_ADMIN_PASSWORD: PLAIN_PASSWORD,
    });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('DWB_AD_INSUFFICIENT_RIGHTS: plain-user@corp.example.test may not:');
    expect(denied.stderr).toContain(`create msDS-DeviceContainer objects in ${lab.dc.forest.domainDn}`);
    expect(denied.stderr).toContain(`create container objects in CN=Services,${lab.dc.forest.configDn}`);
    expect(denied.stderr).toContain('Nothing was written.');
    expect(denied.stderr).toContain('Enterprise Admins');
    expect(leakedSecrets(denied, [PLAIN_PASSWORD, CONNECTOR_PASSWORD])).toEqual([]);
    expect(await dumpDirectory(lab.dc)).toBe(before);

    const done = await dwb(config, ['init-ad', '--admin', `CORP\\Administrator`]);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('4 created, 2 modified');
  });
});

describe('init-ad and check on a Windows Server 2008 R2 schema', () => {
  const lab = useDc('2008_R2');

  it('ad.schema fails explaining the 2012 R2 requirement, and init-ad refuses with nothing written', async () => {
    const connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    const config = writeLabConfig(lab.dc, connector);
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const schema = byId(report, 'ad.schema');
    expect(schema.status).toBe('fail');
    expect(schema.detail).toContain(
      'the schema has no msDS-Device, msDS-DeviceContainer, msDS-DeviceRegistrationService',
    );
    expect(schema.detail).toContain('objectVersion 47, Windows Server 2008 R2');
    expect(schema.detail).toContain('Windows Server 2012 R2 schema');
    expect(schema.fix).toContain('adprep /forestprep');
    for (const id of [
      'ad.drs-object',
      'ad.drs-unique',
      'ad.device-location',
      'ad.container-permissions',
      'ad.config-permissions',
    ]) {
      expect(byId(report, id)).toMatchObject({
        status: 'skip',
        detail: 'skipped: the schema has no device classes (see ad.schema)',
      });
    }
    const before = await dumpDirectory(lab.dc);
    const refused = await dwb(config, ['init-ad', '--admin', lab.dc.adminUpn]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('DWB_AD_SCHEMA_TOO_OLD');
    expect(refused.stderr).toContain('Windows Server 2012 R2 schema or later');
    expect(await dumpDirectory(lab.dc)).toBe(before);
  });
});
