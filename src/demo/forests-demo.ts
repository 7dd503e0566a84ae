// `device-writeback demo --forests 2`: several user forests (SPEC §8) on one machine. Two
// independent Samba forests, as after a merger (corp and fabrikam: their own realms, addresses and
// CAs), users in each, the Graph emulator with devices owned by users of both and by cloud-only
// users, a `forests:` configuration, then the real commands: check (failing in both) -> init-ad
// (every forest) -> check -> sync (each device to its owner's forest, the rest unrouted) -> devices
// --all -> a user's devices moving to the other forest (created there before deleted here).
// Everything is stopped and removed at the end, on Ctrl-C and on failure, unless --keep.
import path from 'node:path';
import { str } from '../ad/connection.js';
import { startEmulator, type RunningEmulator } from '../emulator/index.js';
import type { EmulatedDevice } from '../emulator/model.js';
import { DwbError, causeText } from '../errors.js';
import { adminSession } from '../lab/directory.js';
import type { LabForestName, SambaDc, SambaTemplate } from '../lab/samba.js';
import { Cleanup, Interrupted, signalChildren } from './cleanup.js';
import { commandPrefix, interruptRunningCommands, runCli } from './cli-process.js';
import { writeForestsDemoConfig, type DemoForestsConfigFile } from './config-file.js';
import {
  CONNECTOR_ACCOUNT,
  createDemoPeople,
  provisionDemoTemplate,
  startDemoDc,
  type DemoPeople,
} from './lab.js';
import { freePort } from './demo.js';
import { seconds, StepReporter } from './steps.js';
import { expectExit, finish, labFolder, prerequisitesStep, showFile } from './tour.js';

export interface ForestsDemoOptions {
  keep: boolean;
  devices: number;
  commands?: string[];
}

const TOTAL_STEPS = 12;
const FORESTS: LabForestName[] = ['corp', 'fabrikam'];
/** Users per forest who own devices. */
const USERS_PER_FOREST = 3;
/** Every how many devices one belongs to a cloud-only user (no on-premises account: unrouted). */
const CLOUD_ONLY_EVERY = 10;

interface Forest {
  name: LabForestName;
  template: SambaTemplate;
  dc: SambaDc;
  people: DemoPeople;
}

async function countObjects(dc: SambaDc): Promise<Set<string>> {
  const session = await adminSession(dc);
  try {
    const entries = await session.search(`CN=RegisteredDevices,${dc.forest.domainDn}`, {
      scope: 'one',
      filter: '(objectClass=msDS-Device)',
      attributes: ['cn'],
    });
    return new Set(entries.map((e) => (str(e, 'cn') ?? '').toLowerCase()));
  } finally {
    await session.close();
  }
}

function ownerOf(emulator: RunningEmulator, d: EmulatedDevice): string | undefined {
  return emulator.store.relation(d.id, 'registeredOwners')[0]?.onPremisesSecurityIdentifier ?? undefined;
}

