// `check --json` carries the error code of every warning and failure (SPEC §3; issue 13, item 3),
// through the CLI against a real Samba DC: a refused ldap:// names DWB_AD_TLS_REQUIRED, and every
// warn or fail names a code of the registry while pass and skip carry null.
import { describe, expect, it } from 'vitest';
import { errorCatalog } from '../../src/errors.js';
import { byId, checkJson, writeLabConfig, type CheckJson } from '../support/forest.js';
import { addUser, useDc } from '../support/samba.js';

const lab = useDc();

function codesAreConsistent(report: CheckJson): void {
  for (const c of report.checks) {
    expect(Object.keys(c)).toContain('code');
    if (c.status === 'warn' || c.status === 'fail') expect(Object.keys(errorCatalog)).toContain(c.code);
    else expect(c.code).toBeNull();
  }
}

describe('check --json codes', () => {
  it('plain ldap:// without startTls: ad.connect fails with DWB_AD_TLS_REQUIRED', async () => {
    const connector = await addUser(lab, 'svc-codes', 'Codes-Pa55word!-1');
    const config = writeLabConfig(lab.dc, connector, {
      yaml: `ad:\n  url: ldap://${lab.dc.address}\n  bindDn: "${connector.dn}"\n  password: { env: DWB_AD_PASSWORD }\nstate:\n  sqlite: /tmp/dwb-check-codes-unused.db\n`,
    });
    const { result, report } = await checkJson(config);
    expect(result.code).toBe(1);
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'fail', code: 'DWB_AD_TLS_REQUIRED' });
    expect(byId(report, 'ad.schema')).toMatchObject({ status: 'skip', code: null });
    codesAreConsistent(report);
  });

  it('an unprepared forest: each warning and failure names its code, passes carry null', async () => {
    const connector = await addUser(lab, 'svc-codes2', 'Codes-Pa55word!-2');
    const { report } = await checkJson(writeLabConfig(lab.dc, connector));
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'pass', code: null });
    // Samba's 2012 R2 schema lacks the 2016 attributes: a warning that needs nothing
    expect(byId(report, 'ad.schema')).toMatchObject({ status: 'warn', code: 'DWB_AD_SCHEMA_PARTIAL' });
    expect(byId(report, 'ad.drs-object')).toMatchObject({ status: 'fail', code: 'DWB_AD_DRS_MISSING' });
    expect(byId(report, 'ad.drs-unique')).toMatchObject({ status: 'fail', code: 'DWB_AD_DRS_MISSING' });
    codesAreConsistent(report);
  });
});
