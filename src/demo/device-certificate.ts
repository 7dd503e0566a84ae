// The last leg of the AD FS path in the demo: a device written back to AD, its owner in the lab's
// forest, and the certificate the emulator's cloud DRS issued to it, fetched from the emulator's
// control route (as `curl` would) into a file for `claims --cert`.
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type { EmulatedDevice } from '../emulator/model.js';
import type { DirectoryStore } from '../emulator/store.js';
import type { LabUser } from '../lab/directory.js';

export interface CertifiedDevice {
  device: EmulatedDevice;
  /** The lab user who registered it (its registered owner in Entra ID, by on-premises SID). */
  owner: LabUser | undefined;
}

/**
 * An enabled device whose key is a certificate of the emulator's DRS, not in `exclude` (the devices
 * the demo changed), with a unique display name: preferably a Windows device joined to Entra ID
 * whose owner is one of the lab's users, the case AD FS device authentication is made for.
 */
export function pickCertifiedDevice(
  store: DirectoryStore,
  users: LabUser[],
  exclude: ReadonlySet<string>,
): CertifiedDevice | undefined {
  const all = store.listDevices();
  const names = new Map<string, number>();
  for (const d of all) names.set(d.displayName, (names.get(d.displayName) ?? 0) + 1);
  const bySid = new Map(users.map((u) => [u.sid.toUpperCase(), u]));
  const ownerOf = (d: EmulatedDevice): LabUser | undefined => {
    const sid = store.relation(d.id, 'registeredOwners')[0]?.onPremisesSecurityIdentifier;
    return sid ? bySid.get(sid.toUpperCase()) : undefined;
  };
  const eligible = all.filter(
    (d) => d.accountEnabled && !exclude.has(d.id) && names.get(d.displayName) === 1,
  );
  const preferred = eligible.filter(
    (d) => d.trustType === 'AzureAd' && d.operatingSystem === 'Windows' && ownerOf(d) !== undefined,
  );
  for (const device of [...preferred, ...eligible]) {
    if (store.deviceCertificate(device.id)) return { device, owner: ownerOf(device) };
  }
  return undefined;
}

/** GETs `url` over HTTPS, trusting `ca` (the emulator's own CA), and writes the body to `file`. */
export async function downloadPem(url: string, ca: Buffer, file: string): Promise<void> {
  const body = await new Promise<string>((resolve, reject) => {
    const request = https.get(url, { ca, timeout: 10_000 }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        response.statusCode === 200
          ? resolve(text)
          : reject(new Error(`GET ${url} answered ${response.statusCode ?? '?'}`)),
      );
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
  if (!body.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`GET ${url} did not return a certificate`);
  writeFileSync(file, body);
}
