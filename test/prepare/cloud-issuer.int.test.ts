// init-ad --cloud-issuer and the ad.cloud-issuer check against a real Samba AD DC (2012 R2 schema,
// which has msDS-CloudIssuerPublicCertificates and msDS-CloudIsEnabled on the DRS class), through
// the CLI: the round trip of the attribute (read back with ldapsearch and openssl, as the docs tell
// an administrator to), idempotence, values found there kept, the refusal of bad files with nothing
// written, and the check's warnings (empty, disabled, expiring, expired, not a certificate).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addUser, ldapsearch, useDc, type LabUser } from '../support/samba.js';
import { byId, checkJson, dumpDirectory, dwb, writeLabConfig, type LabConfig } from '../support/forest.js';
import { makeDeviceCertificate, makeIssuer, writeTestFile } from '../support/issuer.js';

const CONNECTOR_PASSWORD = 'Conn-Pa55word!-issuer9';
const ADMIN = ['--admin', 'Administrator@corp.example.test'];

interface InitAdJson {
  changes: { action: 'create' | 'modify' | 'none'; dn: string; detail: string }[];
  cloudIssuers: { file: string; subject: string; thumbprint: string; notAfter: string }[];
  warnings: string[];
  ldif?: string;
}

const ATTRIBUTE = 'msDS-CloudIssuerPublicCertificates';

/** The values of an attribute in ldapsearch's output (`: text`, or `:: base64` for binary as `: base64`). */
function rawLines(ldif: string, attribute: string): string[] {
  return ldif
    .split('\n')
    .filter((l) => l.toLowerCase().startsWith(`${attribute.toLowerCase()}:`))
    .map((l) => l.slice(attribute.length + 1).trim());
}

function serviceDn(configDn: string): string {
  return `CN=DeviceRegistrationService,CN=Device Registration Services,CN=Device Registration Configuration,CN=Services,${configDn}`;
}

