// Realistic, deterministic sample directories: device i and user j depend only on the seed and
// their index, so `--devices 100` is the first 100 of `--devices 1000`, on every machine.
import { encodeX509Key } from './alternative-security-ids.js';
import { completeDevice, completeUser, type EmulatedDevice, type EmulatedUser } from './model.js';
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

export function defaultDomainSid(seed = 'device-writeback'): string {
  const prng = new Prng(`${seed}:domain`);
  return `S-1-5-21-${prng.next32()}-${prng.next32()}-${prng.next32()}`;
}

function isoAt(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** User j of a seeded directory. With `ownerSids`, user j carries `ownerSids[j]`. */
export function seededUser(index: number, options: SeedOptions = {}): EmulatedUser {
  const seed = options.seed ?? 'device-writeback';
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

/** Device i of a seeded directory, with the user indexes of its registered owners and users. */
export function seededDevice(
  index: number,
  options: SeedOptions = {},
  /** Object id of seeded user j when the caller already has it (saves regenerating the user). */
  userIdOf: (userIndex: number) => string | undefined = (j) => seededUser(j, options).id,
): { device: EmulatedDevice; ownerUserIndex: number | undefined } {
  const seed = options.seed ?? 'device-writeback';
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

  // The key of a device certificate: SHA-1 thumbprint and SHA-256 hash of a (simulated) public key.
  const key = encodeX509Key(prng.bytes(20).toString('hex'), prng.bytes(32).toString('base64'));

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
    alternativeSecurityIds: [{ type: 2, identityProvider: null, key }],
  });
  return { device, ownerUserIndex: owner };
}
