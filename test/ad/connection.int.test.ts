import { describe, expect, it } from 'vitest';
import { AdConnection, str } from '../../src/ad/connection.js';
import { DwbError } from '../../src/errors.js';
import { useDc } from '../support/samba.js';

const lab = useDc();

describe('AdConnection against Samba', () => {
  it('binds over LDAPS with the CA verified and reads the RootDSE', async () => {
    const conn = await AdConnection.open(
      {
        url: lab.dc.url,
        startTls: false,
        caFile: lab.dc.caFile,
        insecureSkipVerify: false,
        timeoutSeconds: 5,
      },
      { user: lab.dc.adminUpn, password: lab.dc.adminPassword },
    );
    const root = await conn.read('', ['defaultNamingContext']);
    expect(str(root!, 'defaultNamingContext')).toBe(lab.dc.forest.domainDn);
    await conn.close();
  });

  it('refuses a wrong password with DWB_AD_BIND_FAILED', async () => {
    const err = await AdConnection.open(
      {
        url: lab.dc.url,
        startTls: false,
        caFile: lab.dc.caFile,
        insecureSkipVerify: false,
        timeoutSeconds: 5,
      },
      { user: lab.dc.adminUpn, password: 'wrong-password' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DwbError);
    expect((err as DwbError).code).toBe('DWB_AD_BIND_FAILED');
    expect((err as DwbError).message).toContain(lab.dc.address);
  });
});
