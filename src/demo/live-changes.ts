// The live part of the demo: while `run` is going, change devices in the emulator (as an Entra
// administrator would) and watch Active Directory over LDAP until each change is there, measuring
// the delay from the change in the cloud to the object in AD. One of the changes is a scope rule at
// work: a device taken out of the pilot group that writeback.scope.groups names leaves AD.
import { bufs, str, type AdConnection } from '../ad/connection.js';
import { childDn } from '../ad/dn.js';
import type { DirectoryStore } from '../emulator/store.js';
import type { EmulatedDevice } from '../emulator/model.js';

export interface LiveChange {
  kind: 'rename' | 'disable' | 'delete' | 'leave-group';
  device: EmulatedDevice;
  /** What is done in Entra ID, in words. */
  description: string;
  /** Milliseconds from the change in the emulator until LDAP shows it. */
  delayMs: number;
}

type AdState =
  { exists: false } | { exists: true; displayName: string | undefined; enabled: boolean | undefined };

async function readAd(session: AdConnection, dn: string): Promise<AdState> {
  const entry = await session.read(dn, ['displayName', 'msDS-IsEnabled']);
  if (!entry) return { exists: false };
  const enabled = str(entry, 'msDS-IsEnabled');
  return {
    exists: true,
    displayName: bufs(entry, 'displayName')[0]?.toString('utf8') ?? str(entry, 'displayName'),
    enabled: enabled === undefined ? undefined : enabled.toUpperCase() === 'TRUE',
  };
}

