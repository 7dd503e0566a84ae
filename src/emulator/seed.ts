// Realistic, deterministic sample directories: device i and user j depend only on the seed and
// their index, so `--devices 100` is the first 100 of `--devices 1000`, on every machine. Each
// seeded device is registered with the emulator's cloud DRS (drs.ts): its type-2 key is that of the
// device certificate the seed's DRS issued to it, so the certificate can be handed out and tried.
import { ALT_SECURITY_ID_TYPE_X509 } from './alternative-security-ids.js';
import { CloudDrs } from './drs.js';
import { guidToBytes } from '../ad/guid.js';
import {
  cloudSecurityIdentifier,
  completeDevice,
  completeGroup,
  completeUser,
  type EmulatedDevice,
  type EmulatedGroup,
  type EmulatedUser,
} from './model.js';
import { Prng } from './prng.js';

export interface SeedOptions {
  /** PRNG seed (default `device-writeback`). */
  seed?: string;
  /** Domain SID for owners' `onPremisesSecurityIdentifier` (`<domainSid>-<rid>`); derived from the seed otherwise. */
  domainSid?: string;
  /** Real SIDs (e.g. of users created in a test forest): one user each, owning the devices in turn. */
  ownerSids?: string[];
  /** UPN suffix of seeded users (default `contoso.example`). */
  upnSuffix?: string;
  /** The DRS that issues the devices' certificates; the seed's own (CloudDrs.forSeed) otherwise. */
  drs?: CloudDrs;
}

export const DEFAULT_SEED = 'device-writeback';

/** The DRS whose certificates a seeded directory's devices carry. */
export function seedDrs(options: SeedOptions = {}): CloudDrs {
  return options.drs ?? CloudDrs.forSeed(options.seed ?? DEFAULT_SEED);
}

/** All times are relative to this instant, so that seeded data never depends on the clock. */
const REFERENCE_TIME = Date.parse('2025-06-01T00:00:00Z');
const DAY_MS = 86_400_000;
/** First RID of seeded users: well above the built-in accounts (500-1000s) of a fresh domain. */
const FIRST_USER_RID = 2000;

const givenNames = [
  'Adele',
  'Alex',
  'Ana',
  'Ben',
  'Chen',
  'Diego',
  'Elif',
  'Emma',
  'Fatima',
  'Grace',
  'Hiro',
  'Ines',
  'Isaiah',
  'Jana',
  'Johanna',
  'Kofi',
  'Lara',
  'Lee',
  'Lidia',
  'Lynne',
  'Megan',
  'Miriam',
  'Nestor',
  'Nora',
  'Omar',
  'Patti',
  'Pradeep',
  'Priya',
  'Raul',
  'Sofia',
  'Tomas',
  'Yuki',
];
const surnames = [
  'Adams',
  'Bauer',
  'Costa',
  'Dubois',
  'Eriksen',
  'Fischer',
  'Garcia',
  'Hansen',
  'Ito',
  'Jensen',
  'Kowalski',
  'Larsen',
  'Martin',
  'Nakamura',
  'Novak',
  'Okafor',
  'Patel',
  'Quinn',
  'Rossi',
  'Schmidt',
  'Silva',
  'Tanaka',
  'Vargas',
  'Weber',
  'Wilson',
  'Yilmaz',
  'Zhang',
];

const windowsBuilds = [
  '10.0.19045.4170',
  '10.0.19045.5011',
  '10.0.22621.3447',
  '10.0.22631.3880',
  '10.0.22631.4460',
  '10.0.26100.2314',
  '10.0.26100.2605',
];
const iosVersions = ['16.7.8', '17.4.1', '17.5.1', '17.6.1', '18.0.1', '18.1', '18.1.1'];
const androidVersions = ['12', '13', '14', '15'];
const macVersions = ['13.6.7', '14.4.1', '14.6.1', '15.0.1', '15.1'];
const windowsHardware: readonly (readonly [string, string])[] = [
  ['Dell Inc.', 'Latitude 7440'],
  ['Dell Inc.', 'OptiPlex 7010'],
  ['HP', 'HP EliteBook 840 G10'],
  ['LENOVO', '21HMCTO1WW'],
  ['Microsoft Corporation', 'Surface Laptop 5'],
  ['Microsoft Corporation', 'Virtual Machine'],
];
const androidHardware: readonly (readonly [string, string, string])[] = [
  ['samsung', 'SM-S911B', 'Galaxy S23'],
  ['samsung', 'SM-A546B', 'Galaxy A54'],
  ['Google', 'Pixel 8', 'Pixel 8'],
  ['motorola', 'moto g84 5G', 'moto g84'],
];
const iosModels = ['iPhone 14', 'iPhone 15', 'iPhone 15 Pro', 'iPad Air (5th generation)'];
const macModels = ['MacBook Pro (14-inch, 2023)', 'MacBook Air (M2, 2022)', 'iMac (24-inch, M3)'];

