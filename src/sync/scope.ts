// The sync rule's scope: which cloud devices are written to AD. Today a device is in scope when its
// trustType is one of writeback.trustTypes.
import type { Config } from '../config/load.js';
import type { CloudDevice } from '../entra/types.js';

export class ScopeRule {
  private readonly trustTypes: Set<string>;

  constructor(writeback: Pick<Config['writeback'], 'trustTypes'>) {
    this.trustTypes = new Set(writeback.trustTypes.map((t) => t.toLowerCase()));
  }

  includes(device: CloudDevice): boolean {
    return typeof device.trustType === 'string' && this.trustTypes.has(device.trustType.toLowerCase());
  }
}
