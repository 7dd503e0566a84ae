// A throwaway Samba AD DC for labs, tests, the demo and the benchmarks: provisions a template forest
// once, then starts any number of domain controllers from copies of it, each on its own loopback
// address with a certificate from the forest's own CA, and stops them by PID. A second forest
// (fabrikam) with its own realm, domain SID and CA serves the multi-forest tests (SPEC §8).
import { execFile, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  cpSync,
  readdirSync,
  renameSync,
  statSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createCertificate, ExtendedKeyUsage } from '../tls/certificates.js';

const run = promisify(execFile);

export type SchemaVersion = '2012_R2' | '2008_R2';

export interface LabForest {
  realm: string;
  netbios: string;
  domain: string;
  domainDn: string;
  configDn: string;
  adminPassword: string;
}

export const defaultForest: LabForest = {
  realm: 'CORP.EXAMPLE.TEST',
  netbios: 'CORP',
  domain: 'corp.example.test',
  domainDn: 'DC=corp,DC=example,DC=test',
  configDn: 'CN=Configuration,DC=corp,DC=example,DC=test',
  adminPassword: 'Lab-Admin-Pa55word!',
};

/** A second, independent forest: its own realm, NetBIOS name, administrator password and CA. */
export const fabrikamForest: LabForest = {
  realm: 'FABRIKAM.EXAMPLE.TEST',
  netbios: 'FABRIKAM',
  domain: 'fabrikam.example.test',
  domainDn: 'DC=fabrikam,DC=example,DC=test',
  configDn: 'CN=Configuration,DC=fabrikam,DC=example,DC=test',
  adminPassword: 'Lab-Fabrikam-Pa55word!',
};

/** The lab's forests by the short name tests and configurations use (`forests[].name`, SPEC §5). */
export const labForests = { corp: defaultForest, fabrikam: fabrikamForest } as const;
export type LabForestName = keyof typeof labForests;

export interface SambaTemplate {
  dir: string;
  schema: SchemaVersion;
  forest: LabForest;
  domainSid: string;
  /** The CA that issued the DC certificate (PEM path). */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** What a host needs before a lab DC can run; returns the missing pieces, empty when ready. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  const has = (p: string): boolean => existsSync(p);
  if (!has('/usr/sbin/samba') && !has('/usr/bin/samba'))
    missing.push('samba (packages samba samba-ad-dc samba-ad-provision)');
  if (!has('/usr/bin/samba-tool')) missing.push('samba-tool (package samba-ad-provision)');
  if (!has('/usr/bin/ldapadd')) missing.push('ldapadd (package ldap-utils)');
  if (!has('/usr/bin/openssl')) missing.push('openssl (package openssl)');
  if (!has('/usr/sbin/ip') && !has('/sbin/ip') && !has('/usr/bin/ip')) missing.push('ip (package iproute2)');
  return missing;
}

export const aptPackages = [
  'samba',
  'samba-ad-dc',
  'samba-ad-provision',
  'ldap-utils',
  'winbind',
  'krb5-user',
  'openssl',
  'iproute2',
];

/**
 * Issues the forest's CA and a DC certificate valid for every 127.0.0.x address and the lab host
 * names, in-process (EC P-256: no RSA key search on the provisioning's critical path).
 */
function issueCertificates(
  dir: string,
  forest: LabForest,
): { caFile: string; certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const ca = createCertificate({
    // named after its forest, so that a certificate chain never looks as if another forest's CA made it
    subject: { organization: 'device-writeback lab', commonName: `device-writeback lab CA ${forest.domain}` },
    certificateAuthority: true,
    validDays: 30,
  });
  const dc = createCertificate({
    subject: { organization: 'device-writeback lab', commonName: `dc1.${forest.domain}` },
    issuer: ca,
    validDays: 30,
    dnsNames: ['localhost', `dc1.${forest.domain}`, forest.domain],
    ipAddresses: Array.from({ length: 254 }, (_, i) => `127.0.0.${i + 1}`),
    extendedKeyUsages: [ExtendedKeyUsage.serverAuth],
  });
  const caFile = path.join(dir, 'ca.pem');
  const certFile = path.join(dir, 'dc.pem');
  const keyFile = path.join(dir, 'dc-key.pem');
  writeFileSync(caFile, ca.certPem);
  writeFileSync(path.join(dir, 'ca-key.pem'), ca.keyPem, { mode: 0o600 });
  writeFileSync(certFile, dc.certPem);
  writeFileSync(keyFile, dc.keyPem, { mode: 0o600 });
  return { caFile, certFile, keyFile };
}

