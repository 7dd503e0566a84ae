// `device-writeback emulator`: runs the Graph-compatible emulator (SPEC §6) until SIGINT/SIGTERM and
// prints what a client needs: URL, tenant, client id and secret, CA file, an `entra:` block, and
// its cloud DRS issuer (for `init-ad --cloud-issuer`) with where device certificates are served.
// It needs no configuration file.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { DwbError } from '../errors.js';
import { registerSecret } from '../log.js';
// The emulator (fastify and its plugins) is imported when this command runs, not when any command
// starts: it was a third of the start-up time of `sync`.
import type { EmulatorOptions } from '../emulator/index.js';
import { action, withCommonOptions, type GlobalOptions } from './context.js';

interface EmulatorCommandOptions extends GlobalOptions {
  listen: string;
  devices?: string;
  data?: string;
  dataDir?: string;
  tenant?: string;
  clientId?: string;
  clientSecret?: string;
  domainSid?: string;
  ownerSids?: string;
  seedFile?: string;
  seed?: string;
  clientCert?: string[];
  hostname?: string[];
  pageSize?: string;
}

const DOMAIN_SID = /^S-1-5-21-\d+-\d+-\d+$/i;
const ACCOUNT_SID = /^S-1-5-21-\d+-\d+-\d+-\d+$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function count(raw: string | undefined, flag: string, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new DwbError('DWB_USAGE', `${flag} must be a whole number from 0 to ${max}, not '${raw}'.`);
  }
  return value;
}

/** Turns the flags into startEmulator options, refusing malformed values with a usage error. */
export async function emulatorOptionsFromFlags(
  opts: EmulatorCommandOptions,
  cwd = process.cwd(),
): Promise<EmulatorOptions> {
  const { parseListen } = await import('../emulator/index.js');
  if (opts.domainSid && !DOMAIN_SID.test(opts.domainSid)) {
    throw new DwbError(
      'DWB_USAGE',
      `--domain-sid must be a domain SID such as S-1-5-21-1004336348-1177238915-682003330, not '${opts.domainSid}'.`,
    );
  }
  const ownerSids = opts.ownerSids
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const badSid = ownerSids?.find((sid) => !ACCOUNT_SID.test(sid));
  if (badSid)
    throw new DwbError(
      'DWB_USAGE',
      `--owner-sids takes account SIDs such as S-1-5-21-…-1105; '${badSid}' is not one.`,
    );
  if (opts.tenant && !GUID.test(opts.tenant))
    throw new DwbError('DWB_USAGE', `--tenant must be a tenant GUID, not '${opts.tenant}'.`);
  if (opts.clientId && !GUID.test(opts.clientId))
    throw new DwbError('DWB_USAGE', `--client-id must be a GUID, not '${opts.clientId}'.`);
  const clientCertificates = (opts.clientCert ?? []).map((file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new DwbError('DWB_USAGE', `cannot read --client-cert ${file}: ${(err as Error).message}`);
    }
  });
  try {
    parseListen(opts.listen);
  } catch (err) {
    throw new DwbError('DWB_USAGE', (err as Error).message);
  }
  const dataFile = opts.data ? path.resolve(cwd, opts.data) : undefined;
  return {
    listen: opts.listen,
    devices: count(opts.devices, '--devices', 1_000_000),
    dataFile,
    dataDir: opts.dataDir
      ? path.resolve(cwd, opts.dataDir)
      : dataFile
        ? path.dirname(dataFile)
        : path.resolve(cwd, '.emulator'),
    tenantId: opts.tenant,
    clientId: opts.clientId,
    clientSecret: opts.clientSecret,
    domainSid: opts.domainSid,
    ownerSids,
    seedFile: opts.seedFile ? path.resolve(cwd, opts.seedFile) : undefined,
    seed: opts.seed,
    clientCertificates,
    hostnames: opts.hostname,
    deltaPageSize: count(opts.pageSize, '--page-size', 999) || undefined,
  };
}

