// `device-writeback init-ad`: prepares the forest (SPEC §2), the equivalent of
// Initialize-ADSyncDeviceWriteback, and with --cloud-issuer writes the tenant's cloud DRS issuer
// certificates that AD FS validates device certificates against. Runs as an enterprise admin
// (--admin, DWB_ADMIN_PASSWORD or a prompt); needs only ad.url and the TLS settings from the
// configuration file, never the connector's password.
import type { Command } from 'commander';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { adEndpoint } from '../ad/settings.js';
import { forestsNamed } from '../config/forests.js';
import { configPath, DEFAULT_FOREST, parseConfig, readConfigText, type Config } from '../config/load.js';
import { DwbError, isDwbError } from '../errors.js';
import { registerSecret } from '../log.js';
import { adminBindName } from '../prepare/admin-account.js';
import { prepareForest, readCloudIssuerFiles, type PreparationReport } from '../prepare/index.js';
import { action, out, outJson, withCommonOptions, type GlobalOptions } from './context.js';
import { canPrompt, promptHidden } from './prompt.js';

interface InitAdFlags extends GlobalOptions {
  forest?: string;
  domain?: string;
  connectorAccount?: string;
  admin?: string;
  cloudIssuer?: string[];
  dryRun?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('init-ad')
    .description(
      "prepare the forest for device writeback: the Device Registration Service objects, the device container\nand the connector account's rights (run once, as an enterprise admin; a second run changes nothing)",
    )
    .option(
      '--domain <dns>',
      'domain for CN=RegisteredDevices (default: ad.domain, else the forest root domain)',
    )
    .option(
      '--connector-account <name>',
      'account that writes the devices: sAMAccountName, DOMAIN\\name, UPN or DN (default: ad.bindDn)',
    )
    .option(
      '--admin <user>',
      'enterprise admin to bind as: sAMAccountName, DOMAIN\\name, UPN or DN (default: $DWB_ADMIN_USER)',
    )
    .option(
      '--cloud-issuer <pem-file>',
      "the tenant's cloud Device Registration Service issuer certificate (MS-Organization-Access), added to\nmsDS-CloudIssuerPublicCertificates so that AD FS accepts the devices' certificates (repeatable)",
      (file: string, previous: string[] | undefined) => [...(previous ?? []), file],
    )
    .option(
      '--forest <name>',
      'with several forests: prepare this forest only (default: every forest, in turn)',
    )
    .option('--dry-run', 'print the LDIF and SDDL that would be applied, and change nothing');
  withCommonOptions(command, { json: true });
  command.addHelpText(
    'after',
    '\nThe admin password comes from DWB_ADMIN_PASSWORD, or is prompted for (not echoed) on a terminal.\nOnly ad.url and its TLS settings are needed from the configuration file.\nHow to obtain the --cloud-issuer certificate of a tenant: docs/prepare-forest.md (The cloud DRS issuer).',
  );
  command.action(
    action<InitAdFlags>(async (opts) => {
      // The files first: a wrong one stops the command before any connection or password prompt.
      const cloudIssuers = readCloudIssuerFiles(opts.cloudIssuer ?? []);
      const { config, missingBindDn } = readPreparationConfig(opts.config);
      const forests = forestsNamed(config, opts.forest);
      const reports: { forest: string; report: PreparationReport }[] = [];
      for (const forest of forests) {
        const where = config.severalForests ? ` of forest ${forest.name}` : '';
        const connectorAccount =
          opts.connectorAccount ?? (missingBindDn.has(forest.name) ? undefined : forest.ad.bindDn);
        if (!connectorAccount) {
          throw new DwbError(
            'DWB_USAGE',
            `no connector account${where}: give --connector-account, or set ${forest.key}.bindDn in the configuration.`,
          );
        }
        const adminUser = opts.admin ?? forestEnv('DWB_ADMIN_USER', forest.name, config.severalForests);
        if (!adminUser) {
          throw new DwbError(
            'DWB_USAGE',
            `init-ad binds as an enterprise admin${where}: give --admin <user> (sAMAccountName, DOMAIN\\name, UPN or DN) or set DWB_ADMIN_USER${config.severalForests ? ` (or DWB_ADMIN_USER_${envSuffix(forest.name)})` : ''}.`,
          );
        }
        const password = await adminPassword(adminUser, forest.name, config.severalForests);
        const endpoint = adEndpoint(forest.ad);
        const domain = opts.domain ?? forest.ad.domain;
        const admin = await adminBindName(endpoint, adminUser, domain);
        const report = await prepareForest(
          endpoint,
          { user: admin.bindName, password },
          { domain, connectorAccount, dryRun: opts.dryRun, adminName: admin.given, cloudIssuers },
        ).catch((err: unknown) => {
          if (isDwbError(err) && err.code === 'DWB_AD_BIND_FAILED') {
            const how = admin.lookedUpIn
              ? ` (bound as ${admin.bindName}: a bare name is looked up in ${admin.lookedUpIn})`
              : '';
            throw new DwbError(
              'DWB_AD_BIND_FAILED',
              `${err.message.replace(/\.$/, '')} for the administrator ${admin.given}${how}${where}.`,
              {
                fix: `Check --admin (sAMAccountName, DOMAIN\\name, UPN or DN of an enterprise admin; a bare sAMAccountName is looked up in --domain, else ${forest.key}.domain, else the forest root domain) and the password in DWB_ADMIN_PASSWORD${config.severalForests ? ` (or DWB_ADMIN_PASSWORD_${envSuffix(forest.name)})` : ''}.`,
              },
            );
          }
          throw err;
        });
        reports.push({ forest: forest.name, report });
      }
      if (opts.json) {
        if (!config.severalForests) outJson(jsonReport(reports[0]!.report));
        else
          outJson({
            changes: reports.flatMap(({ forest, report }) => report.changes.map((c) => ({ forest, ...c }))),
            forests: Object.fromEntries(reports.map(({ forest, report }) => [forest, jsonReport(report)])),
          });
      } else {
        for (const [i, { forest, report }] of reports.entries()) {
          if (config.severalForests) out(`${i > 0 ? '\n' : ''}Forest ${forest}`);
          printReport(report);
        }
      }
      return 0;
    }),
  );
}

