// `device-writeback claims` through the built CLI against Samba, after a real sync, in a forest
// prepared with a cloud DRS issuer: a certificate whose key is on a written device, one that is not,
// a disabled device, a duplicate key, a key with the right thumbprint but another hash, the
// SubjectPublicKeyInfo variant, lookup by deviceId, users who are and are not the registered owner;
// and whether AD FS accepts the certificate at all: issued by the cloud issuer, by another CA, expired.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guidToBytes } from '../../src/ad/guid.js';
import { readDeviceCertificate } from '../../src/claims/certificate.js';
import type { ClaimsReport } from '../../src/cli/claims.js';
import { encodeDeviceKey } from '../../src/entra/device-key.js';
import { readCloudIssuerFiles } from '../../src/prepare/cloud-issuer.js';
import { prepareForestWith } from '../../src/prepare/index.js';
import { runCli, type CliResult } from '../support/cli.js';
import { buildEngine, labConfig } from '../support/engine.js';
import { FakeSource, sampleDevice } from '../support/fake-source.js';
import { addUser, type LabUser } from '../support/samba.js';
import { makeDeviceCertificate, makeIssuer, type TestCertificateFile } from '../support/issuer.js';
import { useConsoleDc } from '../web/support/lab.js';

const lab = useConsoleDc();
const PASSWORD = 'Svc-Claims-Reader-1!';
let alice: LabUser;
let bob: LabUser;
let configFile: string;
const certs: Record<
  | 'owned'
  | 'ec'
  | 'stranger'
  | 'disabled'
  | 'duplicate'
  | 'otherHash'
  | 'spki'
  | 'otherIssuer'
  | 'expired'
  | 'unknownOtherIssuer',
  TestCertificateFile
> = {} as never;
const ids = {
  owned: sampleDevice(1).deviceId,
  ec: sampleDevice(2).deviceId,
  disabled: sampleDevice(3).deviceId,
  duplicate: sampleDevice(4).deviceId,
  otherHash: sampleDevice(5).deviceId,
  spki: sampleDevice(6).deviceId,
  otherIssuer: sampleDevice(7).deviceId,
  expired: sampleDevice(8).deviceId,
};
/** The tenant's cloud DRS issuer (written to the DRS object), and a CA that is not it. */
const tenant = makeIssuer('claims-tenant');
const otherCa = makeIssuer('claims-other-ca');
const outputs: CliResult[] = [];

async function claims(args: string[]): Promise<CliResult> {
  const r = await runCli(['claims', '--config', configFile, ...args], {
    env: { DWB_TEST_CLAIMS_PASSWORD: PASSWORD },
  });
  outputs.push(r);
  return r;
}

const key = (text: string) => [{ type: 2, identityProvider: null, key: encodeDeviceKey(text) }];