/** Polls every `pollMs` until `seen` holds; returns the milliseconds since `since`. */
async function waitUntil(
  session: AdConnection,
  dn: string,
  seen: (state: AdState) => boolean,
  since: number,
  options: { pollMs: number; timeoutMs: number; aborted: () => boolean },
): Promise<number> {
  for (;;) {
    if (options.aborted()) throw new Error('interrupted');
    if (seen(await readAd(session, dn))) return Date.now() - since;
    if (Date.now() - since > options.timeoutMs) {
      throw new Error(`${dn} did not show the change within ${options.timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, options.pollMs));
  }
}

/**
 * Picks three enabled devices (so that "disable" changes something) whose display names are unique,
 * so that a reader can find them in the `devices` table.
 */
export function pickDevices(store: DirectoryStore): [EmulatedDevice, EmulatedDevice, EmulatedDevice] {
  const all = store.listDevices();
  const names = new Map<string, number>();
  for (const d of all) names.set(d.displayName, (names.get(d.displayName) ?? 0) + 1);
  const candidates = all.filter(
    (d) => d.accountEnabled && d.trustType !== null && names.get(d.displayName) === 1,
  );
  const [a, b, c] = [candidates[1], candidates[5], candidates[9]];
  if (!a || !b || !c)
    throw new Error('the emulator has too few enabled devices with unique names; use --devices 30 or more');
  return [a, b, c];
}

/** The demo's scope: a pilot group (writeback.scope.groups) and the device that will leave it. */
export interface PilotGroup {
  id: string;
  displayName: string;
  /** Devices written because they are in it (directly, or through the nested group). */
  members: number;
  /** Devices outside it: not written (out of scope). */
  outside: EmulatedDevice[];
  /** A direct member that the live part takes out of the group. */
  leaver: EmulatedDevice;
}

/**
 * Makes the demo's pilot group: every device but one in twenty, directly, or through the seeded
 * "Pilot devices" group nested in it. The devices the live part changes stay in it.
 */
export function createPilotGroup(store: DirectoryStore): PilotGroup {
  const picked = pickDevices(store);
  const nested = store.listGroups().find((g) => g.displayName === 'Pilot devices');
  const throughNested = new Set(nested ? store.memberIds(nested.id) : []);
  const all = store.listDevices();
  const outside = all.filter(
    (d, i) => i % 20 === 19 && !throughNested.has(d.id) && !picked.some((p) => p.id === d.id),
  );
  const outsideIds = new Set(outside.map((d) => d.id));
  const direct = all.filter((d) => !throughNested.has(d.id) && !outsideIds.has(d.id));
  // By id: the store hands out copies of its devices.
  const directIds = new Set(direct.map((d) => d.id));
  const leaver = pickLeaver(store, picked, (d) => directIds.has(d.id));
  const group = store.createGroup(
    {
      displayName: 'Device writeback pilot',
      description: 'The devices written back to AD (writeback.scope.groups)',
    },
    [...direct.map((d) => d.id), ...(nested ? [nested.id] : [])],
  );
  return {
    id: group.id,
    displayName: group.displayName,
    members: all.length - outside.length,
    outside,
    leaver,
  };
}

/** A fourth device, apart from the three the live part changes, that `isDirect` accepts. */
function pickLeaver(
  store: DirectoryStore,
  picked: EmulatedDevice[],
  isDirect: (d: EmulatedDevice) => boolean,
): EmulatedDevice {
  const leaver = store
    .listDevices()
    .filter((d) => d.accountEnabled && d.trustType !== null && isDirect(d))
    .find((d, i) => i >= 13 && !picked.some((p) => p.id === d.id));
  if (!leaver)
    throw new Error('the emulator has too few devices for the pilot group; use --devices 30 or more');
  return leaver;
}

export interface LiveChangeOptions {
  store: DirectoryStore;
  /** The pilot group of writeback.scope.groups: one of its devices leaves it (and AD). */
  pilot?: PilotGroup;
  session: AdConnection;
  containerDn: string;
  pollMs?: number;
  timeoutMs?: number;
  aborted?: () => boolean;
  /** Called once the change is made in the emulator, before waiting for AD. */
  onChange?: (description: string) => void;
  /** Called when AD shows the change. */
  onSeen?: (change: LiveChange) => Promise<void> | void;
  /**
   * Longest random pause before each change, so that changes land at any moment of `run`'s cycle
   * (not always just after one) and the delays show the real spread. Default 0.
   */
  maxPauseMs?: number;
}

/** Renames one device, disables another, deletes a third; one after the other. */
export async function liveChanges(options: LiveChangeOptions): Promise<LiveChange[]> {
  const { store, session, containerDn } = options;
  const wait = {
    pollMs: options.pollMs ?? 100,
    timeoutMs: options.timeoutMs ?? 30_000,
    aborted: options.aborted ?? (() => false),
  };
  const [renamed, disabled, deleted] = pickDevices(store);
  const dnOf = (d: EmulatedDevice): string => childDn('CN', d.deviceId.toLowerCase(), containerDn);
  const results: LiveChange[] = [];

  const change = async (
    kind: LiveChange['kind'],
    device: EmulatedDevice,
    description: string,
    apply: () => void,
    seen: (state: AdState) => boolean,
  ): Promise<void> => {
    await new Promise((r) => setTimeout(r, Math.random() * (options.maxPauseMs ?? 0)));
    if (wait.aborted()) throw new Error('interrupted');
    options.onChange?.(description);
    const t0 = Date.now();
    apply();
    const delayMs = await waitUntil(session, dnOf(device), seen, t0, wait);
    const done: LiveChange = { kind, device, description, delayMs };
    results.push(done);
    await options.onSeen?.(done);
  };

  const newName = `${renamed.displayName}-RENAMED`;
  await change(
    'rename',
    renamed,
    `rename "${renamed.displayName}" to "${newName}"`,
    () => store.updateDevice(renamed.id, { displayName: newName }),
    (s) => s.exists && s.displayName === newName,
  );
  await change(
    'disable',
    disabled,
    `disable "${disabled.displayName}" (accountEnabled = false)`,
    () => store.updateDevice(disabled.id, { accountEnabled: false }),
    (s) => s.exists && s.enabled === false,
  );
  await change(
    'delete',
    deleted,
    `delete "${deleted.displayName}"`,
    () => store.deleteDevice(deleted.id),
    (s) => !s.exists,
  );
  const pilot = options.pilot;
  if (pilot) {
    await change(
      'leave-group',
      pilot.leaver,
      `remove "${pilot.leaver.displayName}" from the group "${pilot.displayName}" (writeback.scope.groups): out of scope`,
      () => store.removeMember(pilot.id, pilot.leaver.id),
      (s) => !s.exists,
    );
  }
  return results;
}
