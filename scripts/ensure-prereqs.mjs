#!/usr/bin/env node
// Installs what `npm test`, `npm run demo` and `npm run bench` need before they start:
// Samba AD DC, ldap-utils and friends, and the PostgreSQL server (state.postgres, SPEC §7) through
// apt-get (as root), Chromium for the browser tests, and the npm packages through `npm ci` when
// node_modules is missing or older than the lockfile.
// Not root: prints exactly what to install and exits 1.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const forDemo = process.argv.includes('--demo');

/** Debian installs each PostgreSQL major version's server under /usr/lib/postgresql/<major>/bin. */
function postgresServerPaths() {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base) : [];
  return majors.map((major) => path.join(base, major, 'bin', 'initdb'));
}

const debianPackages = [
  ['samba', ['/usr/sbin/samba']],
  ['samba-ad-dc', ['/usr/share/doc/samba-ad-dc']],
  ['samba-ad-provision', ['/usr/share/doc/samba-ad-provision']],
  ['ldap-utils', ['/usr/bin/ldapadd', '/usr/bin/ldapsearch']],
  ['winbind', ['/usr/share/doc/winbind']],
  ['krb5-user', ['/usr/bin/kinit']],
  ['openssl', ['/usr/bin/openssl']],
  ['iproute2', ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip']],
  ['postgresql', postgresServerPaths()],
  ...(forDemo ? [] : [['chromium', ['/usr/bin/chromium']]]),
];

const missing = debianPackages.filter(([, paths]) => !paths.some((p) => existsSync(p))).map(([name]) => name);

if (missing.length > 0) {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    console.error(
      `device-writeback needs these Debian packages, which are not installed:\n  ${missing.join(' ')}\n` +
        `Install them as root, then run again:\n  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing.join(' ')}\n` +
        'The tests and the demo also run as root, because each Samba AD DC gets its own loopback address (ip addr add).',
    );
    process.exit(1);
  }
  console.error(`[prereqs] installing ${missing.join(' ')} with apt-get …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'inherit', 'inherit'], env });
  const install =
    update.status === 0
      ? spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
          stdio: ['ignore', 'inherit', 'inherit'],
          env,
        })
      : update;
  if (install.status !== 0) {
    console.error(
      `[prereqs] apt-get failed (exit ${install.status}); install by hand: apt-get install -y ${missing.join(' ')}`,
    );
    process.exit(1);
  }
}

if (process.getuid?.() !== 0) {
  console.error(
    'device-writeback tests and demo start Samba AD DCs on their own loopback addresses (ip addr add), which needs root.\n' +
      'Run as root (for example in a throwaway VM or container).',
  );
  process.exit(1);
}

// npm packages: install when node_modules is missing or was installed from another lockfile. The
// lockfile's content is compared (a hash kept in node_modules), not its time: a fresh checkout or
// a second worktree gets new file times for the very same lockfile.
const lock = path.join(root, 'package-lock.json');
const marker = path.join(root, 'node_modules', '.device-writeback-lock-hash');
const wanted = createHash('sha256').update(readFileSync(lock)).digest('hex');
const installed = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : '';
if (installed !== wanted || !existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  console.error('[prereqs] installing npm packages (npm ci) …');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  writeFileSync(marker, `${wanted}\n`);
}