beforeAll(async () => {
  alice = await addUser(lab, 'alice', 'Alice-Owner-Pa55!');
  bob = await addUser(lab, 'bob', 'Bob-Other-Pa55!');
  // The connector account: an ordinary user (msDS-Device objects are readable by authenticated users).
  const connector = await addUser(lab, 'svc-claims', PASSWORD);
  await prepareForestWith(lab.admin, {
    connectorAccount: connector.dn,
    cloudIssuers: readCloudIssuerFiles([tenant.file]),
  });
  const issued = (id: string, issuer = tenant, options: Parameters<typeof makeDeviceCertificate>[2] = {}) =>
    makeDeviceCertificate(`claims-${id}`, issuer, { commonName: id, ...options });
  certs.owned = issued(ids.owned, tenant, { keyAlgorithm: 'rsa-2048' });
  certs.ec = issued(ids.ec);
  certs.stranger = issued('not-registered');
  certs.disabled = issued(ids.disabled);
  certs.duplicate = issued(ids.duplicate);
  certs.otherHash = issued(ids.otherHash);
  certs.spki = issued(ids.spki);
  certs.otherIssuer = issued(ids.otherIssuer, otherCa);
  certs.expired = issued(ids.expired, tenant, { startedDaysAgo: 400, validDays: 365 });
  certs.unknownOtherIssuer = issued('unknown-other', otherCa);
  const c = (t: TestCertificateFile) => readDeviceCertificate(t.certPem);
  const source = new FakeSource();
  const owner = (u: LabUser) => ({
    registeredOwners: [
      { id: u.sAMAccountName, userPrincipalName: u.userPrincipalName, onPremisesSecurityIdentifier: u.sid },
    ],
    registeredUsers: [
      { id: u.sAMAccountName, userPrincipalName: u.userPrincipalName, onPremisesSecurityIdentifier: u.sid },
    ],
  });
  source.put(
    sampleDevice(1, {
      displayName: 'Alice laptop',
      alternativeSecurityIds: key(c(certs.owned).altSecurityIdentity),
    }),
    owner(alice),
  );
  source.put(
    sampleDevice(2, {
      displayName: 'EC phone',
      operatingSystem: 'iOS',
      alternativeSecurityIds: key(c(certs.ec).altSecurityIdentity),
    }),
    owner(bob),
  );
  source.put(
    sampleDevice(3, {
      displayName: 'Lost tablet',
      accountEnabled: false,
      alternativeSecurityIds: key(c(certs.disabled).altSecurityIdentity),
    }),
    owner(alice),
  );
  source.put(
    sampleDevice(4, {
      displayName: 'Twin',
      alternativeSecurityIds: key(c(certs.duplicate).altSecurityIdentity),
    }),
    owner(alice),
  );
  const wrongHash = `X509:<SHA1-TP-PUBKEY>${c(certs.otherHash).thumbprint}${c(certs.stranger).publicKeyHash}`;
  source.put(
    sampleDevice(5, { displayName: 'Re-keyed', alternativeSecurityIds: key(wrongHash) }),
    owner(alice),
  );
  source.put(
    sampleDevice(6, {
      displayName: 'SPKI variant',
      alternativeSecurityIds: key(c(certs.spki).altSecurityIdentitySpki),
    }),
  );
  source.put(
    sampleDevice(7, {
      displayName: 'Other issuer',
      alternativeSecurityIds: key(c(certs.otherIssuer).altSecurityIdentity),
    }),
    owner(alice),
  );
  source.put(
    sampleDevice(8, {
      displayName: 'Expired certificate',
      alternativeSecurityIds: key(c(certs.expired).altSecurityIdentity),
    }),
    owner(alice),
  );
  const config = labConfig(lab.dc);
  const ctx = await buildEngine(config, source);
  try {
    const summary = await ctx.engine.sync();
    expect(summary).toMatchObject({ created: 8, quarantined: 0 });
  } finally {
    await ctx.close();
  }
  // A second object with the same key, written by hand (not by device-writeback).
  await lab.admin.add(`CN=twin-by-hand,${lab.container}`, {
    objectClass: ['top', 'msDS-Device'],
    'msDS-DeviceID': guidToBytes(randomUUID()),
    displayName: 'Twin made by hand',
    'msDS-IsEnabled': 'TRUE',
    altSecurityIdentities: c(certs.duplicate).altSecurityIdentity,
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-claims-'));
  configFile = path.join(dir, 'device-writeback.yaml');
  writeFileSync(
    configFile,
    `ad:\n  url: ${lab.dc.url}\n  bindDn: "${connector.dn}"\n  password: { env: DWB_TEST_CLAIMS_PASSWORD }\n  caFile: ${lab.dc.caFile}\n  domain: ${lab.dc.forest.domain}\nstate:\n  sqlite: ${path.join(dir, 'state.db')}\n`,
  );
});

afterAll(() => {
  for (const o of outputs) {
    for (const secret of [PASSWORD, lab.dc.adminPassword, 'Alice-Owner-Pa55!']) {
      expect(o.stdout).not.toContain(secret);
      expect(o.stderr).not.toContain(secret);
    }
  }
});

describe('claims', () => {
  it('a certificate whose key is on a written device: found, with every claim and why some are absent', async () => {
    const r = await claims(['--cert', certs.owned.file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const cert = readDeviceCertificate(certs.owned.certPem);
    expect(r.stdout).toContain(`altSecurityIdentities:  ${cert.altSecurityIdentity}`);
    expect(r.stdout).toContain(`Found: CN=${ids.owned},${lab.container}`);
    expect(r.stdout).toContain('written by device-writeback');
    expect(r.stdout).toMatch(
      new RegExp(`http://schemas.microsoft.com/2012/01/devicecontext/claims/identifier\\s+${ids.owned}`),
    );
    expect(r.stdout).toMatch(/devicecontext\/claims\/displayname\s+Alice laptop/);
    expect(r.stdout).toMatch(/devicecontext\/claims\/ostype\s+Windows/);
    expect(r.stdout).toMatch(/devicecontext\/claims\/osversion\s+10\.0\.22631\.3447/);
    expect(r.stdout).toMatch(/devicecontext\/claims\/ismanaged\s+false/);
    expect(r.stdout).toMatch(/2014\/02\/devicecontext\/claims\/isknown\s+true/);
    expect(r.stdout).toMatch(
      /2014\/09\/devicecontext\/claims\/iscompliant\s+the forest schema has no msDS-IsCompliant/,
    );
    expect(r.stdout).toMatch(
      /2014\/09\/devicecontext\/claims\/trusttype\s+the forest schema has no msDS-DeviceTrustType/,
    );
    expect(r.stdout).toMatch(/claims\/isregistereduser\s+depends on who signs in/);
    // AD FS accepts the certificate first: it chains to the cloud issuer of the DRS object.
    expect(r.stdout).toContain(
      `  cloud DRS issuers:      OU=test tenant claims-tenant, CN=MS-Organization-Access, thumbprint ${tenant.thumbprint}, valid until `,
    );
    expect(r.stdout).toContain('  issued by cloud DRS:    yes');
    expect(r.stdout).toMatch(
      /Issued by the cloud DRS issuer OU=test tenant claims-tenant, CN=MS-Organization-Access \(thumbprint [0-9A-F]{40}\) and valid until .*: AD FS accepts it as a device certificate\./,
    );
    // The product's reading: usage time from msDS-ApproximateLastLogonTimeStamp, owner from msDS-RegisteredOwner.
    expect(r.stdout).toMatch(/2014\/02\/deviceusagetime\s+2026-11-20T08:15:30\.000Z\s+\(approximate/);
    expect(r.stdout).toMatch(
      new RegExp(`devicecontext/claims/userowner\\s+${alice.sid}\\s+\\(not in Microsoft`),
    );
    expect(r.stdout).toContain('AD FS authenticates the device and issues 9 device claims.');
    expect(r.stdout).toContain("this product's reading of AD FS");
  });

  it('--user: the registered owner gets isregistereduser true, another user false', async () => {
    const owner = await claims(['--cert', certs.owned.file, '--user', alice.userPrincipalName]);
    expect(owner.code).toBe(0);
    expect(owner.stdout).toMatch(/claims\/isregistereduser\s+true/);
    expect(owner.stdout).toContain(
      `User ${alice.userPrincipalName} (${alice.sid}) is the registered owner of this device: isregistereduser = true.`,
    );
    const other = await claims(['--cert', certs.owned.file, '--user', bob.sid]);
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/claims\/isregistereduser\s+false/);
    expect(other.stdout).toContain(
      `is not the registered owner (that is ${alice.sid}): isregistereduser = false.`,
    );
    const byName = await claims(['--device', ids.ec, '--user', 'CORP\\bob']);
    expect(byName.stdout).toMatch(/claims\/isregistereduser\s+true/);
    const nobody = await claims(['--cert', certs.owned.file, '--user', 'nobody@corp.example.test']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain('DWB_NOT_FOUND');
  });

  it('an EC certificate works the same way', async () => {
    const r = await claims(['--cert', certs.ec.file, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as ClaimsReport;
    expect(report).toMatchObject({
      outcome: 'found',
      found: true,
      lookup: { by: 'certificate', matchedBy: 'publicKey' },
    });
    const claim = (name: string) => report.preview!.claims.find((c) => c.name === name)!;
    expect(claim('identifier')).toMatchObject({
      type: 'http://schemas.microsoft.com/2012/01/devicecontext/claims/identifier',
      value: ids.ec,
    });
    expect(claim('ostype').value).toBe('iOS');
    expect(claim('registrationid').value).toMatch(/^[0-9a-f-]{36}$/);
    expect(claim('iscompliant')).toMatchObject({
      value: null,
      absentReason: expect.stringContaining('schema'),
    });
  });

  it('a certificate that is on no device: a clear answer, exit 1, no stack trace', async () => {
    const r = await claims(['--cert', certs.stranger.file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `No device in ${lab.container} has altSecurityIdentities X509:<SHA1-TP-PUBKEY>`,
    );
    expect(r.stdout).toContain('AD FS would not recognise this device');
    expect(r.stderr).toBe('');
    const json = JSON.parse((await claims(['--cert', certs.stranger.file, '--json'])).stdout) as ClaimsReport;
    expect(json).toMatchObject({ outcome: 'not-found', found: false, preview: null });
  });

  it('a disabled device: found, but AD FS issues no device claims (exit 1)', async () => {
    const r = await claims(['--cert', certs.disabled.file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DISABLED');
    expect(r.stdout).toContain('issues no device claims: the device is disabled (msDS-IsEnabled is FALSE)');
    expect(r.stdout).not.toContain('Claims AD FS issues:');
    const json = JSON.parse((await claims(['--device', ids.disabled, '--json'])).stdout) as ClaimsReport;
    expect(json.outcome).toBe('disabled');
    expect(json.preview!.claims.every((c) => c.value === null)).toBe(true);
  });

  it('two objects with the same key: ambiguous, exit 1', async () => {
    const r = await claims(['--cert', certs.duplicate.file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/2 objects in .* have altSecurityIdentities/);
    expect(r.stdout).toContain('CN=twin-by-hand');
    expect(r.stdout).toContain('AD FS cannot tell which device this is');
  });

  it("the certificate's thumbprint with another key hash: not found, and says so", async () => {
    const r = await claims(['--cert', certs.otherHash.file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("this certificate's thumbprint with another public-key hash");
    expect(r.stdout).toContain(`CN=${ids.otherHash}`);
  });

  it('a key written with the SubjectPublicKeyInfo hash is found and flagged', async () => {
    const r = await claims(['--cert', certs.spki.file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('matched by the SHA-256 of the whole SubjectPublicKeyInfo');
  });

  it('--json carries the issuer check of a certificate that chains', async () => {
    const r = await claims(['--cert', certs.ec.file, '--json']);
    const report = JSON.parse(r.stdout) as ClaimsReport;
    expect(report.trust).toMatchObject({
      outcome: 'issued-by-drs',
      accepted: true,
      issuedBy: { thumbprint: tenant.thumbprint },
    });
    expect(report.cloudIssuer).toMatchObject({
      exists: true,
      cloudIsEnabled: true,
      issuers: [
        { subject: 'OU=test tenant claims-tenant, CN=MS-Organization-Access', thumbprint: tenant.thumbprint },
      ],
    });
  });

  it('a certificate from another issuer, on a written device: AD FS refuses it, no claims, exit 1', async () => {
    const r = await claims(['--cert', certs.otherIssuer.file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('  issued by cloud DRS:    no (other-issuer)');
    expect(r.stdout).toContain(`Found: CN=${ids.otherIssuer},${lab.container}`);
    expect(r.stdout).toContain(
      'This certificate was issued by OU=test tenant claims-other-ca, CN=MS-Organization-Access, which is none of the 1 cloud issuer in msDS-CloudIssuerPublicCertificates (OU=test tenant claims-tenant, CN=MS-Organization-Access): AD FS would refuse it at the TLS client-certificate step (certificate validation "IssuedByDrs") and issue no device claims, whatever the device object says.',
    );
    expect(r.stdout).not.toContain('Claims AD FS issues:');
    expect(r.stdout).toContain(
      'Not issued: all 12 device claims, because AD FS refuses the certificate (above).',
    );
    const json = JSON.parse(
      (await claims(['--cert', certs.otherIssuer.file, '--json'])).stdout,
    ) as ClaimsReport;
    expect(json).toMatchObject({
      outcome: 'untrusted',
      found: true,
      trust: { outcome: 'other-issuer', accepted: false, issuedBy: null },
      preview: { authenticated: false },
    });
    expect(json.preview!.claims.every((claim) => claim.value === null)).toBe(true);
  });

  it('an expired certificate that chains: AD FS refuses it, and says the device must register again', async () => {
    const r = await claims(['--cert', certs.expired.file, '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as ClaimsReport;
    expect(report).toMatchObject({
      outcome: 'untrusted',
      found: true,
      trust: { outcome: 'expired', accepted: false, issuedBy: { thumbprint: tenant.thumbprint } },
    });
    expect(report.answer).toMatch(
      /^This certificate expired on .*: AD FS refuses an expired client certificate/,
    );
    const human = await claims(['--cert', certs.expired.file]);
    expect(human.stdout).toContain('  issued by cloud DRS:    no (expired)');
    expect(human.stdout).toContain('the device gets a new certificate when it registers again');
  });

  it('a certificate of another issuer on no device: the refusal first, then the lookup', async () => {
    const r = await claims(['--cert', certs.unknownOtherIssuer.file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /AD FS would refuse it at the TLS client-certificate step .* Besides, no device in CN=RegisteredDevices/,
    );
  });

  it('by deviceId (msDS-DeviceID, binary): found; unknown: exit 1; not a GUID: usage error', async () => {
    const r = await claims(['--device', ids.owned.toUpperCase()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Device: msDS-DeviceID ${ids.owned}`);
    expect(r.stdout).toContain(`Found: CN=${ids.owned}`);
    const unknown = await claims(['--device', randomUUID()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('No device in');
    const bad = await claims(['--device', 'laptop-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('DWB_USAGE');
    const neither = await claims([]);
    expect(neither.code).toBe(2);
    const both = await claims(['--device', ids.owned, '--cert', certs.owned.file]);
    expect(both.code).toBe(2);
    const missingFile = await claims(['--cert', '/nonexistent/device.pem']);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).not.toMatch(/\n\s+at /);
  });
});