/** Provisions a forest into `dir` (about 5–10 s). */
export async function provisionTemplate(
  dir: string,
  schema: SchemaVersion,
  forest: LabForest = defaultForest,
): Promise<SambaTemplate> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, 'dc');
  const { stdout, stderr } = await run(
    'samba-tool',
    [
      'domain',
      'provision',
      `--realm=${forest.realm}`,
      `--domain=${forest.netbios}`,
      '--server-role=dc',
      '--dns-backend=NONE',
      `--base-schema=${schema}`,
      `--adminpass=${forest.adminPassword}`,
      `--targetdir=${target}`,
      '--host-name=dc1',
      // LMDB rather than the default TDB: on these machines it adds msDS-Device objects ~30 % faster
      // and slows down less as the directory grows (the product and ldapadd both gain; see bench/).
      '--backend-store=mdb',
      '--option=interfaces=127.0.0.2',
      '--option=bind interfaces only=yes',
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  ).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`samba-tool domain provision failed: ${err.stderr?.slice(-2000) ?? err.message}`);
  });
  const domainSid = /DOMAIN SID:\s+(S-1-5-21-\d+-\d+-\d+)/.exec(`${stdout}\n${stderr}`)?.[1];
  if (!domainSid) throw new Error('samba-tool domain provision did not print the domain SID');
  const certs = issueCertificates(path.join(dir, 'tls'), forest);
  const template: SambaTemplate = { dir, schema, forest, domainSid, ...certs };
  // template.json marks a finished template (ensureTemplate waits for it): never seen half-written
  const marker = path.join(dir, 'template.json');
  writeFileSync(`${marker}.tmp`, JSON.stringify(template, null, 2));
  renameSync(`${marker}.tmp`, marker);
  return template;
}

/**
 * The template in `dir`, provisioned by the first caller that needs it, once, whichever process it
 * runs in (test files run in several): a lock folder beside it holds the provisioner's PID, and a
 * lock whose owner died is taken over. For templates that only some runs need.
 */
