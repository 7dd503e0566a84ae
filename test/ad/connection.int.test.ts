import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AdConnection, str } from '../../src/ad/connection.js';
import { discoverSchema, readRootDse } from '../../src/ad/discovery.js';
import { AdExportTarget } from '../../src/ad/export-target.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { Secret } from '../../src/config/secret.js';
import { runBounded } from '../../src/util/bounded.js';
import { DwbError } from '../../src/errors.js';
import { useDc } from '../support/samba.js';

const lab = useDc();

function endpoint(overrides: Partial<Parameters<typeof AdConnection.open>[0]> = {}) {
  return {
    url: lab.dc.url,
    startTls: false,
    caFile: lab.dc.caFile,
    insecureSkipVerify: false,
    timeoutSeconds: 5,
    ...overrides,
  };
}

async function failure(p: Promise<unknown>): Promise<DwbError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DwbError);
  return err as DwbError;
}

describe('AdConnection against Samba', () => {
  it('binds over LDAPS with the CA verified and discovers the RootDSE and schema', async () => {
    const conn = await AdConnection.open(endpoint(), {
      user: lab.dc.adminUpn,
      password: lab.dc.adminPassword,
    });
    const root = await readRootDse(conn);
    expect(root.defaultNamingContext).toBe(lab.dc.forest.domainDn);
    expect(root.configurationNamingContext).toBe(lab.dc.forest.configDn);
    expect(root.schemaNamingContext).toBe(`CN=Schema,${lab.dc.forest.configDn}`);
    expect(root.rootDomainNamingContext).toBe(lab.dc.forest.domainDn);
    expect(root.forestFunctionality).toBeGreaterThanOrEqual(4);
    const schema = await discoverSchema(conn, root.schemaNamingContext);
    expect(schema.hasDeviceClasses).toBe(true);
    expect(schema.attributes.get('displayname')?.rangeUpper).toBe(256);
    // Samba's 2012 R2 schema has no msDS-IsCompliant / msDS-DeviceTrustType (2016 attributes)
    expect(schema.missingOptionalAttributes).toEqual(
      expect.arrayContaining(['msDS-IsCompliant', 'msDS-DeviceTrustType']),
    );
    const pages: number[] = [];
    for await (const page of conn.searchPages(root.schemaNamingContext, {
      scope: 'one',
      attributes: ['cn'],
      pageSize: 200,
    }))
      pages.push(page.length);
    expect(pages.length).toBeGreaterThan(1);
    expect(pages[0]).toBeLessThanOrEqual(200);
    await conn.close();
  });

  it('StartTLS on ldap:// works and certificate verification still applies', async () => {
    const conn = await AdConnection.open(endpoint({ url: `ldap://${lab.dc.address}`, startTls: true }), {
      user: lab.dc.adminUpn,
      password: lab.dc.adminPassword,
    });
    expect(str((await conn.read('', ['defaultNamingContext']))!, 'defaultNamingContext')).toBe(
      lab.dc.forest.domainDn,
    );
    await conn.close();
  });

  it('refuses plain ldap:// before any bind', async () => {
    const err = await failure(
      AdConnection.open(endpoint({ url: `ldap://${lab.dc.address}` }), {
        user: lab.dc.adminUpn,
        password: lab.dc.adminPassword,
      }),
    );
    expect(err.code).toBe('DWB_AD_TLS_REQUIRED');
    expect(err.exitCode).toBe(2);
  });

  it('a wrong password is DWB_AD_BIND_FAILED naming the host', async () => {
    const err = await failure(
      AdConnection.open(endpoint(), { user: lab.dc.adminUpn, password: 'wrong-password' }),
    );
    expect(err.code).toBe('DWB_AD_BIND_FAILED');
    expect(err.message).toContain(lab.dc.address);
    expect(err.message).not.toContain('wrong-password');
  });

  it('an untrusted certificate is DWB_AD_TLS_FAILED with the cause', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-ca-'));
    const otherCa = path.join(dir, 'other-ca.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        path.join(dir, 'k.pem'),
        '-out',
        otherCa,
        '-days',
        '1',
        '-subj',
        '/CN=Some other CA',
      ],
      { stdio: 'ignore' },
    );
    const err = await failure(
      AdConnection.open(endpoint({ caFile: otherCa }), {
        user: lab.dc.adminUpn,
        password: lab.dc.adminPassword,
      }),
    );
    expect(err.code).toBe('DWB_AD_TLS_FAILED');
    expect(err.message).toMatch(/certificate/i);
    expect(err.message).toContain(lab.dc.address);
    const missing = await failure(
      AdConnection.open(endpoint({ caFile: path.join(dir, 'nope.pem') }), {
        user: lab.dc.adminUpn,
        password: lab.dc.adminPassword,
      }),
    );
    expect(missing.code).toBe('DWB_AD_TLS_FAILED');
    expect(missing.message).toContain('nope.pem');
    writeFileSync(path.join(dir, 'x'), '');
  });

  it('insecureSkipVerify connects without the CA (labs only)', async () => {
    const conn = await AdConnection.open(endpoint({ caFile: undefined, insecureSkipVerify: true }), {
      user: lab.dc.adminUpn,
      password: lab.dc.adminPassword,
    });
    await conn.close();
  });

  it('an unreachable host is DWB_AD_UNREACHABLE naming host and cause, within the timeout', async () => {
    const err = await failure(
      AdConnection.open(endpoint({ url: 'ldaps://127.0.0.1:1', timeoutSeconds: 3 }), {
        user: lab.dc.adminUpn,
        password: lab.dc.adminPassword,
      }),
    );
    expect(err.code).toBe('DWB_AD_UNREACHABLE');
    expect(err.message).toContain('127.0.0.1:1');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });
});

