// Would AD FS accept a device certificate ("IssuedByDrs")? Each outcome with real certificates:
// issued by a cloud issuer, by another CA, by a CA with the same name but another key, expired, not
// yet valid, issued by an expired issuer, with the cloud DRS disabled, and without any issuer.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCloudIssuer, type RegistrationServiceSettings } from '../../src/ad/registration-service.js';
import { judgeDeviceCertificate } from '../../src/claims/issuer-chain.js';
import { readCloudIssuerFiles } from '../../src/prepare/cloud-issuer.js';
import { makeDeviceCertificate, makeIssuer, type TestCertificateFile } from '../support/issuer.js';

const DRS =
  'CN=DeviceRegistrationService,CN=Device Registration Services,CN=Device Registration Configuration,CN=Services,CN=Configuration,DC=corp,DC=example,DC=test';

const tenant = makeIssuer('chain-tenant');
const second = makeIssuer('chain-second');
const stranger = makeIssuer('chain-stranger');
const impostor = makeIssuer('chain-impostor', { tenant: 'chain-tenant' }); // same name as `tenant`
const oldIssuer = makeIssuer('chain-old', { startedDaysAgo: 800, validDays: 730 });

function settings(
  issuers: TestCertificateFile[],
  cloudIsEnabled: string | null = 'TRUE',
): RegistrationServiceSettings {
  return {
    deviceLocation: 'CN=RegisteredDevices,DC=corp,DC=example,DC=test',
    isEnabled: 'TRUE',
    inactivityPeriod: '0',
    cloudIsEnabled: cloudIsEnabled ?? undefined,
    cloudIssuers: issuers.map((i) => decodeCloudIssuer(i.der)),
    madeByAdfs: false,
  };
}

const x509 = (c: TestCertificateFile) => new X509Certificate(c.certPem);

