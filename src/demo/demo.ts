// `device-writeback demo`: the whole product on one machine in about a minute. A throwaway Samba AD
// DC (2012 R2 schema) on its own loopback address, users with real SIDs, the Graph emulator with
// devices those users own, a configuration file, then the real commands as a user would type them:
// check (failing) -> init-ad (with the emulator's cloud DRS issuer) -> check (passing) -> sync ->
// devices, `run` in the background while devices change in the cloud, and last `claims --cert` with
// a device certificate the emulator issued: the path AD FS takes. The scope is a pilot group
// (writeback.scope.groups): the few devices outside it are not written, and one taken out of it
// during `run` leaves AD. Everything it starts is stopped and removed at the end, on
// Ctrl-C and on failure, unless --keep asks to leave the lab up.
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AdConnection } from '../ad/connection.js';
import { startEmulator, type RunningEmulator } from '../emulator/index.js';
import { DwbError, causeText } from '../errors.js';
import { adminSession } from '../lab/directory.js';
import type { SambaDc } from '../lab/samba.js';
import { Cleanup, Interrupted, signalChildren } from './cleanup.js';
import {
  commandPrefix,
  humanLogLine,
  interruptRunningCommands,
  runCli,
  spawnCli,
  stopper,
} from './cli-process.js';
import { writeDemoConfig, type DemoConfigFile } from './config-file.js';
import {
  CONNECTOR_ACCOUNT,
  createDemoPeople,
  provisionDemoTemplate,
  startDemoDc,
  type DemoPeople,
} from './lab.js';
import { downloadPem, pickCertifiedDevice } from './device-certificate.js';
import { createPilotGroup, liveChanges, type LiveChange, type PilotGroup } from './live-changes.js';
import { haPrerequisite, haStep, type HaOutcome } from './ha.js';
import { seconds, StepReporter } from './steps.js';
import { expectExit, finish, labFolder, prerequisitesStep, showFile } from './tour.js';

export interface DemoOptions {
  keep: boolean;
  devices: number;
  /** writeback.intervalSeconds of the lab's `run`. */
  intervalSeconds?: number;
  /** How many users own the devices. */
  users?: number;
  /** Names of the subcommands this build has (to suggest only those). */
  commands?: string[];
  /** --ha: then two `run` instances on PostgreSQL, the leader killed, the standby taking over. */
  ha?: boolean;
}

const TOTAL_STEPS = 13;

export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function countObjects(session: AdConnection, containerDn: string): Promise<number> {
  const entries = await session.search(containerDn, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['cn'],
  });
  return entries.length;
}