/** ESTABLISHED TCP connections of this machine to host:port (IPv4, from /proc/net/tcp). */
function connectionsTo(url: string): number {
  const { hostname, port } = new URL(url);
  const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, '0');
  const ip = hostname
    .split('.')
    .map(Number)
    .reverse()
    .map((b) => hex(b, 2))
    .join('');
  const remote = `${ip}:${hex(Number(port || 636), 4)}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const f = line.trim().split(/\s+/);
      return f[2] === remote && f[3] === '01';
    }).length;
}

describe('AdExportTarget against Samba', () => {
  it('keeps its operations in flight on one session, and writes each of them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-export-'));
    const passwordFile = path.join(dir, 'password');
    writeFileSync(passwordFile, lab.dc.adminPassword, { mode: 0o600 });
    const container = `CN=Pipelined,${lab.dc.forest.domainDn}`;
    await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
    const before = connectionsTo(lab.dc.url);
    const target = new AdExportTarget(
      {
        url: lab.dc.url,
        startTls: false,
        bindDn: lab.dc.adminDn,
        password: new Secret({ file: passwordFile }, 'ad.password'),
        caFile: lab.dc.caFile,
        insecureSkipVerify: false,
        timeoutSeconds: 20,
      },
      4,
    );
    const ids = Array.from({ length: 24 }, () => randomUUID());
    let peak = 0;
    try {
      await runBounded(ids, target.inFlight, async (id) => {
        const values = new Map<string, Buffer[]>([
          ['msDS-DeviceID', [guidToBytes(id)]],
          ['msDS-IsEnabled', [Buffer.from('TRUE')]],
          ['altSecurityIdentities', [Buffer.from(`X509:<SHA1-TP-PUBKEY>${id}`)]],
          ['displayName', [Buffer.from(`pipelined ${id.slice(0, 8)}`)]],
        ]);
        const adding = target.add(`CN=${id},${container}`, values);
        peak = Math.max(peak, connectionsTo(lab.dc.url) - before);
        await adding;
      });
      // four operations were in flight, over one connection (Samba serves each connection from
      // one worker process; several connections writing at once cost the DC more)
      expect(peak).toBe(1);
      expect(connectionsTo(lab.dc.url) - before).toBe(1);
      for (const id of ids) {
        const object = await target.readObject(`CN=${id},${container}`);
        expect(object?.values.get('displayName')?.[0]?.toString()).toBe(`pipelined ${id.slice(0, 8)}`);
      }
    } finally {
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(connectionsTo(lab.dc.url)).toBe(before);
  });
});