/** The MDM app id Intune registers devices with. */
const INTUNE_MDM_APP_ID = '0000000a-0000-0000-c000-000000000000';

export function defaultDomainSid(seed = DEFAULT_SEED): string {
  const prng = new Prng(`${seed}:domain`);
  return `S-1-5-21-${prng.next32()}-${prng.next32()}-${prng.next32()}`;
}

function isoAt(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** User j of a seeded directory. With `ownerSids`, user j carries `ownerSids[j]`. */
export function seededUser(index: number, options: SeedOptions = {}): EmulatedUser {
  const seed = options.seed ?? DEFAULT_SEED;
  const prng = new Prng(`${seed}:user:${index}`);
  const givenName = prng.pick(givenNames);
  const surname = prng.pick(surnames);
  const nickname = `${givenName}.${surname}${index}`.toLowerCase();
  const suffix = options.upnSuffix ?? 'contoso.example';
  const sid = options.ownerSids
    ? options.ownerSids[index]
    : `${options.domainSid ?? defaultDomainSid(seed)}-${FIRST_USER_RID + index}`;
  return completeUser({
    id: prng.guid(),
    userPrincipalName: `${nickname}@${suffix}`,
    displayName: `${givenName} ${surname}`,
    givenName,
    surname,
    mail: `${nickname}@${suffix}`,
    mailNickname: nickname,
    jobTitle: prng.pick(['Engineer', 'Analyst', 'Consultant', 'Sales Manager', 'Designer', null]),
    officeLocation: prng.pick(['Building 1', 'Building 4', 'Remote', null]),
    preferredLanguage: prng.pick(['en-US', 'de-DE', 'fr-FR', null]),
    onPremisesSamAccountName: nickname.slice(0, 20),
    onPremisesSecurityIdentifier: sid ?? null,
    onPremisesSyncEnabled: sid ? true : null,
  });
}

/** How many users a seeded directory of `deviceCount` devices has. */
export function seededUserCount(deviceCount: number, options: SeedOptions = {}): number {
  if (options.ownerSids) return options.ownerSids.length;
  return deviceCount === 0 ? 0 : Math.floor(((deviceCount - 1) * 2) / 3) + 1;
}

/** The user index that owns device i. */
function ownerIndex(index: number, options: SeedOptions): number | undefined {
  if (options.ownerSids) return options.ownerSids.length ? index % options.ownerSids.length : undefined;
  return Math.floor((index * 2) / 3);
}

function sixteenDigits(prng: Prng): string {
  return prng.digits(16);
}

export interface SeededDevice {
  device: EmulatedDevice;
  /** The seeded user that owns (and uses) the device, if any. */
  ownerUserIndex: number | undefined;
}

type UserIdOf = (userIndex: number) => string | undefined;

/** The registration time a seeded device's certificate was issued at. */
function registeredAt(device: EmulatedDevice): Date {
  return new Date(device.registrationDateTime ?? REFERENCE_TIME);
}

function withKey(seeded: SeededDevice, key: string): SeededDevice {
  seeded.device.alternativeSecurityIds = [{ type: ALT_SECURITY_ID_TYPE_X509, identityProvider: null, key }];
  return seeded;
}

/** Device i of a seeded directory, with the user index of its registered owner and user. */
export function seededDevice(
  index: number,
  options: SeedOptions = {},
  /** Object id of seeded user j when the caller already has it (saves regenerating the user). */
  userIdOf: UserIdOf = (j) => seededUser(j, options).id,
): SeededDevice {
  const seeded = seededDeviceWithoutKey(index, options, userIdOf);
  return withKey(seeded, seedDrs(options).deviceKey(seeded.device.deviceId, registeredAt(seeded.device)));
}

/**
 * Devices `from` … `to - 1` of a seeded directory: the same as calling {@link seededDevice} for
 * each, but their certificates are issued as one batch, shared with worker threads when it is large.
 */
export function seededDevices(
  from: number,
  to: number,
  options: SeedOptions = {},
  userIdOf: UserIdOf = (j) => seededUser(j, options).id,
): SeededDevice[] {
  const out: SeededDevice[] = [];
  for (let i = from; i < to; i++) out.push(seededDeviceWithoutKey(i, options, userIdOf));
  const keys = seedDrs(options).deviceKeys(
    out.map(({ device }) => ({ deviceId: device.deviceId, registered: registeredAt(device) })),
  );
  return out.map((seeded, i) => withKey(seeded, keys[i] ?? ''));
}

function seededDeviceWithoutKey(index: number, options: SeedOptions, userIdOf: UserIdOf): SeededDevice {
  const seed = options.seed ?? DEFAULT_SEED;
  const prng = new Prng(`${seed}:device:${index}`);
  const platform = prng.weighted([
    ['Windows', 55],
    ['iOS', 20],
    ['Android', 15],
    ['MacOS', 10],
  ] as const);
  const trustType =
    platform === 'Windows'
      ? prng.weighted([
          ['AzureAd', 40],
          ['ServerAd', 35],
          ['Workplace', 25],
        ] as const)
      : platform === 'MacOS'
        ? prng.weighted([
            ['Workplace', 80],
            ['AzureAd', 20],
          ] as const)
        : 'Workplace';
  const id = prng.guid();
  const deviceId = prng.guid();
  const registered = REFERENCE_TIME - prng.int(30, 900) * DAY_MS - prng.int(0, DAY_MS / 1000) * 1000;
  const lastSignIn = REFERENCE_TIME - prng.int(0, 60) * DAY_MS - prng.int(0, DAY_MS / 1000) * 1000;
  const managed = trustType === 'ServerAd' || trustType === 'AzureAd' ? prng.chance(0.9) : prng.chance(0.6);
  const compliant = managed ? prng.chance(0.85) : null;
  const owner = trustType === 'ServerAd' ? undefined : ownerIndex(index, options);
  const ownerObjectId = owner === undefined ? undefined : userIdOf(owner);

  let displayName: string;
  let manufacturer: string;
  let model: string;
  let version: string;
  const physicalIds: string[] = [];
  const gid = sixteenDigits(prng);
  const hwid = sixteenDigits(prng);
  switch (platform) {
    case 'Windows': {
      [manufacturer, model] = prng.pick(windowsHardware);
      displayName =
        trustType === 'ServerAd'
          ? `CONTOSO-${prng.pick(['PC', 'LT', 'WS'])}-${prng.digits(4)}`
          : `${prng.pick(['DESKTOP', 'LAPTOP'])}-${prng.alphanumeric(7)}`;
      version = prng.pick(windowsBuilds);
      if (ownerObjectId) physicalIds.push(`[USER-GID]:${ownerObjectId}:${gid}`);
      physicalIds.push(`[GID]:g:${gid}`);
      if (ownerObjectId) physicalIds.push(`[USER-HWID]:${ownerObjectId}:${hwid}`);
      physicalIds.push(`[HWID]:h:${hwid}`);
      if (trustType === 'AzureAd' && prng.chance(0.4)) physicalIds.push(`[ZTDID]:${prng.guid()}`);
      break;
    }
    case 'iOS': {
      manufacturer = 'Apple';
      model = prng.pick(iosModels);
      displayName = model.startsWith('iPad') ? 'iPad' : 'iPhone';
      version = prng.pick(iosVersions);
      if (ownerObjectId) physicalIds.push(`[USER-GID]:${ownerObjectId}:${gid}`);
      physicalIds.push(`[GID]:g:${gid}`);
      break;
    }
    case 'Android': {
      const hardware = prng.pick(androidHardware);
      [manufacturer, model] = hardware;
      displayName = hardware[2];
      version = prng.pick(androidVersions);
      if (ownerObjectId) physicalIds.push(`[USER-GID]:${ownerObjectId}:${gid}`);
      physicalIds.push(`[GID]:g:${gid}`);
      break;
    }
    default: {
      manufacturer = 'Apple';
      model = prng.pick(macModels);
      displayName = `${model.split(' ')[0]}-${prng.alphanumeric(6)}`;
      version = prng.pick(macVersions);
      physicalIds.push(`[GID]:g:${gid}`);
      break;
    }
  }

  const device = completeDevice({
    id,
    deviceId,
    displayName,
    accountEnabled: prng.chance(0.95),
    approximateLastSignInDateTime: isoAt(lastSignIn),
    createdDateTime: isoAt(registered),
    registrationDateTime: isoAt(registered),
    deviceVersion: 2,
    deviceOwnership:
      trustType === 'Workplace' && platform !== 'Windows' ? prng.pick(['Personal', 'Company']) : 'Company',
    enrollmentType: managed ? (platform === 'Windows' ? 'AzureDomainJoined' : 'UserEnrollment') : null,
    isCompliant: compliant,
    isManaged: managed,
    isRooted: platform === 'Android' ? false : null,
    managementType: managed ? 'MDM' : null,
    manufacturer,
    mdmAppId: managed ? INTUNE_MDM_APP_ID : null,
    model,
    onPremisesSyncEnabled: trustType === 'ServerAd' ? true : null,
    onPremisesLastSyncDateTime:
      trustType === 'ServerAd' ? isoAt(REFERENCE_TIME - prng.int(0, 3600) * 1000) : null,
    operatingSystem: platform,
    operatingSystemVersion: version,
    physicalIds,
    profileType: 'RegisteredDevice',
    trustType,
    // Filled in by the callers, from the certificate the DRS issued at registration.
    alternativeSecurityIds: [],
  });
  return { device, ownerUserIndex: owner };
}

// ---- groups ------------------------------------------------------------------------------------

/** A seeded group: which seeded devices it holds directly, and which seeded groups are nested in it. */
export interface SeededGroup {
  key: string;
  group: EmulatedGroup;
  /** Whether seeded device `index` is a direct member. */
  holdsDevice: (index: number, device: EmulatedDevice) => boolean;
  /** Keys of the seeded groups that are direct members of this one. */
  nestedGroups: string[];
}

const groupDefinitions: readonly {
  key: string;
  displayName: string;
  description: string;
  holdsDevice: (index: number, device: EmulatedDevice) => boolean;
  nestedGroups: string[];
}[] = [
  {
    key: 'pilot',
    displayName: 'Pilot devices',
    description: 'Devices in the device writeback pilot: every tenth seeded device',
    holdsDevice: (index) => index % 10 === 0,
    nestedGroups: [],
  },
  {
    key: 'windows',
    displayName: 'Windows devices',
    description: 'Every seeded Windows device',
    holdsDevice: (_index, device) => device.operatingSystem === 'Windows',
    nestedGroups: [],
  },
  {
    key: 'scope',
    displayName: 'Device writeback scope',
    description: 'The pilot devices (a nested group) and a few devices of their own',
    holdsDevice: (index) => index % 25 === 7,
    nestedGroups: ['pilot'],
  },
];

/**
 * The groups of a seeded directory, the same for the same seed: "Pilot devices" (every tenth
 * device), "Windows devices", and "Device writeback scope", which holds "Pilot devices" as a
 * nested group plus a few devices directly, for scope rules and transitive membership.
 */
export function seededGroups(options: SeedOptions = {}): SeededGroup[] {
  const seed = options.seed ?? DEFAULT_SEED;
  return groupDefinitions.map((definition) => {
    const prng = new Prng(`${seed}:group:${definition.key}`);
    const id = prng.guid();
    const created = isoAt(REFERENCE_TIME - 400 * DAY_MS - prng.int(0, DAY_MS / 1000) * 1000);
    return {
      key: definition.key,
      holdsDevice: definition.holdsDevice,
      nestedGroups: definition.nestedGroups,
      group: completeGroup({
        id,
        displayName: definition.displayName,
        description: definition.description,
        mailNickname: definition.displayName.replace(/[^A-Za-z0-9]/g, '').toLowerCase(),
        createdDateTime: created,
        renewedDateTime: created,
        securityIdentifier: cloudSecurityIdentifier(guidToBytes(id)),
      }),
    };
  });
}