/** Reads the log of the background `run` (JSON lines) from `offset`; returns cycle lines and the new offset. */
function readRunLog(file: string, offset: number): { lines: string[]; offset: number } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { lines: [], offset };
  }
  const fresh = text.slice(offset);
  const end = fresh.lastIndexOf('\n') + 1;
  const lines: string[] = [];
  for (const line of fresh.slice(0, end).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; level?: number };
      if (typeof entry.msg === 'string' && (entry.msg.startsWith('cycle') || (entry.level ?? 0) >= 40)) {
        lines.push(entry.msg.startsWith('cycle') ? entry.msg : (humanLogLine(line) ?? entry.msg));
      }
    } catch {
      /* a partial line: read again next time */
    }
  }
  return { lines, offset: offset + end };
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const steps = new StepReporter(TOTAL_STEPS + (options.ha ? 1 : 0));
  const cleanup = new Cleanup();
  const intervalSeconds = options.intervalSeconds ?? 2;
  const userCount = options.users ?? 6;
  let interrupted: NodeJS.Signals | undefined;
  const wakeOnInterrupt: (() => void)[] = [];
  cleanup.onInterrupt((signal) => {
    interrupted = signal;
    steps.line(
      `\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping the demo and removing what it created …`,
    );
    interruptRunningCommands();
    // samba-tool, while provisioning, must not go on for seconds (the DC itself is stopped below).
    if (!dc) signalChildren('SIGINT');
    for (const wake of wakeOnInterrupt.splice(0)) wake();
  });
  const checkInterrupt = (): void => {
    if (interrupted) throw new Interrupted(interrupted);
  };
  cleanup.trapSignals();

  steps.line(
    'device-writeback demo: a throwaway lab on this machine (a Samba AD DC and the Graph emulator), then',
  );
  steps.line('the real commands against it, exactly as you would type them.');

  let dir = '';
  let dc: SambaDc | undefined;
  let emulator: RunningEmulator | undefined;
  let config: DemoConfigFile | undefined;
  let people: DemoPeople | undefined;
  let pilot: PilotGroup | undefined;
  let session: AdConnection | undefined;
  let changes: LiveChange[] = [];
  let consoleUrl: string | undefined;
  let runPid: number | undefined;
  let objectsAfterSync = 0;
  let adfsCheck: { certFile: string } | undefined;
  let stopRun: (() => Promise<void>) | undefined;
  let ha: HaOutcome | undefined;
  const containerDn = (): string => `CN=RegisteredDevices,${dc!.forest.domainDn}`;
  const cli = (args: string[]): string[] => [...args, '--config', config!.file];

  try {
    // 1 ---------------------------------------------------------------------------------------
    await prerequisitesStep(steps, options.ha ? [haPrerequisite()] : []);
    dir = labFolder(steps, cleanup, options.keep);
    checkInterrupt();

    // 2 ---------------------------------------------------------------------------------------
    const template = await steps.step(
      'Provisioning a throwaway Samba AD DC (Windows Server 2012 R2 schema)',
      () => provisionDemoTemplate(dir),
      (t) => `forest ${t.forest.domain} (NetBIOS ${t.forest.netbios}), domain SID ${t.domainSid}`,
    );
    checkInterrupt();

    // 3 ---------------------------------------------------------------------------------------
    dc = await steps.step(
      'Starting the domain controller on a loopback address of its own',
      async () => {
        const started = await startDemoDc(template, dir);
        cleanup.add(`the DC (samba) and its address ${started.address}`, () => started.stop());
        return started;
      },
      (d) => `${d.url} (LDAPS, certificate from a lab CA: ${d.caFile})`,
    );
    checkInterrupt();

    // 4 ---------------------------------------------------------------------------------------
    people = await steps.step(
      'Creating users and the connector account',
      async () => {
        const created = await createDemoPeople(dc!, userCount);
        for (const u of created.users) steps.detail(`user ${u.userPrincipalName.padEnd(36)} ${u.sid}`);
        steps.detail(
          `connector ${created.connector.userPrincipalName} — a plain user for now; init-ad grants its rights`,
        );
        return created;
      },
      (p) => `${p.users.length} users and ${CONNECTOR_ACCOUNT}`,
    );
    checkInterrupt();

    // 5 ---------------------------------------------------------------------------------------
    emulator = await steps.step(
      `Starting the Microsoft Graph emulator with ${options.devices} devices owned by those users`,
      async () => {
        const started = await startEmulator({
          listen: '127.0.0.1:0',
          dataDir: path.join(dir, 'emulator'),
          devices: options.devices,
          ownerSids: people!.users.map((u) => u.sid),
          upnSuffix: dc!.forest.domain,
        });
        cleanup.add('the Graph emulator', () => started.close());
        const all = started.store.listDevices();
        const byOs = new Map<string, number>();
        for (const d of all)
          byOs.set(d.operatingSystem ?? '?', (byOs.get(d.operatingSystem ?? '?') ?? 0) + 1);
        const byTrust = new Map<string, number>();
        for (const d of all) byTrust.set(d.trustType ?? '?', (byTrust.get(d.trustType ?? '?') ?? 0) + 1);
        const list = (m: Map<string, number>): string => [...m].map(([k, v]) => `${v} ${k}`).join(', ');
        steps.detail(`${started.url} (HTTPS; tenant ${started.tenantId}; app ${started.clientId})`);
        steps.detail(`devices: ${list(byOs)}`);
        steps.detail(`join types: ${list(byTrust)}; owners' onPremisesSecurityIdentifier = the SIDs above`);
        steps.detail(
          `its cloud DRS: each device has a certificate from the issuer CA in ${started.cloudIssuerFile}`,
        );
        pilot = createPilotGroup(started.store);
        steps.detail(
          `group "${pilot.displayName}": ${pilot.members} devices (the group "Pilot devices" nested in it); ${pilot.outside.length} devices are outside it`,
        );
        return started;
      },
      (e) => `${e.store.counts().active} devices, ${e.store.counts().users} users`,
    );
    checkInterrupt();

    // 6 ---------------------------------------------------------------------------------------
    const webPort = await freePort('127.0.0.1');
    config = await steps.step(
      'Writing the configuration file',
      async () => {
        const written = writeDemoConfig(
          {
            dir,
            tenantId: emulator!.tenantId,
            clientId: emulator!.clientId,
            graphUrl: emulator!.url,
            emulatorCaFile: emulator!.caFile,
            adUrl: dc!.url,
            adCaFile: dc!.caFile,
            bindDn: people!.connector.dn,
            domain: dc!.forest.domain,
            intervalSeconds,
            webListen: `127.0.0.1:${webPort}`,
            scopeGroup: pilot,
          },
          {
            adPassword: people!.connector.password,
            clientSecret: emulator!.clientSecret,
            adminPassword: dc!.adminPassword,
          },
        );
        showFile(steps, written.file);
        return written;
      },
      (c) => `${c.file} (secrets in ${c.secretsDir}, mode 0600)`,
    );
    checkInterrupt();

    // 7 ---------------------------------------------------------------------------------------
    await steps.step(
      '`check` before the forest is prepared: it fails, and says how to fix each failure',
      async () => {
        const result = await runCli(steps, cli(['check']));
        expectExit('check (before init-ad)', result, [1]);
        return result;
      },
      () => 'exit code 1, as expected: init-ad is the fix',
    );
    checkInterrupt();

    // 8 ---------------------------------------------------------------------------------------
    await steps.step(
      '`init-ad`: prepare the forest as an enterprise admin (Initialize-ADSyncDeviceWriteback), with the cloud DRS issuer',
      async () => {
        const result = await runCli(
          steps,
          cli([
            'init-ad',
            '--connector-account',
            CONNECTOR_ACCOUNT,
            '--admin',
            dc!.adminUpn,
            '--cloud-issuer',
            emulator!.cloudIssuerFile,
          ]),
          {
            env: { DWB_ADMIN_PASSWORD: dc!.adminPassword },
            envShown: `DWB_ADMIN_PASSWORD="$(cat ${config!.adminPasswordFile})"`,
          },
        );
        expectExit('init-ad', result, [0]);
      },
      () => 'forest prepared; AD FS can now validate the certificates the (emulated) cloud DRS issues',
    );
    checkInterrupt();

    // 9 ---------------------------------------------------------------------------------------
    await steps.step(
      '`check` again: everything passes',
      async () => expectExit('check (after init-ad)', await runCli(steps, cli(['check'])), [0]),
      () => 'exit code 0',
    );
    checkInterrupt();

    // 10 --------------------------------------------------------------------------------------
    session = await adminSession(dc);
    cleanup.add('', () => session?.close());
    objectsAfterSync = await steps.step(
      '`sync`: the first (full) writeback pass',
      async () => {
        let watching = true;
        let last = -1;
        const watcher = (async () => {
          while (watching) {
            await new Promise((r) => setTimeout(r, 1000));
            if (!watching) break;
            const n = await countObjects(session!, containerDn()).catch(() => last);
            if (n !== last && n > 0 && watching) steps.detail(`… ${n} objects in ${containerDn()} so far`);
            last = n;
          }
        })();
        try {
          const result = await runCli(steps, cli(['sync']));
          expectExit('sync', result, [0]);
        } finally {
          watching = false;
          await watcher;
        }
        return countObjects(session!, containerDn());
      },
      (n) => `${n} msDS-Device objects in ${containerDn()}`,
    );
    checkInterrupt();

    // 11 --------------------------------------------------------------------------------------
    await steps.step(
      '`devices`: what is now in the device container',
      async () => expectExit('devices', await runCli(steps, cli(['devices']), { maxLines: 14 }), [0]),
      () => 'listed',
    );
    checkInterrupt();

    // 12 --------------------------------------------------------------------------------------
    changes = await steps.step(
      `\`run\` in the background (a delta pass every ${intervalSeconds} s), while devices change in Entra ID`,
      async () => {
        const logFile = path.join(dir, 'run.log');
        const fd = openSync(logFile, 'a');
        const spawned = spawnCli(cli(['run']), { stdio: ['ignore', fd, fd] });
        closeSync(fd);
        const child = spawned.child;
        runPid = child.pid;
        let exited = false;
        child.once('exit', () => (exited = true));
        stopRun = stopper(child);
        cleanup.add('`run`', stopRun);
        steps.detail(`$ ${spawned.shown} > ${logFile} 2>&1 &`);
        // Wait for the first cycle, so that the changes below are the only thing left to do.
        let offset = 0;
        const firstCycleBy = Date.now() + 30_000;
        for (let seen = false; !seen;) {
          checkInterrupt();
          if (exited) throw new DwbError('DWB_INTERNAL', `\`run\` exited early; see ${logFile}.`);
          if (Date.now() > firstCycleBy)
            throw new DwbError('DWB_INTERNAL', `\`run\` did not finish a cycle within 30 s; see ${logFile}.`);
          const read = readRunLog(logFile, offset);
          offset = read.offset;
          for (const line of read.lines) steps.detail(`run │ ${line}`);
          seen = read.lines.some((l) => l.startsWith('cycle'));
          if (!seen) await new Promise((r) => setTimeout(r, 100));
        }
        consoleUrl = await probeConsole(webPort);
        const showRunLog = (): void => {
          const read = readRunLog(logFile, offset);
          offset = read.offset;
          for (const line of read.lines) if (!/\+0 ~0 -0 =0 !0/.test(line)) steps.detail(`  run │ ${line}`);
        };
        const made = await liveChanges({
          store: emulator!.store,
          pilot,
          session: session!,
          containerDn: containerDn(),
          aborted: () => interrupted !== undefined,
          onChange: (what) => steps.detail(`Entra ID: ${what}`),
          maxPauseMs: intervalSeconds * 1000,
          onSeen: async (c) => {
            // `run` logs its cycle line just after the write that LDAP may already show.
            await new Promise((r) => setTimeout(r, 150));
            showRunLog();
            steps.detail(`  → seen in AD after ${seconds(c.delayMs)}`);
          },
        }).then(
          (list) => list,
          (err: unknown) => {
            checkInterrupt();
            throw err;
          },
        );
        return made;
      },
      (list) =>
        `${list.length} changes written back; slowest ${seconds(Math.max(...list.map((c) => c.delayMs)))} with writeback.intervalSeconds = ${intervalSeconds}`,
    );
    checkInterrupt();

    // 13 --------------------------------------------------------------------------------------
    adfsCheck = await steps.step(
      '`claims --cert`: a device certificate as AD FS sees it (issued by the cloud DRS? which device? which claims?)',
      async () => {
        const picked = pickCertifiedDevice(
          emulator!.store,
          people!.users,
          // Written back and left there: not changed by `run`, not outside the pilot group.
          new Set([...changes.map((c) => c.device.id), ...(pilot?.outside.map((d) => d.id) ?? [])]),
        );
        if (!picked)
          throw new DwbError('DWB_INTERNAL', 'the emulator has no enabled device with a DRS certificate.');
        const { device, owner } = picked;
        const certFile = path.join(dir, `device-${device.deviceId}.pem`);
        const url = `${emulator!.url}/_emulator/drs/devices/${device.deviceId}/certificate`;
        await downloadPem(url, readFileSync(emulator!.caFile), certFile);
        steps.detail(
          `"${device.displayName}" (${device.operatingSystem ?? '?'}, ${device.trustType ?? '?'}), written back by \`sync\`; its certificate, from the emulator's DRS:`,
        );
        steps.detail(`GET ${url} → ${certFile}`);
        const result = await runCli(
          steps,
          cli(['claims', '--cert', certFile, ...(owner ? ['--user', owner.userPrincipalName] : [])]),
        );
        expectExit('claims --cert', result, [0]);
        const dn = /^Found: (.+)$/m.exec(result.stdout)?.[1];
        const claims = /^Claims AD FS issues:\n((?: {2}\S.*\n)+)/m
          .exec(result.stdout)?.[1]
          ?.trimEnd()
          .split('\n');
        if (!/^ {2}issued by cloud DRS: +yes$/m.test(result.stdout) || !dn || !claims) {
          throw new DwbError(
            'DWB_INTERNAL',
            `\`claims --cert\` did not report the certificate as issued by the cloud DRS and matching a device.`,
          );
        }
        return { certFile, dn, claims: claims.length };
      },
      (r) =>
        `AD FS accepts the certificate (issued by the cloud DRS) and finds ${r.dn}: ${r.claims} device claims`,
    );
    checkInterrupt();

    // 14 (--ha) -------------------------------------------------------------------------------
    if (options.ha) {
      ha = await steps.step(
        'State in PostgreSQL, two `run` instances: the leader killed with kill -9, the standby takes over',
        async () => {
          steps.detail('the `run` above (SQLite state) stops first: one group writes to this forest');
          await stopRun?.();
          return haStep({
            steps,
            cleanup,
            dir,
            configFile: config!.file,
            secretsDir: config!.secretsDir,
            intervalSeconds,
            emulator: emulator!,
            session: session!,
            containerDn: containerDn(),
            checkInterrupt,
          });
        },
        (r) =>
          `the standby led ${seconds(r.takeoverMs)} after the kill and wrote the rename to AD ${seconds(r.renameInAdMs)} after it (lease ${seconds(r.leaseMs)}; goal writeback.intervalSeconds + 10 s = ${intervalSeconds + 10} s)`,
      );
      checkInterrupt();
    }

    printSummary(steps, {
      dir,
      dc,
      emulator,
      people,
      pilot,
      config,
      containerDn: containerDn(),
      objectsAfterSync,
      changes,
      consoleUrl,
      keep: options.keep,
      runPid,
      certFile: adfsCheck?.certFile,
      commands: new Set(options.commands ?? []),
      ha,
    });

    if (options.keep) {
      await new Promise<void>((resolve) => {
        if (interrupted) resolve();
        else wakeOnInterrupt.push(resolve);
      });
      await finish(steps, cleanup, dir);
      return 0;
    }
    await finish(steps, cleanup, dir);
    steps.line(`Demo finished in ${seconds(steps.elapsedMs())}.`);
    return 0;
  } catch (err) {
    if (err instanceof Interrupted || interrupted) {
      await finish(steps, cleanup, dir);
      return 130;
    }
    if (!(err instanceof DwbError && err.code === 'DWB_PREREQ_MISSING')) {
      steps.line('');
      steps.line(`The demo stopped at step ${steps.current}: ${causeText(err)}`);
    }
    if (dir && existsSync(path.join(dir, 'run.log'))) {
      const tail = readFileSync(path.join(dir, 'run.log'), 'utf8').trimEnd().split('\n').slice(-10);
      steps.line('Last lines of the `run` log:');
      for (const line of tail) steps.line(`  ${line}`);
    }
    await finish(steps, cleanup, dir);
    throw err;
  } finally {
    cleanup.releaseSignals();
  }
}

