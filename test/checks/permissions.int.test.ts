// The permission checks measure the connector's real rights: remove them (with Samba's own tools,
// not this product's codec) and both checks fail; init-ad puts back exactly what is missing.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SambaDc } from '../../src/lab/samba.js';
import { addUser, sambaTool, useDc, type LabUser } from '../support/samba.js';
import { writeFileSync } from 'node:fs';
import { byId, checkJson, dwb, leakedSecrets, writeLabConfig, type LabConfig } from '../support/forest.js';

const run = promisify(execFile);
const CONNECTOR_PASSWORD = 'Conn-Pa55word!-perm1';

/** The DACL of an object in SDDL, as samba-tool prints it. */
async function sddlOf(dc: SambaDc, dn: string): Promise<string> {
  const out = await sambaTool(dc, ['dsacl', 'get', `--objectdn=${dn}`]);
  return out
    .split('\n')
    .find((l) => l.startsWith('O:'))!
    .trim();
}

/** Replaces the DACL of an object through Samba's Python bindings (SD-flags: DACL only). */
async function setDacl(dc: SambaDc, dn: string, sddl: string): Promise<void> {
  const script = `
import sys, ldb
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
from samba.dcerpc import security
from samba.ndr import ndr_pack
lp = LoadParm(); lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], lp=lp, session_info=system_session())
sd = security.descriptor.from_sddl(sys.argv[4], security.dom_sid(sys.argv[5]))
m = ldb.Message(); m.dn = ldb.Dn(db, sys.argv[3])
m["nTSecurityDescriptor"] = ldb.MessageElement([ndr_pack(sd)], ldb.FLAG_MOD_REPLACE, "nTSecurityDescriptor")
db.modify(m, controls=["sd_flags:1:4"])
`;
  await run('/usr/bin/python3', [
    '-c',
    script,
    path.join(dc.dir, 'etc', 'smb.conf'),
    path.join(dc.dir, 'private', 'sam.ldb'),
    dn,
    sddl,
    dc.domainSid,
  ]);
}

/** The DACL part of an SDDL string, with every ACE naming `sid` removed. */
function withoutTrustee(sddl: string, sid: string): string {
  const start = sddl.indexOf('D:');
  const end = sddl.indexOf('S:', start);
  const dacl = sddl.slice(start, end < 0 ? undefined : end);
  return dacl.replace(new RegExp(`\\([^)]*;${sid}\\)`, 'g'), '');
}

describe('connector rights removed, then restored by init-ad', () => {
  const lab = useDc();
  let connector: LabUser;
  let config: LabConfig;
  const admin = ['--admin', 'Administrator@corp.example.test'];

  beforeAll(async () => {
    connector = await addUser(lab, 'svc-writeback', CONNECTOR_PASSWORD);
    config = writeLabConfig(lab.dc, connector);
    const prepared = await dwb(config, ['init-ad', ...admin]);
    expect(prepared.code).toBe(0);
  });

  it('both permission checks pass after init-ad', async () => {
    const { report } = await checkJson(config);
    expect(byId(report, 'ad.container-permissions').status).toBe('pass');
    expect(byId(report, 'ad.config-permissions').status).toBe('pass');
  });

  it('fail when the connector ACEs are gone (and Authenticated Users may not read the configuration)', async () => {
    const container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
    const configuration = `CN=Device Registration Configuration,CN=Services,${lab.dc.forest.configDn}`;
    const containerSddl = await sddlOf(lab.dc, container);
    expect(containerSddl).toContain(connector.sid);
    await setDacl(lab.dc, container, withoutTrustee(containerSddl, connector.sid));
    // A hardened configuration object: protected, only the administrators and SYSTEM.
    await setDacl(
      lab.dc,
      configuration,
      'D:P(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;EA)(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)',
    );
    expect(await sddlOf(lab.dc, container)).not.toContain(connector.sid);

    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    const onContainer = byId(report, 'ad.container-permissions');
    expect(onContainer.status).toBe('fail');
    expect(onContainer.detail).toContain(
      'create msDS-Device objects (allowedChildClassesEffective does not list msDS-Device)',
    );
    expect(onContainer.detail).toContain('delete msDS-Device objects');
    expect(onContainer.detail).toContain(
      'write msDS-DeviceID, displayName, msDS-IsEnabled, altSecurityIdentities',
    );
    expect(onContainer.fix).toContain(
      `init-ad --config ${config.file} --domain corp.example.test --connector-account`,
    );
    const onConfig = byId(report, 'ad.config-permissions');
    expect(onConfig.status).toBe('fail');
    expect(onConfig.detail).toContain(configuration);
    expect(onConfig.fix).toContain('device-writeback init-ad');
    // Everything else still passes: only the rights are missing.
    expect(byId(report, 'ad.drs-object').status).toBe('pass');
    expect(byId(report, 'ad.device-location').status).toBe('pass');
  });

  it('init-ad adds back only the missing ACEs; then both checks pass again', async () => {
    const restored = await dwb(config, ['init-ad', ...admin, '--json']);
    expect(restored.code).toBe(0);
    const changes = (
      JSON.parse(restored.stdout) as { changes: { action: string; dn: string; aces?: string[] }[] }
    ).changes;
    expect(changes.filter((c) => c.action !== 'none').map((c) => c.dn)).toEqual([
      `CN=RegisteredDevices,${lab.dc.forest.domainDn}`,
      `CN=Device Registration Configuration,CN=Services,${lab.dc.forest.configDn}`,
    ]);
    expect(leakedSecrets(restored, [CONNECTOR_PASSWORD, lab.dc.adminPassword])).toEqual([]);
    // The hardened DACL keeps its own ACEs and protection; the connector's read is added to it.
    const hardened = await sddlOf(
      lab.dc,
      `CN=Device Registration Configuration,CN=Services,${lab.dc.forest.configDn}`,
    );
    expect(hardened).toMatch(/D:P(AI)?\(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;EA\)/);
    expect(hardened).toContain(`(A;CI;RPLCLORC;;;${connector.sid})`);
    expect(hardened).not.toContain(';AU)');

    const { result, report } = await checkJson(config);
    expect(result.code).toBe(0);
    expect(byId(report, 'ad.container-permissions').status).toBe('pass');
    expect(byId(report, 'ad.config-permissions').status).toBe('pass');
  });

  it('the LDIF of --dry-run, applied with ldapmodify, grants the same rights that init-ad would', async () => {
    const container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
    await setDacl(lab.dc, container, withoutTrustee(await sddlOf(lab.dc, container), connector.sid));
    expect(byId((await checkJson(config)).report, 'ad.container-permissions').status).toBe('fail');
    const dry = await dwb(config, ['init-ad', ...admin, '--dry-run', '--json']);
    const ldifFile = path.join(config.dir, 'grant.ldif');
    writeFileSync(ldifFile, (JSON.parse(dry.stdout) as { ldif: string }).ldif);
    await run(
      'ldapmodify',
      ['-H', lab.dc.url, '-x', '-D', lab.dc.adminUpn, '-w', lab.dc.adminPassword, '-f', ldifFile],
      {
        env: { ...process.env, LDAPTLS_CACERT: lab.dc.caFile },
      },
    );
    expect(byId((await checkJson(config)).report, 'ad.container-permissions').status).toBe('pass');
    const after = await dwb(config, ['init-ad', ...admin, '--json']);
    const actions = (JSON.parse(after.stdout) as { changes: { action: string }[] }).changes.map(
      (c) => c.action,
    );
    expect(actions).toEqual(['none', 'none', 'none', 'none', 'none', 'none']);
  });
});
