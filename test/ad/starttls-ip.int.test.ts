// StartTLS against a DC named by its IP address (issue 13, item 2), through `check`: the DC's
// certificate names only its own address and DNS name (no "localhost", which Node checks against when
// it is not told the host), and it must be verified against the host of ad.url.
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readTemplate, startDc, type SambaDc } from '../../src/lab/samba.js';
import { createCertificate, ExtendedKeyUsage, type KeyedCertificate } from '../../src/tls/certificates.js';
import { byId, checkJson, type LabConfig } from '../support/forest.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-starttls-ip-'));
const files = {
  caFile: path.join(dir, 'ca.pem'),
  certFile: path.join(dir, 'dc.pem'),
  keyFile: path.join(dir, 'dc-key.pem'),
};
let ca: KeyedCertificate;
let dc: SambaDc;

/** Gives the DC a certificate with exactly these names; Samba reads it when it (re)starts. */
function issueDcCertificate(names: { dnsNames?: string[]; ipAddresses?: string[] }): void {
  const cert = createCertificate({
    subject: { organization: 'device-writeback test', commonName: 'dc1.corp.example.test' },
    issuer: ca,
    keyAlgorithm: 'rsa-2048',
    validDays: 2,
    extendedKeyUsages: [ExtendedKeyUsage.serverAuth],
    ...names,
  });
  writeFileSync(files.certFile, cert.certPem);
  writeFileSync(files.keyFile, cert.keyPem, { mode: 0o600 });
}

function config(url: string, startTls: boolean): LabConfig {
  const file = path.join(
    dir,
    `${startTls ? 'starttls' : 'ldaps'}-${Math.random().toString(36).slice(2)}.yaml`,
  );
  writeFileSync(
    file,
    `ad:
  url: ${url}
  startTls: ${startTls}
  bindDn: "${dc.adminDn}"
  password: { env: DWB_AD_PASSWORD }
  caFile: ${files.caFile}
state:
  sqlite: ${path.join(dir, 'state.db')}
`,
  );
  return { dir, file, env: { DWB_AD_PASSWORD: dc.adminPassword } };
}

beforeAll(async () => {
  const unavailable = inject('sambaUnavailable');
  if (unavailable) throw new Error(`Samba AD DC tests cannot run here: ${unavailable}.`);
  ca = createCertificate({
    subject: { organization: 'device-writeback test', commonName: 'StartTLS by IP test CA' },
    certificateAuthority: true,
    keyAlgorithm: 'rsa-2048',
    validDays: 2,
  });
  writeFileSync(files.caFile, ca.certPem);
  // The DC's address is known only once it has started: start it with a certificate for every
  // loopback address, then give it one that names only its own address and DNS name.
  issueDcCertificate({
    dnsNames: ['dc1.corp.example.test'],
    ipAddresses: Array.from({ length: 254 }, (_, i) => `127.0.0.${i + 1}`),
  });
  const root = inject('sambaRoot');
  const template = { ...readTemplate(path.join(root, 'template-2012_R2')), ...files };
  dc = await startDc(template, { workDir: path.join(root, 'dcs') });
  issueDcCertificate({ dnsNames: ['dc1.corp.example.test'], ipAddresses: [dc.address] });
  await restart();
});

/** Restarts the DC; the lab waits for LDAPS (636), this test needs LDAP (389) too. */
async function restart(): Promise<void> {
  await dc.restart();
  for (let i = 0; ; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: dc.address, port: 389 });
      const done = (result: boolean): void => {
        socket.destroy();
        resolve(result);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
    if (open) return;
    if (i > 200) throw new Error(`${dc.address}:389 did not open after a restart`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterAll(async () => {
  await dc?.stop();
});

describe('StartTLS to a DC named by its IP address', () => {
  it('verifies the certificate against the address in ad.url, and binds', async () => {
    const { result, report } = await checkJson(config(`ldap://${dc.address}`, true));
    const connect = byId(report, 'ad.connect');
    expect(connect.detail).not.toContain('localhost');
    expect(connect, connect.detail).toMatchObject({ status: 'pass', code: null });
    expect(connect.detail).toContain(`connected to ${dc.address}:389 (LDAP with StartTLS`);
    expect(result.stderr).not.toContain('DWB_INTERNAL');
  });

  it('LDAPS to the same address is verified the same way', async () => {
    const { report } = await checkJson(config(`ldaps://${dc.address}`, false));
    expect(byId(report, 'ad.connect')).toMatchObject({ status: 'pass', code: null });
  });

  it('a certificate that does not name the address is refused, naming the address', async () => {
    issueDcCertificate({ dnsNames: ['dc1.corp.example.test'] });
    await restart();
    const { result, report } = await checkJson(config(`ldap://${dc.address}`, true));
    const connect = byId(report, 'ad.connect');
    expect(connect).toMatchObject({ status: 'fail', code: 'DWB_AD_TLS_FAILED' });
    expect(connect.detail).toContain(dc.address);
    expect(connect.detail).not.toContain('localhost');
    expect(result.code).toBe(1);
  });
});