/** Asks the web console (if this build has one) for /healthz; returns its URL when it answers. */
async function probeConsole(port: number): Promise<string | undefined> {
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 10; i++) {
    try {
      const response = await fetch(`${url}healthz`, { signal: AbortSignal.timeout(1000) });
      if (response.status < 500 || response.status === 503) return url;
    } catch {
      /* not listening (yet) */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

interface SummaryFacts {
  dir: string;
  dc: SambaDc;
  emulator: RunningEmulator;
  people: DemoPeople;
  pilot: PilotGroup | undefined;
  config: DemoConfigFile;
  containerDn: string;
  objectsAfterSync: number;
  changes: LiveChange[];
  consoleUrl: string | undefined;
  keep: boolean;
  runPid: number | undefined;
  certFile: string | undefined;
  commands: Set<string>;
  ha: HaOutcome | undefined;
}

function printSummary(steps: StepReporter, f: SummaryFacts): void {
  const cmd = commandPrefix();
  const c = `--config ${f.config.file}`;
  const configNc = `CN=Configuration,${f.dc.forest.domainDn}`;
  const deleted = f.changes.find((x) => x.kind === 'delete');
  const sample = f.changes.find((x) => x.kind === 'rename')?.device.deviceId ?? '<deviceId>';
  steps.line('');
  steps.line('What the demo created');
  steps.detail(
    `domain controller  ${f.dc.url}  (Samba, realm ${f.dc.forest.realm}, 2012 R2 schema; files in ${f.dc.dir})`,
  );
  steps.detail(`users              ${f.people.users.map((u) => u.sAMAccountName).join(', ')}`);
  steps.detail(`connector account  ${f.people.connector.dn}`);
  steps.detail(
    `init-ad            CN=DeviceRegistrationService,CN=Device Registration Services,CN=Device Registration Configuration,CN=Services,${configNc}`,
  );
  steps.detail(
    `                   ${f.containerDn} (msDS-DeviceContainer) and the connector's rights on both`,
  );
  const left = f.changes.find((x) => x.kind === 'leave-group');
  steps.detail(
    `                   the emulator's cloud DRS issuer in msDS-CloudIssuerPublicCertificates (msDS-CloudIsEnabled TRUE)`,
  );
  steps.detail(
    `written back       ${f.objectsAfterSync} msDS-Device objects by \`sync\`${f.pilot ? ` (the devices of "${f.pilot.displayName}"; the ${f.pilot.outside.length} outside it are out of scope)` : ''}; then 1 renamed, 1 disabled${deleted ? ', 1 deleted' : ''}${left ? ', 1 taken out of the group and so out of AD' : ''} by \`run\``,
  );
  steps.detail(`Graph emulator     ${f.emulator.url}  (${f.emulator.store.counts().active} devices now)`);
  steps.detail(`configuration      ${f.config.file}`);
  steps.detail(`state              ${path.join(f.dir, 'device-writeback.db')}`);
  if (f.consoleUrl) steps.detail(`web console        ${f.consoleUrl}  (and /metrics, /healthz)`);
  if (f.ha)
    steps.detail(
      `HA group           ${f.ha.configFile}: state in PostgreSQL; failover in ${seconds(f.ha.takeoverMs)}, the change in AD after ${seconds(f.ha.renameInAdMs)}`,
    );
  steps.line('');
  steps.line(
    f.keep
      ? 'Keep exploring — everything is still running:'
      : 'Keep exploring (run `npm run demo -- --keep` to leave this lab up and try these):',
  );
  const suggestions: [string, string][] = [
    ['status', `status ${c}`],
    ['devices', `devices --search iPhone ${c}`],
    ['devices', `devices --all ${c}     (also the devices not written, each with why)`],
    ['claims', `claims --device ${sample} ${c}`],
    ...(f.certFile ? [['claims', `claims --cert ${f.certFile} ${c}`] as [string, string]] : []),
    ['check', `check --json ${c}`],
  ];
  for (const [name, line] of suggestions)
    if (f.commands.size === 0 || f.commands.has(name)) steps.detail(`${cmd} ${line}`);
  if (f.consoleUrl) steps.detail(`open ${f.consoleUrl} in a browser on this machine`);
  // Changes in the cloud, through the emulator's admin routes; `run` writes them back within seconds.
  const curl = `curl --cacert ${f.emulator.caFile}`;
  const soft = f.changes.find((x) => x.kind === 'disable')?.device;
  if (soft) {
    steps.detail(`${curl} -X POST ${f.emulator.url}/_emulator/devices/${soft.id}/soft-delete`);
    steps.detail(`    (soft-deletes "${soft.displayName}": it leaves AD; .../restore brings it back)`);
  }
  if (f.pilot) {
    const member = f.emulator.store.members(f.pilot.id).find((m) => m.kind === 'device');
    if (member) {
      steps.detail(
        `${curl} -H 'content-type: application/json' -d '{"members": ["${member.id}"]}' ${f.emulator.url}/_emulator/groups/${f.pilot.id}/members/remove`,
      );
      steps.detail(`    (takes a device out of "${f.pilot.displayName}": out of scope, it leaves AD)`);
    }
  }
  steps.detail(
    `${curl} -H 'content-type: application/json' -d '{"devices": 300}' ${f.emulator.url}/_emulator/seed`,
  );
  steps.detail(
    f.pilot
      ? `    (100 more devices in Entra ID, outside "${f.pilot.displayName}": \`devices --all\` and the console say why they are not written)`
      : '    (100 more devices in Entra ID: watch them arrive with `devices` or in the console)',
  );
  steps.detail(`${cmd} emulator --devices 1000     (a Graph emulator of your own)`);
  steps.detail('docs/getting-started.md: point it at your own forest and tenant');
  if (f.keep) {
    steps.line('');
    steps.line(`\`run\` (pid ${f.runPid ?? '?'}), the emulator and the DC stay up while this command runs.`);
    steps.line(
      `Stop everything and remove ${f.dir}: press Ctrl-C here, or run \`kill ${process.pid}\` from another shell.`,
    );
  }
}
