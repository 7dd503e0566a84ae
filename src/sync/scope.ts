// The sync rule's scope: which cloud devices are written to AD. Today a device is in scope when its
// trustType is one of writeback.trustTypes; every device left out gets the reason.
import type { Config } from '../config/load.js';
import type { CloudDevice } from '../entra/types.js';

export class ScopeRule {
  private readonly trustTypes: Set<string>;

  constructor(writeback: Pick<Config['writeback'], 'trustTypes'>) {
    this.trustTypes = new Set(writeback.trustTypes.map((t) => t.toLowerCase()));
  }

  includes(device: CloudDevice): boolean {
    return this.reason(device) === null;
  }

  /** Why the device is not written, or null when it is in scope. */
  reason(device: CloudDevice): string | null {
    if (typeof device.trustType === 'string' && this.trustTypes.has(device.trustType.toLowerCase()))
      return null;
    return `out of scope: trustType ${device.trustType ?? '(none)'} is not in writeback.trustTypes`;
  }
}
