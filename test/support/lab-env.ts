// A lab for end-to-end tests: a Samba DC (from useDc) plus the Graph emulator in-process, and a
// device-writeback.yaml that points at both, with every secret behind an environment variable.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.js';
import type { SambaDc } from '../../src/lab/samba.js';

export interface LabEnv {
  dir: string;
  configFile: string;
  env: Record<string, string>;
  emulator: RunningEmulator;
}

/** The entra: block for the in-process emulator, its secret in DWB_CLIENT_SECRET. */
export function entraYaml(emulator: RunningEmulator): string {
  return `entra:
  tenantId: ${emulator.tenantId}
  clientId: ${emulator.clientId}
  clientSecret: { env: DWB_CLIENT_SECRET }
  graphUrl: ${emulator.url}
  authorityHost: ${emulator.url}
  caFile: ${emulator.caFile}
`;
}

export async function startLabEnv(
  dc: SambaDc,
  options: {
    emulator?: EmulatorOptions;
    bindDn?: string;
    password?: string;
    writeback?: string;
    /** Extra lines under `ad:` (such as `  timeoutSeconds: 3`). */
    ad?: string;
    /** The lines under `state:` (the SQLite file in the folder when absent). */
    state?: string;
    /** More environment variables the configuration refers to (such as the PostgreSQL URL). */
    env?: Record<string, string>;
  } = {},
): Promise<LabEnv> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-e2e-'));
  const emulator = await startEmulator({
    dataDir: path.join(dir, 'emulator'),
    domainSid: dc.domainSid,
    ...options.emulator,
  });
  const env = {
    DWB_AD_PASSWORD: options.password ?? dc.adminPassword,
    DWB_CLIENT_SECRET: emulator.clientSecret,
    ...options.env,
  };
  const configFile = path.join(dir, 'device-writeback.yaml');
  writeFileSync(
    configFile,
    `${entraYaml(emulator)}ad:
  url: ${dc.url}
  bindDn: "${options.bindDn ?? dc.adminDn}"
  password: { env: DWB_AD_PASSWORD }
  caFile: ${dc.caFile}
  domain: ${dc.forest.domain}
${options.ad ?? ''}
writeback:
${options.writeback ?? '  intervalSeconds: 1'}
state:
${options.state ?? `  sqlite: ${path.join(dir, 'state.db')}`}
`,
  );
  return { dir, configFile, env, emulator };
}
