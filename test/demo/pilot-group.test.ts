// The demo's pilot group (writeback.scope.groups): who is in it, who is outside, and the device the
// live part takes out of it, at the smallest and the default demo size.
import { afterEach, describe, expect, it } from 'vitest';
import { createPilotGroup, pickDevices } from '../../src/demo/live-changes.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';

let emulator: RunningEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

describe('the demo pilot group', () => {
  it.each([30, 200])('with %i devices: a direct member leaves it, the changed devices stay in', async (n) => {
    emulator = await startEmulator({ devices: n });
    const store = emulator.store;
    const pilot = createPilotGroup(store);

    const inGroup = new Set(store.transitiveMembers(pilot.id).map((m) => m.id));
    const devices = store.listDevices();
    expect(pilot.outside.length).toBeGreaterThan(0);
    for (const d of pilot.outside) expect(inGroup.has(d.id)).toBe(false);
    expect(devices.filter((d) => inGroup.has(d.id))).toHaveLength(pilot.members);
    expect(pilot.members + pilot.outside.length).toBe(devices.length);

    // The leaver is a direct member (removing it takes it out), enabled and written (a trust type).
    expect(store.memberIds(pilot.id)).toContain(pilot.leaver.id);
    expect(pilot.leaver.accountEnabled).toBe(true);
    expect(pilot.leaver.trustType).not.toBeNull();
    const changed = pickDevices(store).map((d) => d.id);
    expect(changed).not.toContain(pilot.leaver.id);
    for (const id of changed) expect(inGroup.has(id)).toBe(true);
  });
});
