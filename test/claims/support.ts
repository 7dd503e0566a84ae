// Device certificates made with openssl (the raw tool), for the claims tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  pem: string;
}

export function makeCertificate(commonName: string, key: 'rsa' | 'ec' = 'rsa'): TestCertificate {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-cert-'));
  const keyFile = path.join(dir, 'device-key.pem');
  const certFile = path.join(dir, 'device.pem');
  const newkey =
    key === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...newkey,
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '30',
      '-subj',
      `/CN=${commonName}`,
    ],
    {
      stdio: 'ignore',
    },
  );
  return { certFile, keyFile, pem: readFileSync(certFile, 'utf8') };
}

/** openssl's own view: SHA-1 fingerprint (hex, upper-case) and the public key in the forms that get hashed. */
export function opensslView(cert: TestCertificate): {
  thumbprint: string;
  spkiDer: Buffer;
  rsaPublicKeyDer?: Buffer;
} {
  const fingerprint = execFileSync(
    'openssl',
    ['x509', '-in', cert.certFile, '-noout', '-fingerprint', '-sha1'],
    { encoding: 'utf8' },
  );
  const thumbprint = fingerprint.split('=')[1]!.trim().replace(/:/g, '').toUpperCase();
  const pubPem = execFileSync('openssl', ['x509', '-in', cert.certFile, '-noout', '-pubkey']);
  const spkiDer = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pubPem });
  let rsaPublicKeyDer: Buffer | undefined;
  try {
    rsaPublicKeyDer = execFileSync('openssl', ['rsa', '-pubin', '-RSAPublicKey_out', '-outform', 'DER'], {
      input: pubPem,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
  } catch {
    rsaPublicKeyDer = undefined;
  }
  return { thumbprint, spkiDer, rsaPublicKeyDer };
}