describe('init-ad --cloud-issuer', () => {
  const lab = useDc();
  let connector: LabUser;
  let config: LabConfig;
  const tenant = makeIssuer('int-tenant', { keyAlgorithm: 'rsa-2048' });
  const next = makeIssuer('int-next');
  const aadc = makeIssuer('int-aadc');
  let drs: string;

  const values = async (attribute = ATTRIBUTE): Promise<string[]> =>
    rawLines(await ldapsearch(lab.dc, drs, ['-s', 'base', attribute]), attribute);

  beforeAll(async () => {
    connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    config = writeLabConfig(lab.dc, connector);
    drs = serviceDn(lab.dc.forest.configDn);
  });

  it('refuses files that are not an issuer certificate, before connecting, with nothing written', async () => {
    const before = await dumpDirectory(lab.dc);
    const device = makeDeviceCertificate('11111111-2222-4333-8444-000000000001', tenant);
    const cases: [string, string, string][] = [
      [
        writeTestFile('int-not-a-cert.pem', 'MS-Organization-Access\n'),
        'DWB_CLOUD_ISSUER_INVALID',
        'is not an X.509 certificate',
      ],
      ['/dev/zero', 'DWB_CLOUD_ISSUER_INVALID', 'is a character device, not a regular file'],
      [device.file, 'DWB_CLOUD_ISSUER_NOT_CA', 'is not a CA certificate'],
      [
        makeIssuer('int-expired', { startedDaysAgo: 400, validDays: 30 }).file,
        'DWB_CLOUD_ISSUER_EXPIRED',
        'expired on',
      ],
    ];
    for (const [file, code, text] of cases) {
      const r = await dwb(config, [
        'init-ad',
        ...ADMIN,
        '--cloud-issuer',
        tenant.file,
        '--cloud-issuer',
        file,
      ]);
      expect({ file, code: r.code }).toEqual({ file, code: 2 });
      expect(r.stderr).toContain(`${code}: `);
      expect(r.stderr).toContain(text);
      expect(r.stderr).toContain('init-ad did not change anything');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    // Refused before any connection: an unreachable DC changes nothing in the answer.
    const offline = writeLabConfig(lab.dc, connector, {
      yaml: `ad:\n  url: ldaps://127.0.0.1:1\n  caFile: ${lab.dc.caFile}\n`,
    });
    const early = await dwb(offline, [
      'init-ad',
      ...ADMIN,
      '--connector-account',
      'svc-writeback',
      '--cloud-issuer',
      device.file,
    ]);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('DWB_CLOUD_ISSUER_NOT_CA');
    expect(await dumpDirectory(lab.dc)).toBe(before);
  });

  it('--dry-run shows the issuer as an LDIF add of its DER bytes, and writes nothing', async () => {
    const before = await dumpDirectory(lab.dc);
    const r = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', tenant.file, '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as InitAdJson;
    expect(report.changes.map((c) => [c.action, c.dn === drs])).toEqual([
      ['create', false],
      ['modify', false],
      ['create', false],
      ['create', false],
      ['create', true],
      ['modify', true],
      ['modify', false],
    ]);
    expect(report.ldif).toContain(
      `dn: ${drs}\nchangetype: modify\nadd: ${ATTRIBUTE}\n${ATTRIBUTE}:: ${tenant.der.toString('base64')}\n-\nreplace: msDS-CloudIsEnabled\nmsDS-CloudIsEnabled: TRUE\n-`,
    );
    expect(report.ldif).toContain('msDS-MaximumRegistrationInactivityPeriod: 0');
    expect(report.cloudIssuers).toEqual([
      {
        file: tenant.file,
        subject: 'OU=test tenant int-tenant, CN=MS-Organization-Access',
        thumbprint: tenant.thumbprint,
        notAfter: expect.any(String),
      },
    ]);
    const human = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', tenant.file, '--dry-run']);
    expect(human.stdout).toContain(
      `add to ${ATTRIBUTE}: OU=test tenant int-tenant, CN=MS-Organization-Access (thumbprint ${tenant.thumbprint}); msDS-CloudIsEnabled=TRUE`,
    );
    expect(await dumpDirectory(lab.dc)).toBe(before);
  });

  it('writes each issuer as one DER value (ldapsearch and openssl read it back), cloud DRS on, cleanup off', async () => {
    const r = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', tenant.file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('4 created, 3 modified, 0 unchanged');
    expect(r.stdout).not.toContain('Warning:');
    expect(await values()).toEqual([`: ${tenant.der.toString('base64')}`]);
    expect(await values('msDS-CloudIsEnabled')).toEqual(['TRUE']);
    expect(await values('msDS-MaximumRegistrationInactivityPeriod')).toEqual(['0']);
    // The administrator's way (docs/prepare-forest.md): base64-decode the value, let openssl read it.
    const der = Buffer.from((await values())[0]!.slice(2), 'base64');
    const text = execFileSync(
      'openssl',
      ['x509', '-inform', 'der', '-noout', '-subject', '-fingerprint', '-sha1'],
      {
        input: der,
        encoding: 'utf8',
      },
    );
    expect(text).toContain('CN = MS-Organization-Access');
    expect(text.replace(/:/g, '')).toContain(tenant.thumbprint);
  });

  it('a second run with the same file changes nothing, in its report and in the directory', async () => {
    const before = await dumpDirectory(lab.dc);
    const again = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', tenant.file, '--json']);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as InitAdJson;
    expect(report.changes.map((c) => c.action)).toEqual([
      'none',
      'none',
      'none',
      'none',
      'none',
      'none',
      'none',
    ]);
    expect(report.changes[5]!.detail).toContain(`thumbprint ${tenant.thumbprint}`);
    expect(await dumpDirectory(lab.dc)).toBe(before);
    // Without the flag too: the values there are not removed.
    expect((await dwb(config, ['init-ad', ...ADMIN])).stdout).toContain('Nothing to change');
    expect(await dumpDirectory(lab.dc)).toBe(before);
  });

  it('keeps the values it finds (a forest prepared by Azure AD Connect) and adds only what is missing', async () => {
    await lab.admin.modify(drs, [{ operation: 'add', type: ATTRIBUTE, values: [aadc.der] }]);
    const r = await dwb(config, [
      'init-ad',
      ...ADMIN,
      '--cloud-issuer',
      tenant.file,
      '--cloud-issuer',
      next.file,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(the 2 values there stay)');
    expect((await values()).sort()).toEqual(
      [aadc.der, tenant.der, next.der].map((d) => `: ${d.toString('base64')}`).sort(),
    );
  });

  it("docs/prepare-forest.md's Linux commands read the values back as .cer files, and openssl verifies a device with them", async () => {
    const page = readFileSync(new URL('../../docs/prepare-forest.md', import.meta.url), 'utf8');
    const blocks = [...page.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const extract = blocks.find((b) => b.includes('sed -n'))!;
    const inspect = blocks.find((b) => b.includes('openssl verify'))!;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-doc-'));
    // The lab's DC, CA and password in place of the example's (-w instead of the -W prompt).
    const script = extract
      .replace('/etc/ssl/certs/corp-ca.pem', lab.dc.caFile)
      .replace('ldaps://dc1.corp.example.test', lab.dc.url)
      .replace(' -W ', ` -w '${lab.dc.adminPassword}' `);
    execFileSync('bash', ['-o', 'pipefail', '-c', script], { cwd: dir, stdio: 'pipe' });
    const files = readdirSync(dir)
      .filter((f) => f.startsWith('cloud-issuer-'))
      .sort();
    expect(files.map((f) => readFileSync(path.join(dir, f))).sort(Buffer.compare)).toEqual(
      [aadc.der, tenant.der, next.der].sort(Buffer.compare),
    );
    const issuerFile = files.find((f) => readFileSync(path.join(dir, f)).equals(tenant.der))!;
    writeFileSync(path.join(dir, 'ms-organization-access.cer'), readFileSync(path.join(dir, issuerFile)));
    writeFileSync(path.join(dir, 'device.cer'), makeDeviceCertificate('int-doc-device', tenant).der);
    const out = execFileSync('bash', ['-o', 'pipefail', '-c', inspect], { cwd: dir, encoding: 'utf8' });
    expect(out).toContain('CN = MS-Organization-Access');
    expect(out).toContain('CA:TRUE');
    expect(out).toContain('Certificate Sign');
    expect(out.replace(/:/g, '')).toContain(tenant.thumbprint);
    expect(out).toMatch(/: OK\n/);
    writeFileSync(path.join(dir, 'device.cer'), makeDeviceCertificate('int-doc-other', aadc).der);
    expect(() =>
      execFileSync('bash', ['-o', 'pipefail', '-c', inspect], { cwd: dir, stdio: 'pipe' }),
    ).toThrow();
  });

  describe('ad.cloud-issuer, as the connector', () => {
    it('passes listing each issuer with its subject, thumbprint and expiry', async () => {
      const { report } = await checkJson(config);
      const check = byId(report, 'ad.cloud-issuer');
      expect(check.status).toBe('pass');
      expect(check.code).toBeNull();
      expect(check.detail).toMatch(/^msDS-CloudIsEnabled = TRUE; 3 issuers: /);
      for (const issuer of [tenant, next, aadc])
        expect(check.detail).toContain(`thumbprint ${issuer.thumbprint}, expires `);
      expect(check.detail).toContain('OU=test tenant int-aadc, CN=MS-Organization-Access');
    });

    it('warns when msDS-CloudIsEnabled is not TRUE; init-ad --cloud-issuer turns it back on', async () => {
      await lab.admin.modify(drs, [{ operation: 'replace', type: 'msDS-CloudIsEnabled', values: ['FALSE'] }]);
      const check = byId((await checkJson(config)).report, 'ad.cloud-issuer');
      expect(check.status).toBe('warn');
      expect(check.code).toBe('DWB_AD_CLOUD_ISSUER_MISSING');
      expect(check.detail).toContain(
        'msDS-CloudIsEnabled is FALSE, not TRUE: AD FS does not treat the cloud Device Registration Service as enabled',
      );
      expect(check.fix).toContain('--cloud-issuer <issuer.pem>');
      const r = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', tenant.file, '--json']);
      expect((JSON.parse(r.stdout) as InitAdJson).changes[5]).toMatchObject({
        action: 'modify',
        detail: 'msDS-CloudIsEnabled was FALSE, now TRUE',
      });
      expect(byId((await checkJson(config)).report, 'ad.cloud-issuer').status).toBe('pass');
    });

    it('warns 30 days before an issuer expires, and when one has expired or is not a certificate', async () => {
      const soon = makeIssuer('int-soon', { startedDaysAgo: 350, validDays: 370 });
      const init = await dwb(config, ['init-ad', ...ADMIN, '--cloud-issuer', soon.file]);
      expect(init.code).toBe(0);
      expect(init.stdout).toMatch(
        /Warning: the cloud issuer OU=test tenant int-soon, CN=MS-Organization-Access .* expires on .* \(in 19 days\)/,
      );
      let check = byId((await checkJson(config)).report, 'ad.cloud-issuer');
      expect(check.status).toBe('warn');
      expect(check.code).toBe('DWB_AD_CLOUD_ISSUER_EXPIRING');
      expect(check.detail).toContain(
        `the issuer OU=test tenant int-soon, CN=MS-Organization-Access (thumbprint ${soon.thumbprint}) expires in 19 days`,
      );
      expect(check.fix).toContain("Add the tenant's next issuer certificate before then");

      // Values init-ad would refuse, written by hand: an expired issuer and bytes that are no certificate.
      const old = makeIssuer('int-old', { startedDaysAgo: 400, validDays: 30 });
      await lab.admin.modify(drs, [
        { operation: 'add', type: ATTRIBUTE, values: [old.der, Buffer.from('not a certificate')] },
      ]);
      check = byId((await checkJson(config)).report, 'ad.cloud-issuer');
      // several findings: the code is the first one's
      expect(check.code).toBe('DWB_AD_CLOUD_ISSUER_UNREADABLE');
      expect(check.detail).toContain('1 value is not a DER X.509 certificate, which AD FS cannot use');
      expect(check.detail).toMatch(
        /the issuer OU=test tenant int-old, CN=MS-Organization-Access \(thumbprint [0-9A-F]{40}\) expired on .*: AD FS refuses device certificates that chain only to it/,
      );
      expect(check.detail).toContain('a value of 17 bytes that is not a DER X.509 certificate');
      expect(check.fix).toContain(`ldapsearch (-b '${drs}' -s base ${ATTRIBUTE})`);
    });

    it('warns when the attribute is empty, explaining what AD FS will do', async () => {
      await lab.admin.modify(drs, [{ operation: 'delete', type: ATTRIBUTE, values: [] }]);
      const { result, report } = await checkJson(config);
      expect(result.code).toBe(0);
      const check = byId(report, 'ad.cloud-issuer');
      expect(check.status).toBe('warn');
      expect(check.code).toBe('DWB_AD_CLOUD_ISSUER_MISSING');
      expect(check.detail).toBe(
        `${drs} has no ${ATTRIBUTE}: AD FS checks that a device certificate was issued by the cloud Device Registration Service ("IssuedByDrs") against these issuers, so it would refuse the certificate of every device written here and issue no device claims`,
      );
      expect(check.fix).toContain(
        `device-writeback init-ad --config ${config.file} --domain corp.example.test --connector-account`,
      );
      expect(check.fix).toContain('--admin <enterprise-admin> --cloud-issuer <issuer.pem>');
      const human = await dwb(config, ['check']);
      expect(human.stdout).toMatch(/!\s+ad\.cloud-issuer\s+warn/);
    });
  });
});
