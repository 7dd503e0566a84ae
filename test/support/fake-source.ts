// An in-memory device source with Graph delta semantics (change log, partial updates, @removed),
// for engine tests that need exact control of what "the cloud" says. The Graph emulator and the
// real connector are tested end to end elsewhere; LDAP is always the real Samba DC.
import { createHash } from 'node:crypto';
import type {
  CloudDevice,
  CloudReadEvent,
  DeltaReadEvent,
  DeviceChange,
  DeviceRelations,
  PartialCloudDevice,
} from '../../src/entra/types.js';
import { encodeDeviceKey } from '../../src/entra/device-key.js';
import { mergedPages, type LastKnownDevices } from '../../src/entra/merge.js';
import type { DeviceSource } from '../../src/sync/pass.js';

export function sampleKey(seed: string): string {
  const thumb = createHash('sha1').update(seed).digest('hex').toUpperCase();
  const pub = createHash('sha256').update(`pub-${seed}`).digest('base64');
  return encodeDeviceKey(`X509:<SHA1-TP-PUBKEY>${thumb}${pub}`);
}

export function sampleDevice(n: number, overrides: Partial<CloudDevice> = {}): CloudDevice {
  const hex = n.toString(16).padStart(12, '0');
  return {
    id: `00000000-0000-4000-8000-${hex}`,
    deviceId: `11111111-2222-4333-8444-${hex}`,
    displayName: `DEVICE-${n}`,
    accountEnabled: true,
    operatingSystem: 'Windows',
    operatingSystemVersion: '10.0.22631.3447',
    trustType: 'Workplace',
    isManaged: n % 2 === 0,
    isCompliant: true,
    deviceVersion: 2,
    approximateLastSignInDateTime: '2026-11-20T08:15:30Z',
    physicalIds: [`[USER-GID]:${hex}:6825`, `[GID]:g:${hex}`],
    alternativeSecurityIds: [{ type: 2, identityProvider: null, key: sampleKey(`k${n}`) }],
    ...overrides,
  };
}

export class FakeSource implements DeviceSource {
  devices = new Map<string, CloudDevice>();
  relations = new Map<string, DeviceRelations>();
  private log: DeviceChange[] = [];
  expired = false;
  pageSize = 50;
  relationCalls = 0;

  put(device: CloudDevice, relations?: DeviceRelations): void {
    this.devices.set(device.id, device);
    if (relations) this.relations.set(device.id, relations);
    this.log.push({ kind: 'upsert', device: { ...device } });
  }

  /** Changes some properties; the delta record carries only those (as Graph does). */
  patch(id: string, changes: Omit<PartialCloudDevice, 'id'>): void {
    const device = this.devices.get(id)!;
    Object.assign(device, changes);
    this.log.push({ kind: 'upsert', device: { id, ...changes } });
  }

  remove(id: string, reason: 'changed' | 'deleted'): void {
    this.devices.delete(id);
    this.log.push({ kind: 'removed', id, reason });
  }

  /** A malformed record, as the connector reports it. */
  invalid(id: string, reason: string): void {
    this.log.push({ kind: 'invalid', id, reason });
  }

  /** Whole devices, as the Entra connector hands them over (the same merge). */
  readDevices(deltaLink: string | undefined, lastKnown: LastKnownDevices): AsyncGenerator<CloudReadEvent> {
    return mergedPages(this.readDelta(deltaLink), deltaLink === undefined, lastKnown);
  }

  async *readDelta(deltaLink: string | undefined): AsyncGenerator<DeltaReadEvent> {
    if (deltaLink && this.expired) {
      this.expired = false;
      yield { kind: 'reset', reason: 'syncStateNotFound' };
      deltaLink = undefined;
    }
    let changes: DeviceChange[];
    if (!deltaLink) {
      changes = [...this.devices.values()].map((d) => ({ kind: 'upsert' as const, device: { ...d } }));
    } else {
      const from = Number(new URL(deltaLink).searchParams.get('$deltatoken'));
      changes = this.log.slice(from);
    }
    const link = `https://graph.test/v1.0/devices/delta?$deltatoken=${this.log.length}`;
    if (changes.length === 0) {
      yield { kind: 'page', changes: [], deltaLink: link };
      return;
    }
    for (let i = 0; i < changes.length; i += this.pageSize) {
      const last = i + this.pageSize >= changes.length;
      yield {
        kind: 'page',
        changes: changes.slice(i, i + this.pageSize),
        ...(last ? { deltaLink: link } : {}),
      };
    }
  }

  async fetchRelations(ids: string[]): Promise<Map<string, DeviceRelations>> {
    this.relationCalls++;
    const out = new Map<string, DeviceRelations>();
    for (const id of ids)
      out.set(id, this.relations.get(id) ?? { registeredOwners: [], registeredUsers: [] });
    return out;
  }
}