export async function ensureTemplate(
  dir: string,
  schema: SchemaVersion,
  forest: LabForest = defaultForest,
  options: { timeoutMs?: number } = {},
): Promise<SambaTemplate> {
  const marker = path.join(dir, 'template.json');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  for (;;) {
    if (existsSync(marker)) return readTemplate(dir);
    if (takeLock(lock)) {
      try {
        if (existsSync(marker)) return readTemplate(dir);
        return await provisionTemplate(dir, schema, forest);
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
    if (Date.now() > deadline)
      throw new Error(`the template in ${dir} was not provisioned within ${options.timeoutMs ?? 600_000} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function takeLock(lock: string): boolean {
  mkdirSync(path.dirname(lock), { recursive: true });
  try {
    mkdirSync(lock);
  } catch {
    let owner = 0;
    try {
      owner = Number(readFileSync(path.join(lock, 'pid'), 'utf8'));
    } catch {
      // just made, its pid not yet written: busy, unless it has stayed so for long
      try {
        if (Date.now() - statSync(lock).mtimeMs < 10_000) return false;
      } catch {
        return false;
      }
    }
    if (owner > 0 && alive(owner)) return false;
    rmSync(lock, { recursive: true, force: true });
    try {
      mkdirSync(lock);
    } catch {
      return false;
    }
  }
  writeFileSync(path.join(lock, 'pid'), String(process.pid));
  return true;
}

export function readTemplate(dir: string): SambaTemplate {
  return JSON.parse(readFileSync(path.join(dir, 'template.json'), 'utf8')) as SambaTemplate;
}

export interface SambaDc {
  name: string;
  address: string;
  url: string;
  dir: string;
  readonly pid: number;
  template: SambaTemplate;
  forest: LabForest;
  domainSid: string;
  caFile: string;
  adminDn: string;
  adminUpn: string;
  adminPassword: string;
  /** Stops and removes the DC, its address and its files. */
  stop(): Promise<void>;
  /** Kills the samba process only (the DC is down; data and address stay), as a crash would. */
  kill(): Promise<void>;
  /** Starts the same DC again (after kill), on the same address with the same data. */
  restart(): Promise<void>;
}

function waitForPort(host: string, port: number, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (!alive()) return reject(new Error(`samba exited before listening on ${host}:${port}`));
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline)
          reject(new Error(`samba did not listen on ${host}:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function ipAddr(action: 'add' | 'del', address: string): Promise<void> {
  try {
    await run('ip', ['addr', action, `${address}/8`, 'dev', 'lo']);
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? err);
    // A leftover of a crashed run whose lease we now hold.
    if (action === 'add' && /File exists|already assigned/i.test(text)) return;
    if (action === 'del' && /Cannot assign|not found/i.test(text)) return;
    throw new Error(`ip addr ${action} ${address} failed: ${text}`);
  }
}

/** Loopback address leases are machine-wide, so that parallel test runs never share an address. */
export const LEASE_DIR = path.join(os.tmpdir(), 'dwb-loopback-leases');

/**
 * Claims a free loopback address 127.0.0.N (atomic mkdir of a lease holding the owner's pid); a
 * lease whose owner process is dead is taken over.
 */
async function claimAddress(first: number): Promise<{ address: string; release(): void }> {
  for (let n = first; n < 255;) {
    const lease = claimLease(n);
    // Someone outside our leases (an older run, another tool) may already serve LDAPS there.
    if (!(await listening(lease.address, 636))) return lease;
    n = Number(lease.address.split('.').pop()) + 1;
    // keep the lease of the busy address until we return, so we do not take it again; then drop it
    setTimeout(() => lease.release(), 60_000).unref();
  }
  throw new Error('no free loopback address left in 127.0.0.0/8');
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(300, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function claimLease(first: number): { address: string; release(): void } {
  mkdirSync(LEASE_DIR, { recursive: true });
  for (let n = first; n < 255; n++) {
    const lease = path.join(LEASE_DIR, String(n));
    try {
      mkdirSync(lease);
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(path.join(lease, 'pid'), 'utf8'));
      } catch {
        /* being written, or half-made: leave it */
        continue;
      }
      if (owner > 0 && alive(owner)) continue;
      rmSync(lease, { recursive: true, force: true });
      try {
        mkdirSync(lease);
      } catch {
        continue;
      }
    }
    writeFileSync(path.join(lease, 'pid'), String(process.pid));
    return { address: `127.0.0.${n}`, release: () => rmSync(lease, { recursive: true, force: true }) };
  }
  throw new Error('no free loopback address left in 127.0.0.0/8');
}

export interface StartOptions {
  /** Folder where DC copies and address leases live. */
  workDir: string;
  name?: string;
  /** Lowest N of 127.0.0.N to try. */
  firstAddress?: number;
  timeoutMs?: number;
}

/** Starts a DC from a copy of the template, on its own loopback address, with LDAPS on 636. */
export async function startDc(template: SambaTemplate, options: StartOptions): Promise<SambaDc> {
  const lease = await claimAddress(options.firstAddress ?? 10);
  const address = lease.address;
  const name = options.name ?? `dc-${address.split('.').pop()}`;
  const dir = path.join(options.workDir, `${name}-${process.pid}-${Date.now().toString(36)}`);
  const source = path.join(template.dir, 'dc');
  cpSync(source, dir, { recursive: true });
  const conf = path.join(dir, 'etc', 'smb.conf');
  let text = readFileSync(conf, 'utf8').split(source).join(dir);
  text = text
    .replace(/^\s*interfaces = .*$/m, `\tinterfaces = ${address}`)
    .replace(/^\s*server services = .*$/m, '\tserver services = ldap, kdc')
    .replace(/^\s*log file = .*$/m, `\tlog file = ${path.join(dir, 'log.%m')}`)
    .replace(
      /\[global\]\n/,
      `[global]\n\tpid directory = ${path.join(dir, 'pid')}\n\ttls enabled = yes\n\ttls keyfile = ${template.keyFile}\n\ttls certfile = ${template.certFile}\n\ttls cafile = ${template.caFile}\n\tldap server require strong auth = yes\n`,
    );
  writeFileSync(conf, text);
  mkdirSync(path.join(dir, 'pid'), { recursive: true });
  await ipAddr('add', address);
  const pidFile = path.join(dir, 'samba.pid');
  writeFileSync(path.join(dir, 'address'), address);
  let current: { pid: number; exited: () => boolean } | undefined;
  const launch = async (): Promise<void> => {
    const child = spawn('samba', ['-s', conf, '-i'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    current = { pid: child.pid!, exited: () => exited };
    writeFileSync(pidFile, String(child.pid));
    await waitForPort(address, 636, options.timeoutMs ?? 30_000, () => !exited);
  };
  const kill = async (): Promise<void> => {
    if (!current) return;
    const { pid, exited } = current;
    current = undefined;
    await killTree(pid, exited);
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await kill();
    await ipAddr('del', address).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    lease.release();
  };
  try {
    await launch();
  } catch (err) {
    const log = (() => {
      try {
        return readFileSync(path.join(dir, 'log.samba'), 'utf8').slice(-2000);
      } catch {
        return '';
      }
    })();
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  const forest = template.forest;
  return {
    name,
    address,
    url: `ldaps://${address}`,
    dir,
    get pid() {
      return current?.pid ?? 0;
    },
    template,
    forest,
    domainSid: template.domainSid,
    caFile: template.caFile,
    adminDn: `CN=Administrator,CN=Users,${forest.domainDn}`,
    adminUpn: `Administrator@${forest.domain}`,
    adminPassword: forest.adminPassword,
    stop,
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
  };
}

async function killTree(pid: number, exited: () => boolean): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 50 && !exited() && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (!exited() && alive(pid)) signal('SIGKILL');
  // samba's worker processes share the process group; make sure none survive, and wait until they
  // are gone: until then a dying worker still holds the listening socket (clients get a reset, not
  // a refusal), and a restart could not bind it.
  signal('SIGKILL');
  for (let i = 0; i < 100 && groupMembers(pid) > 0; i++) await new Promise((r) => setTimeout(r, 50));
}

/** Live (not zombie) processes of a process group, from /proc; 0 where /proc is not there. */
function groupMembers(pgid: number): number {
  if (process.platform !== 'linux') return 0;
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // fields after the command: state, ppid, pgrp, … (proc(5))
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') count++;
    } catch {
      /* gone meanwhile */
    }
  }
  return count;
}

/** The process exists (signal 0 reaches it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops every DC left under workDir (after a crash) and removes their addresses. */
export async function sweep(workDir: string): Promise<void> {
  if (!existsSync(workDir)) return;
  for (const entry of readdirSync(workDir)) {
    const pidFile = path.join(workDir, entry, 'samba.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (pid > 0 && alive(pid)) await killTree(pid, () => false);
    const addrFile = path.join(workDir, entry, 'address');
    if (existsSync(addrFile))
      await ipAddr('del', readFileSync(addrFile, 'utf8').trim()).catch(() => undefined);
  }
}
