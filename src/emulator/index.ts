// The Graph-compatible emulator: what the CLI, the demo, tests and benchmarks import.
export {
  startEmulator,
  entraConfigYaml,
  parseListen,
  DEFAULT_ROLES,
  type EmulatorOptions,
  type RunningEmulator,
} from './server.js';
export {
  DirectoryStore,
  type ChangeEntry,
  type DeviceRecord,
  type DeviceState,
  type DirectoryObjectRecord,
  type GroupRecord,
  type JournalRecord,
} from './store.js';
export { CloudDrs, DRS_ISSUER_CN, DRS_ISSUER_OU, type DeviceCertificate } from './drs.js';
export { FaultInjector, RequestStats, type FaultRuleInput, type FaultRequest } from './faults.js';
export { IdentityPlatform, type AppRegistration } from './identity.js';
export { GraphService, type GraphRequest, type GraphResponse } from './graph.js';
export {
  deviceProperties,
  userProperties,
  defaultUserProperties,
  groupProperties,
  type EmulatedDevice,
  type EmulatedUser,
  type EmulatedGroup,
  type EmulatedAlternativeSecurityId,
} from './model.js';
export {
  seededDevice,
  seededDevices,
  seededGroups,
  seededUser,
  seededUserCount,
  seedDrs,
  defaultDomainSid,
  type SeedOptions,
  type SeededDevice,
  type SeededGroup,
} from './seed.js';
export {
  applySeedFile,
  createDeviceFromCertificate,
  deviceFromCertificate,
  seedFileSchema,
  type SeedFile,
} from './seed-file.js';
export {
  alternativeSecurityIdForCertificate,
  certificateKeyParts,
  createDeviceCertificate,
  decodeAlternativeSecurityIdKey,
  encodeX509Key,
  X509_KEY_PREFIX,
} from './alternative-security-ids.js';
export { JournalPersistence } from './persistence.js';
export { DEFAULT_DELTA_PAGE_SIZE, DELTA_TOKEN_LIFETIME_MS } from './delta.js';