export function register(program: Command): void {
  const command = program
    .command('emulator')
    .description(
      'Run the local Microsoft Graph emulator (HTTPS) with sample devices; needs no configuration file.',
    )
    .option('--listen <host:port>', 'address to listen on (port 0 picks a free one)', '127.0.0.1:8443')
    .option('--devices <n>', 'seed n realistic, deterministic devices with their owners')
    .option(
      '--data <file>',
      'file that keeps devices, users, groups, delta tokens and the DRS across restarts (with <file>.journal)',
    )
    .option(
      '--data-dir <dir>',
      'folder for the CA, certificate and app registration (default: folder of --data, else ./.emulator)',
    )
    .addOption(
      new Option('--tenant <guid>', 'tenant id to use instead of the generated one').env(
        'DWB_EMULATOR_TENANT_ID',
      ),
    )
    .addOption(
      new Option('--client-id <guid>', 'client id to use instead of the generated one').env(
        'DWB_EMULATOR_CLIENT_ID',
      ),
    )
    .addOption(
      new Option('--client-secret <secret>', 'client secret to use (prefer the environment variable)').env(
        'DWB_EMULATOR_CLIENT_SECRET',
      ),
    )
    .option(
      '--domain-sid <sid>',
      "domain SID for seeded users' onPremisesSecurityIdentifier (S-1-5-21-a-b-c)",
    )
    .option(
      '--owner-sids <sids>',
      'comma-separated account SIDs: one seeded user each, owning the seeded devices in turn',
    )
    .option('--seed-file <file>', 'JSON file with users and devices to add (see docs/emulator.md)')
    .option('--seed <text>', 'seed of the sample data generator', 'device-writeback')
    .option('--client-cert <pem-file...>', 'register certificate credentials (client assertion) for the app')
    .option('--hostname <name...>', 'extra DNS names or IP addresses for the server certificate')
    .option('--page-size <n>', 'default page size of devices/delta (default 200)');
  withCommonOptions(command, { json: true });
  command.action(
    action<EmulatorCommandOptions>(async (opts) => {
      const options = await emulatorOptionsFromFlags(opts);
      const { startEmulator } = await import('../emulator/index.js');
      const emulator = await startEmulator(options).catch((err: unknown) => {
        if ((err as { code?: string }).code === 'EADDRINUSE') {
          throw new DwbError('DWB_USAGE', `${opts.listen} is already in use.`, {
            fix: 'Stop the other process or choose another port with --listen (port 0 picks a free one).',
          });
        }
        throw err;
      });
      const counts = emulator.store.counts();
      // The emulator's own secret is printed on purpose (like Azurite's well-known key); after
      // that it is registered so that no log line can ever contain it.
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({
            url: emulator.url,
            graphUrl: emulator.url,
            authorityHost: emulator.url,
            tenantId: emulator.tenantId,
            clientId: emulator.clientId,
            clientSecret: emulator.clientSecret,
            caFile: emulator.caFile,
            dataDir: emulator.dataDir,
            dataFile: opts.data ? path.resolve(opts.data) : null,
            cloudIssuerFile: emulator.cloudIssuerFile,
            devices: counts.active,
            users: counts.users,
            groups: counts.groups,
          })}\n`,
        );
      } else {
        process.stdout.write(
          [
            `Microsoft Graph emulator listening on ${emulator.url}`,
            `  tenant id      ${emulator.tenantId}`,
            `  client id      ${emulator.clientId}`,
            `  client secret  ${emulator.clientSecret}`,
            `  CA file        ${emulator.caFile}`,
            `  directory      ${counts.active} devices, ${counts.users} users, ${counts.groups} groups${opts.data ? ` (kept in ${path.resolve(opts.data)})` : ' (in memory)'}`,
            `  cloud issuer   ${emulator.cloudIssuerFile}`,
            `  faults, stats  ${emulator.url}/_emulator/faults, ${emulator.url}/_emulator/stats`,
            '',
            'Add to device-writeback.yaml:',
            '',
            emulator.entraConfigYaml(),
            `and set the secret:  export DWB_CLIENT_SECRET='${emulator.clientSecret}'`,
            '',
            "The devices' certificates are issued by the cloud issuer above; to try AD FS's view of one:",
            `  device-writeback init-ad --cloud-issuer ${JSON.stringify(emulator.cloudIssuerFile)}`,
            `  curl -s --cacert ${JSON.stringify(emulator.caFile)} ${emulator.url}/_emulator/drs/devices/<deviceId>/certificate > device.pem`,
            '  device-writeback claims --cert device.pem',
            '',
            'Stop with Ctrl+C.',
            '',
          ].join('\n'),
        );
      }
      registerSecret(emulator.clientSecret);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await emulator.close();
      return 0;
    }),
  );
}