describe('judgeDeviceCertificate', () => {
  it('accepts a certificate issued by one of the cloud issuers, and says which', () => {
    const device = makeDeviceCertificate('chain-ok', second);
    const trust = judgeDeviceCertificate(x509(device), {
      serviceDn: DRS,
      settings: settings([tenant, second]),
    });
    expect(trust).toMatchObject({
      outcome: 'issued-by-drs',
      accepted: true,
      reason: null,
      issuedBy: {
        subject: 'OU=test tenant chain-second, CN=MS-Organization-Access',
        thumbprint: second.thumbprint,
      },
    });
    expect(trust.verdict).toMatch(
      /^Issued by the cloud DRS issuer OU=test tenant chain-second, CN=MS-Organization-Access \(thumbprint [0-9A-F]{40}\) and valid until .*: AD FS accepts it as a device certificate\.$/,
    );
  });

  it('refuses a certificate of another issuer, naming it and the cloud issuers', () => {
    const trust = judgeDeviceCertificate(x509(makeDeviceCertificate('chain-other', stranger)), {
      serviceDn: DRS,
      settings: settings([tenant]),
    });
    expect(trust).toMatchObject({ outcome: 'other-issuer', accepted: false, issuedBy: null });
    expect(trust.verdict).toBe(
      'This certificate was issued by OU=test tenant chain-stranger, CN=MS-Organization-Access, which is none of the 1 cloud issuer in msDS-CloudIssuerPublicCertificates (OU=test tenant chain-tenant, CN=MS-Organization-Access): AD FS would refuse it at the TLS client-certificate step (certificate validation "IssuedByDrs") and issue no device claims, whatever the device object says.',
    );
  });

  it('refuses a certificate whose issuer has the right name but another key', () => {
    const trust = judgeDeviceCertificate(x509(makeDeviceCertificate('chain-forged', impostor)), {
      serviceDn: DRS,
      settings: settings([tenant]),
    });
    expect(trust.outcome).toBe('other-issuer');
    expect(trust.reason).toContain(
      `its signature does not verify with the key of that cloud issuer (thumbprint ${tenant.thumbprint})`,
    );
  });

  it('refuses an expired certificate and one not valid yet, though they chain', () => {
    const expired = judgeDeviceCertificate(
      x509(makeDeviceCertificate('chain-expired', tenant, { startedDaysAgo: 30, validDays: 10 })),
      { serviceDn: DRS, settings: settings([tenant]) },
    );
    expect(expired).toMatchObject({
      outcome: 'expired',
      accepted: false,
      issuedBy: { thumbprint: tenant.thumbprint },
    });
    expect(expired.verdict).toMatch(
      /^This certificate expired on .*: AD FS refuses an expired client certificate/,
    );
    const early = judgeDeviceCertificate(
      x509(makeDeviceCertificate('chain-early', tenant, { startedDaysAgo: -5 })),
      { serviceDn: DRS, settings: settings([tenant]) },
    );
    expect(early.outcome).toBe('not-yet-valid');
  });

  it('refuses a certificate of an expired issuer', () => {
    const trust = judgeDeviceCertificate(
      x509(makeDeviceCertificate('chain-of-old', oldIssuer, { startedDaysAgo: 100, validDays: 365 })),
      { serviceDn: DRS, settings: settings([oldIssuer]) },
    );
    expect(trust.outcome).toBe('issuer-expired');
  });

  it('refuses when msDS-CloudIsEnabled is not TRUE, when there is no issuer, and without a service object', () => {
    const device = x509(makeDeviceCertificate('chain-disabled', tenant));
    expect(
      judgeDeviceCertificate(device, { serviceDn: DRS, settings: settings([tenant], 'FALSE') }).reason,
    ).toContain('but msDS-CloudIsEnabled is FALSE, not TRUE');
    expect(
      judgeDeviceCertificate(device, { serviceDn: DRS, settings: settings([tenant], null) }).outcome,
    ).toBe('cloud-disabled');
    expect(judgeDeviceCertificate(device, { serviceDn: DRS, settings: settings([]) })).toMatchObject({
      outcome: 'no-cloud-issuer',
      reason: expect.stringContaining('add it with init-ad --cloud-issuer'),
    });
    expect(judgeDeviceCertificate(device, { serviceDn: DRS }).outcome).toBe('no-registration-service');
  });

  it('skips a value that is not a certificate', () => {
    const values = settings([tenant]);
    values.cloudIssuers.unshift(decodeCloudIssuer(Buffer.from('not a certificate')));
    const trust = judgeDeviceCertificate(x509(makeDeviceCertificate('chain-skip', tenant)), {
      serviceDn: DRS,
      settings: values,
    });
    expect(trust.outcome).toBe('issued-by-drs');
  });

  it('an Ed25519 issuer with a multi-valued RDN, made by openssl, is read and verified the same way', () => {
    // The emulator's DRS signs with Ed25519 under the RDN real device certificates name; openssl here.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-ed25519-'));
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run([
      'req',
      '-x509',
      '-newkey',
      'ed25519',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '30',
      '-subj',
      '/DC=net+DC=windows+CN=MS-Organization-Access+OU=82dbaca4-3e81-46ca-9c73-0950c1eaca97',
      '-multivalue-rdn',
      '-config',
      '/dev/null',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyCertSign,cRLSign',
      '-addext',
      'subjectKeyIdentifier=hash',
    ]);
    run([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'device.key',
      '-out',
      'device.csr',
      '-subj',
      '/CN=11111111-2222-4333-8444-000000000001',
      '-config',
      '/dev/null',
    ]);
    writeFileSync(
      path.join(dir, 'ext'),
      'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n',
    );
    run([
      'x509',
      '-req',
      '-in',
      'device.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'device.pem',
      '-days',
      '10',
      '-extfile',
      'ext',
    ]);
    const [issuer] = readCloudIssuerFiles([path.join(dir, 'ca.pem')]);
    expect(issuer!.facts.subject).toMatch(
      /^DC=net \+ DC=windows \+ CN=MS-Organization-Access \+ OU=82dbaca4/,
    );
    const registration = {
      serviceDn: DRS,
      settings: { ...settings([]), cloudIssuers: [decodeCloudIssuer(issuer!.der)] },
    };
    const device = new X509Certificate(readFileSync(path.join(dir, 'device.pem')));
    expect(judgeDeviceCertificate(device, registration).outcome).toBe('issued-by-drs');
    expect(
      judgeDeviceCertificate(x509(makeDeviceCertificate('chain-not-ed', tenant)), registration).outcome,
    ).toBe('other-issuer');
  });
});
