// init-ad --admin in every form an administrator types (issue 13, item 1), through the CLI against a
// real Samba DC: a bare sAMAccountName (looked up in --domain / ad.domain, or the forest root), also
// from DWB_ADMIN_USER, DOMAIN\name, UPN and DN; a wrong password says what was tried.
import { beforeAll, describe, expect, it } from 'vitest';
import { dwb, leakedSecrets, writeLabConfig, type LabConfig } from '../support/forest.js';
import { addUser, useDc, type LabUser } from '../support/samba.js';

const lab = useDc();
let connector: LabUser;
let withDomain: LabConfig;
let withoutDomain: LabConfig;

interface InitAdJson {
  dryRun: boolean;
  domain: string;
  connector: { dn: string };
  changes: { action: string; dn: string }[];
}

function prepared(stdout: string): InitAdJson {
  return JSON.parse(stdout) as InitAdJson;
}

beforeAll(async () => {
  connector = await addUser(lab, 'svc-admin-forms', 'Conn-Pa55word!-adm1');
  withDomain = writeLabConfig(lab.dc, connector);
  withoutDomain = writeLabConfig(lab.dc, connector, { domain: null });
});

describe('init-ad --admin', () => {
  it('a bare sAMAccountName binds (looked up in ad.domain, and in the forest root without one)', async () => {
    for (const config of [withDomain, withoutDomain]) {
      const r = await dwb(config, ['init-ad', '--admin', 'Administrator', '--dry-run', '--json']);
      expect(r.stderr).not.toContain('DWB_AD_BIND_FAILED');
      expect(r.code).toBe(0);
      expect(prepared(r.stdout)).toMatchObject({ dryRun: true, domain: lab.dc.forest.domain });
    }
  });

  it('DWB_ADMIN_USER takes the same forms', async () => {
    const r = await dwb(withoutDomain, ['init-ad', '--dry-run', '--json'], {
      DWB_ADMIN_USER: 'Administrator',
    });
    expect(r.code).toBe(0);
    expect(prepared(r.stdout).connector.dn).toBe(connector.dn);
  });

  it('DOMAIN\\name, UPN and DN bind as before', async () => {
    const forms = [
      `${lab.dc.forest.netbios}\\Administrator`,
      `Administrator@${lab.dc.forest.domain}`,
      lab.dc.adminDn,
    ];
    for (const admin of forms) {
      const r = await dwb(withDomain, ['init-ad', '--admin', admin, '--dry-run', '--json']);
      expect({ admin, code: r.code, stderr: r.stderr }).toMatchObject({ admin, code: 0 });
    }
  });

  it('a bare name binds through its implicit UPN even when its userPrincipalName is something else', async () => {
    const other = await addUser(lab, 'eadmin-upn', 'Eadmin-Pa55word!-u2');
    await lab.admin.modify(other.dn, [
      { operation: 'replace', type: 'userPrincipalName', values: ['someone.else@corp.example.test'] },
    ]);
    const r = await dwb(withDomain, ['init-ad', '--admin', 'eadmin-upn', '--dry-run', '--json'], {
      DWB_ADMIN_PASSWORD: other.password,
    });
    expect(r.stderr).not.toContain('DWB_AD_BIND_FAILED');
    expect(r.code).toBe(0);
  });

  it('applies the preparation as a bare sAMAccountName, and a second run changes nothing', async () => {
    const first = await dwb(withDomain, ['init-ad', '--admin', 'Administrator', '--json']);
    expect(first.code).toBe(0);
    expect(prepared(first.stdout).changes.some((c) => c.action === 'create')).toBe(true);
    const again = await dwb(withDomain, ['init-ad', '--admin', 'Administrator', '--json']);
    expect(prepared(again.stdout).changes.every((c) => c.action === 'none')).toBe(true);
  });

  it('a wrong password names the administrator and the name that was tried, and leaks nothing', async () => {
    const r = await dwb(withoutDomain, ['init-ad', '--admin', 'Administrator', '--dry-run'], {
      DWB_ADMIN_PASSWORD: 'Wrong-Pa55word-9z',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DWB_AD_BIND_FAILED');
    expect(r.stderr).toContain(
      `for the administrator Administrator (bound as Administrator@${lab.dc.forest.domain}: a bare name is looked up in ${lab.dc.forest.domain} (the forest root domain))`,
    );
    expect(leakedSecrets(r, ['Wrong-Pa55word-9z', lab.dc.adminPassword])).toEqual([]);
  });
});
