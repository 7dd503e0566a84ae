// The pure-Node certificate writer: openssl must read and verify what it writes, and Node's TLS
// stack must trust the server certificate through `ca` alone, for every default name.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as der from '../../src/tls/der.js';
import {
  certificateThumbprint,
  createCertificateAuthority,
  ensureTlsMaterial,
  ipAddressBytes,
  issueClientCertificate,
  issueServerCertificate,
} from '../../src/tls/certificates.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function write(name: string, content: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
}

async function handshake(options: {
  cert: string;
  key: string;
  ca?: string;
  host: string;
  servername?: string;
}): Promise<string> {
  const server = https.createServer({ cert: options.cert, key: options.key }, (_req, res) =>
    res.end('hello'),
  );
  await new Promise<void>((resolve) =>
    server.listen(0, options.host === '::1' ? '::1' : '127.0.0.1', resolve),
  );
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve, reject) => {
      const req = https.get(
        { host: options.host, port, path: '/', ca: options.ca, servername: options.servername, agent: false },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('DER writer', () => {
  it('encodes the primitive types as X.690 specifies', () => {
    expect(der.integer(0).toString('hex')).toBe('020100');
    expect(der.integer(127).toString('hex')).toBe('02017f');
    expect(der.integer(128).toString('hex')).toBe('02020080');
    expect(der.integer(Buffer.from([0x00, 0x00, 0x05])).toString('hex')).toBe('020105');
    expect(der.objectIdentifier('1.2.840.113549.1.1.11').toString('hex')).toBe('06092a864886f70d01010b');
    expect(der.objectIdentifier('2.5.29.17').toString('hex')).toBe('0603551d11');
    expect(der.boolean(true).toString('hex')).toBe('0101ff');
    expect(der.nullValue().toString('hex')).toBe('0500');
    // KeyUsage digitalSignature(0) + keyCertSign(5) + cRLSign(6): one unused bit.
    expect(der.namedBits([0, 5, 6]).toString('hex')).toBe('03020186');
    expect(der.time(new Date('2030-01-02T03:04:05Z')).toString('ascii').slice(2)).toBe('300102030405Z');
    expect(der.time(new Date('2051-01-02T03:04:05Z')).toString('ascii').slice(2)).toBe('20510102030405Z');
    expect(der.octetString(Buffer.alloc(200)).subarray(0, 3).toString('hex')).toBe('0481c8');
  });

  it('reads back what it writes', () => {
    const encoded = der.sequence(der.integer(5), der.utf8String('x'));
    const outer = der.readTlv(encoded);
    expect(outer.tag).toBe(0x30);
    expect(der.children(encoded, outer).map((c) => c.tag)).toEqual([0x02, 0x0c]);
  });

  it('encodes IPv4 and IPv6 addresses for subjectAltName', () => {
    expect(ipAddressBytes('127.0.0.1').toString('hex')).toBe('7f000001');
    expect(ipAddressBytes('::1').toString('hex')).toBe('00000000000000000000000000000001');
    expect(ipAddressBytes('fe80::1:2').toString('hex')).toBe('fe800000000000000000000000010002');
    expect(ipAddressBytes('::ffff:10.0.0.1').toString('hex')).toBe('00000000000000000000ffff0a000001');
  });
});

describe('certificates', () => {
  const ca = createCertificateAuthority();
  const server = issueServerCertificate(ca, { dnsNames: ['emulator.test'], ipAddresses: ['10.20.30.40'] });

  it('issues a v3 CA and a server certificate that Node verifies', () => {
    const caCert = new X509Certificate(ca.certPem);
    const serverCert = new X509Certificate(server.certPem);
    expect(caCert.ca).toBe(true);
    expect(serverCert.ca).toBe(false);
    expect(serverCert.checkIssued(caCert)).toBe(true);
    expect(serverCert.verify(caCert.publicKey)).toBe(true);
    expect(serverCert.checkHost('localhost')).toBe('localhost');
    expect(serverCert.checkHost('emulator.test')).toBe('emulator.test');
    expect(serverCert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(serverCert.checkIP('::1')).toBeDefined();
    expect(serverCert.checkIP('10.20.30.40')).toBe('10.20.30.40');
    expect(serverCert.checkHost('other.test')).toBeUndefined();
  });

  it.skipIf(!hasOpenssl())('is read and verified by openssl x509 / verify', () => {
    const caFile = write('ca.pem', ca.certPem);
    const serverFile = write('server.pem', server.certPem);
    const text = execFileSync('openssl', ['x509', '-in', serverFile, '-noout', '-text'], {
      encoding: 'utf8',
    });
    expect(text).toContain('Version: 3 (0x2)');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toMatch(
      /DNS:localhost, DNS:emulator\.test, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10\.20\.30\.40/,
    );
    expect(text).toContain('TLS Web Server Authentication');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    const caText = execFileSync('openssl', ['x509', '-in', caFile, '-noout', '-text'], { encoding: 'utf8' });
    expect(caText).toMatch(/CA:TRUE, pathlen:0/);
    expect(caText).toMatch(/Certificate Sign, CRL Sign/);
    expect(
      execFileSync('openssl', ['verify', '-CAfile', caFile, serverFile], { encoding: 'utf8' }),
    ).toContain(': OK');
  });

  it('signs with RSA keys too (client and device certificates)', () => {
    const rsaCa = createCertificateAuthority({ keyAlgorithm: 'rsa-2048' });
    const client = issueClientCertificate({ commonName: 'app', issuer: rsaCa });
    const cert = new X509Certificate(client.certPem);
    expect(cert.verify(new X509Certificate(rsaCa.certPem).publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(certificateThumbprint(client.certPem)).toMatch(/^[0-9A-F]{40}$/);
    if (hasOpenssl()) {
      const text = execFileSync(
        'openssl',
        ['x509', '-in', write('client.pem', client.certPem), '-noout', '-text'],
        { encoding: 'utf8' },
      );
      expect(text).toContain('sha256WithRSAEncryption');
      expect(text).toContain('TLS Web Client Authentication');
    }
  });

  it.each(['localhost', '127.0.0.1', '::1'])(
    'lets node:https verify %s with ca and nothing else',
    async (host) => {
      await expect(
        handshake({ cert: server.certPem, key: server.keyPem, ca: ca.certPem, host }),
      ).resolves.toBe('hello');
    },
  );

  it('is refused without the CA and for a name it does not cover', async () => {
    await expect(handshake({ cert: server.certPem, key: server.keyPem, host: '127.0.0.1' })).rejects.toThrow(
      /certificate/i,
    );
    await expect(
      handshake({
        cert: server.certPem,
        key: server.keyPem,
        ca: ca.certPem,
        host: '127.0.0.1',
        servername: 'other.test',
      }),
    ).rejects.toThrow(/other\.test|altnames/i);
  });
});

describe('ensureTlsMaterial', () => {
  it('keeps the CA across restarts and reissues the server certificate when a new name is asked for', () => {
    const folder = path.join(dir, 'data');
    const first = ensureTlsMaterial(folder);
    const second = ensureTlsMaterial(folder);
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).toBe(first.certPem);
    const third = ensureTlsMaterial(folder, { dnsNames: ['dwb.example.test'] });
    expect(third.caPem).toBe(first.caPem);
    expect(third.certPem).not.toBe(first.certPem);
    expect(new X509Certificate(third.certPem).checkHost('dwb.example.test')).toBe('dwb.example.test');
    expect(readFileSync(third.caFile, 'utf8')).toBe(first.caPem);
    if (process.platform !== 'win32') {
      const mode = execFileSync('stat', ['-c', '%a', path.join(folder, 'emulator-ca.key')], {
        encoding: 'utf8',
      }).trim();
      expect(mode).toBe('600');
    }
  });
});
