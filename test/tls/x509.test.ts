// Reading certificates made elsewhere: PEM bundles and DER, and the facts of a trust decision
// (basicConstraints, keyCertSign) checked against certificates openssl made with and without them.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { certificateFacts, daysUntil, keyCertSign, parseCertificates } from '../../src/tls/x509.js';
import { makeDeviceCertificate, makeIssuer, writeTestFile } from '../support/issuer.js';

/** A self-signed certificate from openssl with the given extra extensions (-addext). */
function opensslCertificate(name: string, extensions: string[]): Buffer {
  const keyFile = writeTestFile(`${name}.key`, '');
  const certFile = writeTestFile(`${name}.pem`, '');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '30',
      '-subj',
      `/CN=${name}`,
      // No config file: only the extensions asked for (openssl's default config adds a v3_ca section).
      '-config',
      '/dev/null',
      ...extensions.flatMap((e) => ['-addext', e]),
    ],
    { stdio: 'ignore' },
  );
  return readFileSync(certFile);
}

describe('parseCertificates', () => {
  it('reads every certificate of a PEM bundle in order, and one DER certificate', () => {
    const a = makeIssuer('x509-a');
    const b = makeIssuer('x509-b');
    const bundle = parseCertificates(Buffer.from(`comment\n${a.certPem}\n${b.certPem}`));
    expect(bundle.map((c) => Buffer.from(c.raw))).toEqual([a.der, b.der]);
    expect(parseCertificates(a.der).map((c) => Buffer.from(c.raw))).toEqual([a.der]);
  });

  it('says what a file holds when it is not a certificate', () => {
    expect(() => parseCertificates(Buffer.from('hello'))).toThrow(
      'it is neither a PEM certificate nor a DER certificate',
    );
    const issuer = makeIssuer('x509-key');
    expect(() => parseCertificates(Buffer.from(issuer.keyPem))).toThrow(
      'it holds PEM data (PRIVATE KEY) but no CERTIFICATE block',
    );
    expect(() =>
      parseCertificates(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')),
    ).toThrow('its PEM CERTIFICATE block 1 is not a valid certificate');
  });
});

describe('certificateFacts', () => {
  it('a CA: cA and keyCertSign; a device certificate: neither', () => {
    const issuer = makeIssuer('x509-facts');
    const device = makeDeviceCertificate('6f4c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a5b', issuer);
    const [ca] = parseCertificates(issuer.der);
    const caFacts = certificateFacts(ca!);
    expect(caFacts).toMatchObject({
      isCa: true,
      keyCertSign: true,
      thumbprint: issuer.thumbprint,
      subject: 'OU=test tenant x509-facts, CN=MS-Organization-Access',
    });
    expect(daysUntil(caFacts.notAfter, new Date())).toBeGreaterThan(3600);
    const deviceFacts = certificateFacts(parseCertificates(device.der)[0]!);
    expect(deviceFacts).toMatchObject({ isCa: false, keyCertSign: false });
    expect(deviceFacts.issuer).toBe(caFacts.subject);
  });

  it('keyUsage as openssl writes it: absent, without keyCertSign, with it', () => {
    expect(
      keyCertSign(opensslCertificateDer('x509-no-ku', ['basicConstraints=critical,CA:TRUE'])),
    ).toBeNull();
    expect(
      keyCertSign(
        opensslCertificateDer('x509-ds', ['basicConstraints=critical,CA:TRUE', 'keyUsage=digitalSignature']),
      ),
    ).toBe(false);
    expect(
      keyCertSign(
        opensslCertificateDer('x509-kcs', [
          'basicConstraints=critical,CA:TRUE',
          'keyUsage=keyCertSign,cRLSign',
        ]),
      ),
    ).toBe(true);
  });
});

function opensslCertificateDer(name: string, extensions: string[]): Buffer {
  return Buffer.from(parseCertificates(opensslCertificate(name, extensions))[0]!.raw);
}
