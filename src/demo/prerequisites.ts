// What the demo needs from the machine, and, for each missing piece, how to get it. Checked before
// anything is started, so that a newcomer learns everything that is missing at once.
import { execFileSync } from 'node:child_process';
import { aptPackages, missingPrerequisites } from '../lab/samba.js';

export interface Prerequisite {
  what: string;
  ok: boolean;
  /** What was seen (version, user). */
  detail: string;
  /** How to get it when missing. */
  fix?: string;
}

function sambaVersion(): string | undefined {
  try {
    return execFileSync('samba', ['--version'], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    return undefined;
  }
}

export function demoPrerequisites(): Prerequisite[] {
  const uid = process.getuid?.();
  const isRoot = uid === 0;
  const missing = missingPrerequisites();
  const installAll = `apt-get update && apt-get install -y ${aptPackages.join(' ')}`;
  const result: Prerequisite[] = [
    {
      what: 'root',
      ok: isRoot,
      detail: isRoot ? 'running as root' : `running as uid ${uid ?? '?'}, not root`,
      fix: isRoot
        ? undefined
        : 'The demo adds a loopback address (ip addr add) for its domain controller and runs samba, which needs root. ' +
          'Run it as root, ideally in a throwaway VM or container: `sudo npm run demo` (this also installs what is missing).',
    },
    {
      what: 'Samba AD DC and tools',
      ok: missing.length === 0,
      detail: missing.length === 0 ? (sambaVersion() ?? 'samba') : `missing: ${missing.join('; ')}`,
      fix:
        missing.length === 0
          ? undefined
          : `On Debian or Ubuntu: \`${isRoot ? '' : 'sudo '}${installAll}\`, or run \`${isRoot ? '' : 'sudo '}npm run demo\`, which installs them.`,
    },
  ];
  if (process.platform !== 'linux') {
    result.push({
      what: 'Linux',
      ok: false,
      detail: `this is ${process.platform}`,
      fix: 'The lab DC uses Linux loopback addresses and Debian packages; run the demo in a Linux VM or container.',
    });
  }
  return result;
}
