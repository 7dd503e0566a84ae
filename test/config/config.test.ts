import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { DwbError, ExitCode } from '../../src/errors.js';

const minimal = `
ad:
  url: ldaps://dc1.corp.example.test
  bindDn: CN=svc-writeback,CN=Users,DC=corp,DC=example,DC=test
  password: { env: DWB_AD_PASSWORD }
`;

function fail(text: string): DwbError {
  try {
    parseConfig(text, '/etc/dwb/device-writeback.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(DwbError);
    return err as DwbError;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('fills the SPEC defaults', () => {
    const config = parseConfig(minimal, '/etc/dwb/device-writeback.yaml');
    expect(config.writeback).toMatchObject({
      intervalSeconds: 5,
      fullEverySeconds: 86400,
      deleteThreshold: 500,
    });
    expect(config.writeback.trustTypes).toEqual(['Workplace', 'AzureAd', 'ServerAd']);
    expect(config.web.listen).toBe('127.0.0.1:8080');
    expect(config.forests[0]!.ad.startTls).toBe(false);
    expect(config.forests[0]!.ad.insecureSkipVerify).toBe(false);
    expect(config.state.sqlite).toBe('/etc/dwb/device-writeback.db');
    expect(config.entra).toBeUndefined();
  });

  it('resolves relative paths against the configuration file', () => {
    const config = parseConfig(
      `${minimal}  caFile: ./ca.pem\nstate:\n  sqlite: data/dwb.db\n`,
      '/etc/dwb/device-writeback.yaml',
    );
    expect(config.forests[0]!.ad.caFile).toBe('/etc/dwb/ca.pem');
    expect(config.state.sqlite).toBe('/etc/dwb/data/dwb.db');
  });

  it('names an unknown key with its path (exit 2)', () => {
    const err = fail(`${minimal}  pasword: x\n`);
    expect(err.code).toBe('DWB_CONFIG_INVALID');
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toContain('ad.pasword: unknown key');
  });

  it('names a missing key', () => {
    const err = fail('ad:\n  url: ldaps://dc1\n  password: { env: X }\n');
    expect(err.message).toMatch(/ad\.bindDn: missing required key/);
  });

  it('names a wrong type and what is expected', () => {
    const err = fail(`${minimal}writeback:\n  intervalSeconds: soon\n`);
    expect(err.message).toMatch(/writeback\.intervalSeconds: .*expected number/);
    const err2 = fail(`${minimal}writeback:\n  trustTypes: [Workplace, Hybrid]\n`);
    expect(err2.message).toMatch(/writeback\.trustTypes\[1\]/);
  });

  it('reads writeback.scope: defaults off, group ids lower-cased', () => {
    expect(parseConfig(minimal, '/etc/dwb/device-writeback.yaml').writeback.scope).toEqual({
      managedOnly: false,
      compliantOnly: false,
      requireOnPremisesOwner: false,
    });
    const config = parseConfig(
      `${minimal}writeback:\n  scope:\n    operatingSystems: [Windows, macOS]\n    compliantOnly: true\n    groups: [0E7C1F60-1111-2222-3333-444455556666]\n`,
      '/etc/dwb/device-writeback.yaml',
    );
    expect(config.writeback.scope).toMatchObject({
      operatingSystems: ['Windows', 'macOS'],
      compliantOnly: true,
      managedOnly: false,
      groups: ['0e7c1f60-1111-2222-3333-444455556666'],
    });
  });

  it('names each wrong key of writeback.scope', () => {
    const err = fail(
      `${minimal}writeback:\n  scope:\n    groups: [0e7c1f60-1111-2222-3333-444455556666, pilot-group, 0E7C1F60-1111-2222-3333-444455556666]\n    operatingSystems: []\n    managed: true\n    compliantOnly: yes please\n`,
    );
    expect(err.code).toBe('DWB_CONFIG_INVALID');
    expect(err.message).toMatch(/writeback\.scope\.groups\[1\]: not a GUID/);
    expect(err.message).toMatch(/writeback\.scope\.operatingSystems: list at least one/);
    expect(err.message).toMatch(/writeback\.scope\.managed: unknown key/);
    expect(err.message).toMatch(/writeback\.scope\.compliantOnly: .*expected boolean/);
    const twice = fail(
      `${minimal}writeback:\n  scope:\n    groups: [0e7c1f60-1111-2222-3333-444455556666, 0E7C1F60-1111-2222-3333-444455556666]\n`,
    );
    expect(twice.message).toMatch(/writeback\.scope\.groups\[1\]: the same group as groups\[0\]/);
  });

  it('refuses a plain-text secret and says why', () => {
    const err = fail(minimal.replace('{ env: DWB_AD_PASSWORD }', 'hunter2hunter2'));
    expect(err.code).toBe('DWB_SECRET_PLAIN');
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toContain('ad.password');
    expect(err.message).not.toContain('hunter2hunter2');
    expect(err.fix).toMatch(/\{ env: NAME \}/);
  });

  it('reports invalid YAML', () => {
    expect(fail('ad: [unclosed\n').code).toBe('DWB_CONFIG_PARSE');
  });

  it('requires a client secret or certificate for entra', () => {
    const err = fail(`${minimal}entra:\n  tenantId: t\n  clientId: c\n`);
    expect(err.message).toMatch(/entra\.clientSecret: one of clientSecret or clientCertificate/);
  });

  it('reads secrets from env and file only when used, and never prints them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-cfg-'));
    writeFileSync(path.join(dir, 'pw'), 's3cret-from-file\n');
    const config = parseConfig(
      minimal.replace('{ env: DWB_AD_PASSWORD }', '{ file: pw }'),
      path.join(dir, 'c.yaml'),
    );
    expect(config.forests[0]!.ad.password.reveal()).toBe('s3cret-from-file');
    expect(JSON.stringify(config)).not.toContain('s3cret-from-file');
    const missing = parseConfig(minimal, path.join(dir, 'c.yaml'));
    delete process.env.DWB_AD_PASSWORD;
    expect(() => missing.forests[0]!.ad.password.reveal()).toThrow(/DWB_AD_PASSWORD is not set/);
  });
});
