// A forest that missed changes (its DC was down during passes that went on for the other forests,
// and the Graph watermark moved on) is reconciled in full from the state store when it answers
// again: its container is scanned, every stored device routed to it is written, and what none of
// them claims is swept — except the copies of devices moving to a forest that does not hold them
// yet. Nothing is lost (the store holds every device's last state and where it goes) and nothing is
// duplicated (the export is idempotent).
import { indexJoin, syncForestDevices } from './forest-sync.js';
import { noteLeaving, scanForest, sweepForest } from './full-import.js';
import type { ForestRun } from './pass.js';

const PAGE = 1000;

export async function reconcileFromStore(run: ForestRun): Promise<void> {
  const store = run.pass.store;
  const forest = await scanForest(run);
  const kept = new Set<string>();
  let after = '';
  for (;;) {
    const page = await store.storedDevicesAfter(after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]!.graphId;
    const mine = page.filter((d) => d.forest === run.name).map((d) => d.device);
    const relations = new Map(page.flatMap((d) => (d.relations ? [[d.graphId, d.relations] as const] : [])));
    await syncForestDevices(run, mine, relations, indexJoin(run, forest.index), forest.claimed);
    for (const d of page) {
      // Why the sweep removes the objects of devices no longer written here.
      const cn = d.device.deviceId?.toLowerCase();
      if (!cn || d.forest === run.name) continue;
      if (d.forest === null && d.reason) noteLeaving(forest, cn, d.reason);
      else if (d.forest)
        noteLeaving(forest, cn, `the device moved to forest ${d.forest} (its registered owner's forest)`);
    }
    const elsewhere = page.filter((d) => d.forest !== run.name && !(d.forest === null && d.reason));
    const objects = elsewhere.length > 0 ? await store.objectsOfDevices(elsewhere.map((d) => d.graphId)) : [];
    for (const d of elsewhere) {
      // Routed to another forest that holds no copy yet, or never routed (a store from before
      // routing): its object here stays.
      const moved =
        d.forest !== null && objects.some((o) => o.graphId === d.graphId && o.forest === d.forest);
      if (!moved && d.device.deviceId) kept.add(d.device.deviceId.toLowerCase());
    }
  }
  await sweepForest(forest, kept);
}