export async function runForestsDemo(options: ForestsDemoOptions): Promise<number> {
  const steps = new StepReporter(TOTAL_STEPS);
  const cleanup = new Cleanup();
  let interrupted: NodeJS.Signals | undefined;
  let started = false;
  cleanup.onInterrupt((signal) => {
    interrupted = signal;
    steps.line(
      `\n${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping the demo and removing what it created …`,
    );
    interruptRunningCommands();
    if (!started) signalChildren('SIGINT');
  });
  const checkInterrupt = (): void => {
    if (interrupted) throw new Interrupted(interrupted);
  };
  cleanup.trapSignals();

  steps.line('device-writeback demo --forests 2: two user forests after a merger (corp and fabrikam), one');
  steps.line('Entra tenant, and each device written back to the forest of its owner.');

  let dir = '';
  let emulator: RunningEmulator | undefined;
  let config: DemoForestsConfigFile | undefined;
  const forests: Forest[] = [];
  const cli = (args: string[]): string[] => [...args, '--config', config!.file];
  const byName = (name: LabForestName): Forest => forests.find((f) => f.name === name)!;

  try {
    // 1 ---------------------------------------------------------------------------------------
    await prerequisitesStep(steps);
    dir = labFolder(steps, cleanup, options.keep);
    checkInterrupt();

    // 2 ---------------------------------------------------------------------------------------
    const templates = await steps.step(
      'Provisioning two independent Samba AD forests at once (Windows Server 2012 R2 schema)',
      () => Promise.all(FORESTS.map((name) => provisionDemoTemplate(dir, name))),
      (ts) => ts.map((t) => `${t.forest.domain} (domain SID ${t.domainSid})`).join(' and '),
    );
    checkInterrupt();

    // 3 ---------------------------------------------------------------------------------------
    const dcs = await steps.step(
      'Starting a domain controller for each, on loopback addresses of their own',
      () =>
        Promise.all(
          FORESTS.map(async (name, i) => {
            const dc = await startDemoDc(templates[i]!, dir, `demo-dc-${name}`);
            cleanup.add(`the ${name} DC (samba) and its address ${dc.address}`, () => dc.stop());
            steps.detail(`${name.padEnd(9)} ${dc.url} (LDAPS, certificate from the ${name} lab CA)`);
            return dc;
          }),
        ),
      () => 'both up',
    );
    started = true;
    checkInterrupt();

    // 4 ---------------------------------------------------------------------------------------
    await steps.step(
      'Creating users and a connector account in each forest',
      async () => {
        for (const [i, name] of FORESTS.entries()) {
          const people = await createDemoPeople(dcs[i]!, USERS_PER_FOREST, i * USERS_PER_FOREST);
          forests.push({ name, template: templates[i]!, dc: dcs[i]!, people });
          for (const u of people.users)
            steps.detail(`${name.padEnd(9)} ${u.userPrincipalName.padEnd(40)} ${u.sid}`);
        }
      },
      () => `${USERS_PER_FOREST} users and ${CONNECTOR_ACCOUNT} in each`,
    );
    checkInterrupt();

    // 5 ---------------------------------------------------------------------------------------
    emulator = await steps.step(
      `Starting the Microsoft Graph emulator with ${options.devices} devices owned by users of both forests, and some by cloud-only users`,
      async () => {
        const running = await startEmulator({
          listen: '127.0.0.1:0',
          dataDir: path.join(dir, 'emulator'),
          devices: options.devices,
          ownerSids: forests.flatMap((f) => f.people.users.map((u) => u.sid)),
          upnSuffix: byName('corp').dc.forest.domain,
        });
        cleanup.add('the Graph emulator', () => running.close());
        // A cloud-only user (no onPremisesSecurityIdentifier) owns every tenth owned device.
        const casey = running.store.createUser({
          userPrincipalName: 'casey@contoso.onmicrosoft.com',
          displayName: 'Casey (cloud only)',
        });
        const owned = running.store
          .listDevices()
          .filter((d) => running.store.relation(d.id, 'registeredOwners').length);
        for (const [i, d] of owned.entries()) {
          if (i % CLOUD_ONLY_EVERY !== CLOUD_ONLY_EVERY - 1) continue;
          for (const u of running.store.relation(d.id, 'registeredOwners'))
            running.store.removeRelation(d.id, 'registeredOwners', u.id);
          running.store.addRelation(d.id, 'registeredOwners', casey.id);
        }
        steps.detail(`${running.url} (HTTPS; tenant ${running.tenantId})`);
        const counts = { corp: 0, fabrikam: 0, none: 0 };
        for (const d of running.store.listDevices()) {
          const sid = ownerOf(running, d);
          const forest = forests.find((f) => sid?.startsWith(`${f.template.domainSid}-`));
          counts[forest?.name ?? 'none']++;
        }
        steps.detail(
          `owners in corp: ${counts.corp} devices; in fabrikam: ${counts.fabrikam}; cloud-only or no owner: ${counts.none}`,
        );
        return running;
      },
      (e) => `${e.store.counts().active} devices, ${e.store.counts().users} users`,
    );
    checkInterrupt();

    // 6 ---------------------------------------------------------------------------------------
    config = await steps.step(
      'Writing the configuration file: a forests: list instead of the ad: block',
      async () => {
        const written = writeForestsDemoConfig(
          {
            dir,
            tenantId: emulator!.tenantId,
            clientId: emulator!.clientId,
            graphUrl: emulator!.url,
            emulatorCaFile: emulator!.caFile,
            intervalSeconds: 2,
            webListen: `127.0.0.1:${await freePort('127.0.0.1')}`,
          },
          emulator!.clientSecret,
          forests.map((f) => ({
            name: f.name,
            adUrl: f.dc.url,
            adCaFile: f.dc.caFile,
            bindDn: f.people.connector.dn,
            domain: f.dc.forest.domain,
            adPassword: f.people.connector.password,
            adminPassword: f.dc.adminPassword,
          })),
        );
        showFile(steps, written.file);
        return written;
      },
      (c) => `${c.file} (secrets in ${c.secretsDir}, mode 0600)`,
    );
    checkInterrupt();

    // 7 ---------------------------------------------------------------------------------------
    await steps.step(
      '`check` before the forests are prepared: it fails in each, with the fix',
      async () =>
        expectExit('check (before init-ad)', await runCli(steps, cli(['check']), { maxLines: 40 }), [1]),
      () => 'exit code 1, as expected: init-ad is the fix',
    );
    checkInterrupt();

    // 8 ---------------------------------------------------------------------------------------
    await steps.step(
      '`init-ad`: prepares every forest in turn, each with its own enterprise admin',
      async () => {
        const env: Record<string, string> = {};
        const shown: string[] = [];
        for (const f of forests) {
          const suffix = f.name.toUpperCase();
          env[`DWB_ADMIN_USER_${suffix}`] = f.dc.adminUpn;
          env[`DWB_ADMIN_PASSWORD_${suffix}`] = f.dc.adminPassword;
          shown.push(
            `DWB_ADMIN_USER_${suffix}=${f.dc.adminUpn} DWB_ADMIN_PASSWORD_${suffix}="$(cat ${config!.adminPasswordFiles[f.name]})"`,
          );
        }
        const result = await runCli(
          steps,
          cli([
            'init-ad',
            '--connector-account',
            CONNECTOR_ACCOUNT,
            '--cloud-issuer',
            emulator!.cloudIssuerFile,
          ]),
          { env, envShown: shown.join(' '), maxLines: 60 },
        );
        expectExit('init-ad', result, [0]);
      },
      () => 'both forests prepared',
    );
    checkInterrupt();

    // 9 ---------------------------------------------------------------------------------------
    await steps.step(
      '`check` again: everything passes, in each forest',
      async () =>
        expectExit('check (after init-ad)', await runCli(steps, cli(['check']), { maxLines: 40 }), [0]),
      () => 'exit code 0',
    );
    checkInterrupt();

    // 10 --------------------------------------------------------------------------------------
    const afterSync = await steps.step(
      '`sync`: each device to the forest of its owner; the others listed as unrouted',
      async () => {
        expectExit('sync', await runCli(steps, cli(['sync'])), [0]);
        const counts: Record<string, number> = {};
        for (const f of forests) counts[f.name] = (await countObjects(f.dc)).size;
        return counts;
      },
      (c) => forests.map((f) => `${c[f.name]} objects in ${f.name}`).join(', '),
    );
    checkInterrupt();

    // 11 --------------------------------------------------------------------------------------
    await steps.step(
      '`devices --all` and `status`: the FOREST column, each forest, and why a device is not written',
      async () => {
        expectExit('devices --all', await runCli(steps, cli(['devices', '--all']), { maxLines: 12 }), [0]);
        expectExit('status', await runCli(steps, cli(['status']), { maxLines: 30 }), [0, 1, 3]);
      },
      () => 'listed',
    );
    checkInterrupt();

    // 12 --------------------------------------------------------------------------------------
    const moved = await steps.step(
      'A corp user joins fabrikam: their devices move (created in fabrikam first, then deleted from corp)',
      async () => {
        const from = byName('corp').people.users[0]!;
        const to = byName('fabrikam').people.users[0]!;
        const toCloud = emulator!.store.listUsers().find((u) => u.onPremisesSecurityIdentifier === to.sid)!;
        const devices = emulator!.store.listDevices().filter((d) => ownerOf(emulator!, d) === from.sid);
        for (const d of devices) {
          for (const u of emulator!.store.relation(d.id, 'registeredOwners'))
            emulator!.store.removeRelation(d.id, 'registeredOwners', u.id);
          emulator!.store.addRelation(d.id, 'registeredOwners', toCloud.id);
        }
        steps.detail(
          `Entra ID: ${devices.length} devices of ${from.userPrincipalName} now belong to ${to.userPrincipalName}`,
        );
        steps.detail(
          "Graph's device delta does not carry owner changes: the daily full reconcile (or sync --full) picks them up.",
        );
        expectExit('sync --full', await runCli(steps, cli(['sync', '--full'])), [0]);
        const [inCorp, inFab] = await Promise.all([
          countObjects(byName('corp').dc),
          countObjects(byName('fabrikam').dc),
        ]);
        const ids = devices.map((d) => d.deviceId.toLowerCase());
        const placed = ids.filter((id) => inFab.has(id) && !inCorp.has(id)).length;
        if (placed !== ids.length)
          throw new DwbError(
            'DWB_INTERNAL',
            `${ids.length - placed} moved devices are not (only) in fabrikam.`,
          );
        return ids.length;
      },
      (n) => `${n} devices now in fabrikam only`,
    );
    checkInterrupt();

    const cmd = commandPrefix();
    const c = `--config ${config.file}`;
    steps.line('');
    steps.line('What the demo created');
    for (const f of forests)
      steps.detail(
        `${f.name.padEnd(9)} ${f.dc.url}  realm ${f.dc.forest.realm}; ${afterSync[f.name]} devices written by sync`,
      );
    steps.detail(`moved     ${moved} devices from corp to fabrikam`);
    steps.detail(`configuration ${config.file}`);
    steps.line('');
    steps.line(
      options.keep
        ? 'Keep exploring — everything is still running:'
        : 'Keep exploring (add --keep to leave this lab up):',
    );
    const suggestions: [string, string][] = [
      ['status', `status ${c}`],
      ['devices', `devices --forest fabrikam ${c}`],
      ['check', `check --forest corp --json ${c}`],
      ['run', `run ${c}    (the console filters by forest; /healthz reports each)`],
    ];
    const commands = new Set(options.commands ?? []);
    for (const [name, line] of suggestions)
      if (commands.size === 0 || commands.has(name)) steps.detail(`${cmd} ${line}`);
    steps.detail('docs/several-forests.md: routing, moves, outages, going from one forest to several');

    if (options.keep) {
      steps.line('');
      steps.line(
        `Stop everything and remove ${dir}: press Ctrl-C here, or run \`kill ${process.pid}\` from another shell.`,
      );
      await new Promise<void>((resolve) => {
        if (interrupted) resolve();
        else cleanup.onInterrupt(() => resolve());
      });
    }
    await finish(steps, cleanup, dir);
    if (!options.keep) steps.line(`Demo finished in ${seconds(steps.elapsedMs())}.`);
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
    await finish(steps, cleanup, dir);
    throw err;
  } finally {
    cleanup.releaseSignals();
  }
}
