// Directory content given explicitly: a JSON seed file (`--seed-file`) with users (for example the
// real AD users of a test forest, by SID) and devices (from real device certificates, or else
// registered with the emulator's DRS, which issues them one; either way `claims --cert` can be tried
// end to end), and the helper that turns a certificate into a device. Adding the same file twice
// adds nothing: users match by UPN, devices by deviceId.
import { randomUUID, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { alternativeSecurityIdForCertificate } from './alternative-security-ids.js';
import type { EmulatedDevice, EmulatedUser } from './model.js';
import type { DirectoryStore } from './store.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const seedUserSchema = z
  .object({
    id: z.string().optional(),
    userPrincipalName: z.string().min(3),
    displayName: z.string().optional(),
    onPremisesSecurityIdentifier: z.string().nullable().optional(),
    onPremisesSamAccountName: z.string().nullable().optional(),
  })
  .loose();

const seedDeviceSchema = z
  .object({
    id: z.string().optional(),
    deviceId: z.string().optional(),
    displayName: z.string().optional(),
    /** PEM of the device certificate: sets deviceId (from CN) and the type-2 key when absent. */
    certificatePem: z.string().optional(),
    registeredOwners: z.array(z.string()).optional(),
    registeredUsers: z.array(z.string()).optional(),
  })
  .loose();

export const seedFileSchema = z
  .object({
    users: z.array(seedUserSchema).optional(),
    devices: z.array(seedDeviceSchema).optional(),
  })
  .strict();

export type SeedFile = z.infer<typeof seedFileSchema>;

/**
 * Device properties for a device registered with the given certificate: `deviceId` from the
 * subject CN when it is a GUID, and the type-2 alternative security id derived from the certificate.
 */
export function deviceFromCertificate(
  certPem: string,
  overrides: Partial<EmulatedDevice> = {},
): Partial<EmulatedDevice> & Pick<EmulatedDevice, 'deviceId' | 'displayName'> {
  const cert = new X509Certificate(certPem);
  const commonName = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1]?.trim();
  const deviceId = commonName && GUID.test(commonName) ? commonName.toLowerCase() : randomUUID();
  return {
    deviceId,
    displayName: `DESKTOP-${deviceId.slice(0, 7).toUpperCase()}`,
    accountEnabled: true,
    operatingSystem: 'Windows',
    operatingSystemVersion: '10.0.22631.4460',
    trustType: 'Workplace',
    isManaged: true,
    isCompliant: true,
    deviceVersion: 2,
    profileType: 'RegisteredDevice',
    approximateLastSignInDateTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    physicalIds: [],
    alternativeSecurityIds: [alternativeSecurityIdForCertificate(certPem)],
    ...overrides,
  };
}

/** Creates a device from a certificate in the store, with optional owners (ids or UPNs). */
export function createDeviceFromCertificate(
  store: DirectoryStore,
  certPem: string,
  options: {
    overrides?: Partial<EmulatedDevice>;
    registeredOwners?: string[];
    registeredUsers?: string[];
  } = {},
): EmulatedDevice {
  const owners = options.registeredOwners ?? [];
  return store.createDevice(deviceFromCertificate(certPem, options.overrides), {
    registeredOwners: owners,
    registeredUsers: options.registeredUsers ?? owners,
  });
}

/** Adds the users and devices of a seed file; returns how many of each were added. */
export function applySeedFile(store: DirectoryStore, content: unknown): { users: number; devices: number } {
  const parsed = seedFileSchema.safeParse(content);
  if (!parsed.success) {
    throw new Error(
      `seed file: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  let users = 0;
  let devices = 0;
  for (const user of parsed.data.users ?? []) {
    if (store.getUser(user.userPrincipalName) || (user.id && store.getUser(user.id))) continue;
    store.createUser({
      displayName: user.userPrincipalName.split('@')[0] ?? null,
      ...user,
    } as Partial<EmulatedUser> & { userPrincipalName: string });
    users++;
  }
  for (const entry of parsed.data.devices ?? []) {
    const { certificatePem, registeredOwners, registeredUsers, ...properties } = entry;
    const input = certificatePem
      ? deviceFromCertificate(certificatePem, properties as Partial<EmulatedDevice>)
      : (properties as Partial<EmulatedDevice>);
    const deviceId = input.deviceId ?? randomUUID();
    if (store.activeDeviceByDeviceId(deviceId) || (input.id && store.deviceRecord(input.id))) continue;
    const owners = registeredOwners ?? [];
    const relations = { registeredOwners: owners, registeredUsers: registeredUsers ?? owners };
    // A device given without a key is registered with the DRS, which issues its certificate.
    if (!certificatePem && input.alternativeSecurityIds === undefined)
      store.registerDevice({ ...input, deviceId }, relations);
    else store.createDevice({ ...input, deviceId, displayName: input.displayName ?? deviceId }, relations);
    devices++;
  }
  return { users, devices };
}
