// Delta merging (SPEC §6): like Graph, a changed device in a delta page may carry only the
// properties that changed. The connector merges each record with the last known state of the
// device, so that what leaves the connector is always a whole device and an absent property never
// blanks an attribute in AD.
import type {
  CloudDevice,
  CloudChange,
  CloudReadEvent,
  DeltaReadEvent,
  PartialCloudDevice,
} from './types.js';

/** The last known state of devices, by Graph object id (the state store's copy). */
export type LastKnownDevices = (graphIds: string[]) => Promise<Map<string, CloudDevice>>;

/** Merges a delta record into the last known state: an absent property keeps its old value. */
export function mergeDevice(previous: CloudDevice | undefined, partial: PartialCloudDevice): CloudDevice {
  const base: CloudDevice = previous ?? {
    id: partial.id,
    deviceId: '',
    displayName: null,
    accountEnabled: null,
    operatingSystem: null,
    operatingSystemVersion: null,
    trustType: null,
    isManaged: null,
    isCompliant: null,
    deviceVersion: null,
    approximateLastSignInDateTime: null,
    physicalIds: [],
    alternativeSecurityIds: [],
  };
  const merged: CloudDevice = { ...base };
  const target = merged as unknown as Record<string, unknown>;
  const source = partial as unknown as Record<string, unknown>;
  for (const key in source) {
    const value = source[key];
    if (value !== undefined) target[key] = value;
  }
  merged.physicalIds ??= [];
  merged.alternativeSecurityIds ??= [];
  return merged;
}

/**
 * Turns the pages of a device read into pages of whole devices. A full read (no delta link, or
 * after a reset) carries whole records: each is completed on its own and nothing is kept between
 * pages. A delta read merges each record with what this read already saw of the device, else with
 * its last known state, looked up once per page.
 */
export async function* mergedPages(
  events: AsyncIterable<DeltaReadEvent>,
  startsFull: boolean,
  lastKnown: LastKnownDevices,
): AsyncGenerator<CloudReadEvent> {
  let full = startsFull;
  const seen = new Map<string, CloudDevice>();
  for await (const event of events) {
    if (event.kind === 'reset') {
      full = true;
      seen.clear();
      yield event;
      continue;
    }
    const partials = event.changes;
    let previous: Map<string, CloudDevice> | undefined;
    if (!full) {
      const unseen = partials.flatMap((c) =>
        c.kind === 'upsert' && !seen.has(c.device.id) ? [c.device.id] : [],
      );
      previous = unseen.length > 0 ? await lastKnown(unseen) : undefined;
    }
    const changes: CloudChange[] = new Array<CloudChange>(partials.length);
    for (let i = 0; i < partials.length; i++) {
      const change = partials[i]!;
      if (change.kind !== 'upsert') {
        if (change.kind === 'removed') seen.delete(change.id);
        changes[i] = change;
        continue;
      }
      const id = change.device.id;
      const device = mergeDevice(full ? undefined : (seen.get(id) ?? previous?.get(id)), change.device);
      if (!full) seen.set(id, device);
      changes[i] = { kind: 'upsert', device };
    }
    // The partial records are not kept while the consumer works on the page (see readDelta).
    partials.length = 0;
    yield { kind: 'page', changes, ...(event.deltaLink !== undefined ? { deltaLink: event.deltaLink } : {}) };
  }
}
