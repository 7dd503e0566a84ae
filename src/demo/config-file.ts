// Writes the demo's device-writeback.yaml (SPEC §5) and its secrets: each secret is a file of its
// own (mode 0600) next to the configuration, referenced as { file: … }, so the configuration can be
// shown, copied and reused without ever showing a password.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface DemoSecrets {
  /** The connector account's password (ad.password). */
  adPassword: string;
  /** The emulator app registration's client secret (entra.clientSecret). */
  clientSecret: string;
  /** The lab administrator's password, for init-ad (DWB_ADMIN_PASSWORD). */
  adminPassword: string;
}

export interface DemoConfigSettings {
  dir: string;
  tenantId: string;
  clientId: string;
  graphUrl: string;
  emulatorCaFile: string;
  adUrl: string;
  adCaFile: string;
  bindDn: string;
  domain: string;
  intervalSeconds: number;
  webListen: string;
  /** writeback.scope.groups: the pilot group, with its name for the comment. */
  scopeGroup?: { id: string; displayName: string };
}

export interface DemoConfigFile {
  file: string;
  secretsDir: string;
  adminPasswordFile: string;
}

function writeSecret(file: string, value: string): void {
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

const q = (value: string): string => JSON.stringify(value);

type TourSettings = Pick<
  DemoConfigSettings,
  'tenantId' | 'clientId' | 'graphUrl' | 'emulatorCaFile' | 'intervalSeconds' | 'webListen' | 'scopeGroup'
>;

/** The entra: block: the emulator's app registration, its secret in a file. */
function entraBlock(settings: TourSettings): string {
  return `entra:
  tenantId: ${settings.tenantId}
  clientId: ${settings.clientId}
  clientSecret: { file: secrets/entra-client-secret }
  graphUrl: ${settings.graphUrl}
  authorityHost: ${settings.graphUrl}
  caFile: ${q(settings.emulatorCaFile)}
`;
}

/** writeback:, state: and web: of a tour's configuration. */
function restBlock(settings: TourSettings): string {
  return `writeback:
  intervalSeconds: ${settings.intervalSeconds}
  fullEverySeconds: 3600
  deleteThreshold: 500
${
  settings.scopeGroup
    ? `  scope:
    groups: [${settings.scopeGroup.id}] # "${settings.scopeGroup.displayName}": devices outside it are not written
`
    : ''
}state:
  sqlite: device-writeback.db
web:
  listen: ${settings.webListen}
`;
}

export function writeDemoConfig(settings: DemoConfigSettings, secrets: DemoSecrets): DemoConfigFile {
  const secretsDir = path.join(settings.dir, 'secrets');
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  writeSecret(path.join(secretsDir, 'ad-password'), secrets.adPassword);
  writeSecret(path.join(secretsDir, 'entra-client-secret'), secrets.clientSecret);
  const adminPasswordFile = path.join(secretsDir, 'admin-password');
  writeSecret(adminPasswordFile, secrets.adminPassword);
  const file = path.join(settings.dir, 'device-writeback.yaml');
  const text = `# Written by \`device-writeback demo\` for its throwaway lab (Samba AD DC + Graph emulator).
# Secrets are files in secrets/ next to this file, never values in it.
${entraBlock(settings)}ad:
  url: ${settings.adUrl}
  bindDn: ${q(settings.bindDn)}
  password: { file: secrets/ad-password }
  caFile: ${q(settings.adCaFile)}
  domain: ${settings.domain}
${restBlock(settings)}`;
  writeFileSync(file, text, { mode: 0o600 });
  return { file, secretsDir, adminPasswordFile };
}

export interface DemoForestSettings {
  name: string;
  adUrl: string;
  adCaFile: string;
  bindDn: string;
  domain: string;
  /** The connector account's password (forests[].ad.password). */
  adPassword: string;
  /** The forest administrator's password, for init-ad (DWB_ADMIN_PASSWORD_<NAME>). */
  adminPassword: string;
}

export interface DemoForestsConfigFile {
  file: string;
  secretsDir: string;
  /** Each forest's admin password file, by forest name. */
  adminPasswordFiles: Record<string, string>;
}

/** The configuration of the several-forests demo: a `forests:` list (SPEC §5, §8) instead of `ad:`. */
export function writeForestsDemoConfig(
  settings: Omit<DemoConfigSettings, 'adUrl' | 'adCaFile' | 'bindDn' | 'domain'>,
  clientSecret: string,
  forests: DemoForestSettings[],
): DemoForestsConfigFile {
  const secretsDir = path.join(settings.dir, 'secrets');
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  writeSecret(path.join(secretsDir, 'entra-client-secret'), clientSecret);
  const adminPasswordFiles: Record<string, string> = {};
  let list = '';
  for (const f of forests) {
    writeSecret(path.join(secretsDir, `ad-password-${f.name}`), f.adPassword);
    adminPasswordFiles[f.name] = path.join(secretsDir, `admin-password-${f.name}`);
    writeSecret(adminPasswordFiles[f.name]!, f.adminPassword);
    list += `  - name: ${f.name}
    ad:
      url: ${f.adUrl}
      bindDn: ${q(f.bindDn)}
      password: { file: secrets/ad-password-${f.name} }
      caFile: ${q(f.adCaFile)}
      domain: ${f.domain}
`;
  }
  const file = path.join(settings.dir, 'device-writeback.yaml');
  const text = `# Written by \`device-writeback demo --forests ${forests.length}\` for its throwaway lab (Samba AD DCs + Graph emulator).
# Secrets are files in secrets/ next to this file, never values in it.
${entraBlock(settings)}forests:
${list}${restBlock(settings)}`;
  writeFileSync(file, text, { mode: 0o600 });
  return { file, secretsDir, adminPasswordFiles };
}
