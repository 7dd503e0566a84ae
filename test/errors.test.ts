import { describe, expect, it } from 'vitest';
import { DwbError, errorCatalog, ExitCode } from '../src/errors.js';

describe('error registry', () => {
  it('every code has a fix and an exit code of SPEC §3', () => {
    for (const [code, def] of Object.entries(errorCatalog)) {
      expect(code).toMatch(/^DWB_[A-Z_]+$/);
      expect(def.fix.length).toBeGreaterThan(20);
      expect(Object.values(ExitCode)).toContain(def.exit);
    }
    const err = new DwbError('DWB_AD_TLS_REQUIRED', 'plain LDAP');
    expect(err.exitCode).toBe(2);
    expect(err.describe()).toMatch(/^DWB_AD_TLS_REQUIRED: plain LDAP\n {2}What to do: /);
  });
});