/** The environment variable for a forest (DWB_ADMIN_USER_CORP), else the plain one. */
function forestEnv(name: string, forest: string, several: boolean): string | undefined {
  return (several ? process.env[`${name}_${envSuffix(forest)}`] : undefined) ?? process.env[name];
}

function envSuffix(forest: string): string {
  return forest.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * The configuration as init-ad needs it: like every command's, except that each ad block's bindDn
 * and password may be absent (a forest is often prepared before the connector is configured).
 */
export function readPreparationConfig(flag: string | undefined): {
  config: Config;
  missingBindDn: Set<string>;
} {
  const file = configPath(flag);
  const text = readConfigText(file);
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch {
    return { config: parseConfig(text, file), missingBindDn: new Set() }; // the usual YAML error
  }
  const missingBindDn = new Set<string>();
  const complete = (ad: unknown, forest: string): unknown => {
    if (!ad || typeof ad !== 'object') return ad;
    const block = ad as Record<string, unknown>;
    if (block.bindDn !== undefined && block.password !== undefined) return ad;
    if (block.bindDn === undefined) missingBindDn.add(forest);
    return { bindDn: 'unset', password: { env: 'DWB_AD_PASSWORD_NOT_NEEDED_BY_INIT_AD' }, ...block };
  };
  const doc = (data ?? {}) as { ad?: unknown; forests?: unknown };
  const patched = {
    ...doc,
    ...(doc.ad !== undefined ? { ad: complete(doc.ad, DEFAULT_FOREST) } : {}),
    ...(Array.isArray(doc.forests)
      ? {
          forests: doc.forests.map((f: unknown) =>
            f && typeof f === 'object' && 'ad' in f
              ? { ...f, ad: complete((f as { ad: unknown }).ad, String((f as { name?: unknown }).name)) }
              : f,
          ),
        }
      : {}),
  };
  return { config: parseConfig(stringifyYaml(patched), file), missingBindDn };
}

async function adminPassword(adminUser: string, forest: string, several: boolean): Promise<string> {
  const fromEnv = forestEnv('DWB_ADMIN_PASSWORD', forest, several);
  if (fromEnv) {
    registerSecret(fromEnv);
    return fromEnv;
  }
  if (!canPrompt()) {
    throw new DwbError(
      'DWB_ADMIN_PASSWORD_MISSING',
      `no password for ${adminUser}: DWB_ADMIN_PASSWORD is not set and this is not a terminal.`,
    );
  }
  const typed = await promptHidden(`Password for ${adminUser}${several ? ` (forest ${forest})` : ''}: `);
  if (!typed) throw new DwbError('DWB_ADMIN_PASSWORD_MISSING', `no password was typed for ${adminUser}.`);
  registerSecret(typed);
  return typed;
}

export function jsonReport(report: PreparationReport): Record<string, unknown> {
  return {
    changes: report.changes,
    dryRun: report.dryRun,
    domain: report.domain,
    containerDn: report.containerDn,
    serviceDn: report.serviceDn,
    connector: report.connector,
    cloudIssuers: report.cloudIssuers,
    warnings: report.warnings,
    ...(report.dryRun ? { ldif: report.ldif } : {}),
  };
}

function printReport(report: PreparationReport): void {
  const width = Math.max(...report.changes.map((c) => c.action.length));
  out(
    report.dryRun
      ? `Dry run: nothing was written. init-ad would make these changes (domain ${report.domain}, connector ${report.connector.displayName}):`
      : `Forest prepared for device writeback (domain ${report.domain}, connector ${report.connector.displayName}):`,
  );
  out('');
  for (const c of report.changes) {
    out(`  ${c.action.padEnd(width)}  ${c.dn}`);
    out(`  ${' '.repeat(width)}  ${c.detail}`);
    for (const ace of c.aces ?? []) out(`  ${' '.repeat(width)}    ${ace}`);
  }
  for (const w of report.warnings) out(`\nWarning: ${w}`);
  const count = (a: string): number => report.changes.filter((c) => c.action === a).length;
  out('');
  if (report.dryRun) {
    out('LDIF and SDDL of these changes:');
    out('');
    out(report.ldif.trimEnd());
    out('');
    out('Run the same command without --dry-run to apply them.');
  } else if (count('create') + count('modify') === 0) {
    out('Nothing to change: the forest was already prepared.');
  } else {
    out(
      `${count('create')} created, ${count('modify')} modified, ${count('none')} unchanged. Next: device-writeback check`,
    );
  }
}
