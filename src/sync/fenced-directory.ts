// The device directory as the leader of a group sees it (SPEC §7): reads pass through; a write is
// sent only while this instance leads and its lease's local deadline is ahead. A write that meets a
// late renewal waits for it (up to one lease); one that finds this instance deposed ends the pass
// with DWB_STATE_FENCED. When the directory retries on its own (the AD export target does, on a
// new connection), the check runs again before every attempt. The term's record spans from its
// first admitted write to its last settled one, so that terms can be shown never to overlap.
// With several forests, one lease covers them all: each forest's directory is fenced by it.
import type { ActualObject, AdValues, AttributeChange } from '../ad/device-object.js';
import type { WriteGate } from '../ad/export-target.js';
import type { WriteLease } from '../state/store.js';
import type { DeviceDirectory, ForestLink, ForestTarget } from './pass.js';

/** A directory that can check something right before each attempt of a write is sent. */
interface GatedDirectory extends DeviceDirectory {
  setWriteGate?(gate: WriteGate | undefined): void;
}

export class FencedDirectory implements DeviceDirectory {
  private readonly gated: boolean;

  constructor(
    private readonly inner: GatedDirectory,
    private readonly lease: WriteLease,
  ) {
    this.gated = typeof inner.setWriteGate === 'function';
    inner.setWriteGate?.({ admit: () => lease.admitWrite(), settled: () => lease.writeSettled() });
  }

  get inFlight(): number {
    return this.inner.inFlight;
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  readObject(dn: string): Promise<ActualObject | undefined> {
    return this.inner.readObject(dn);
  }

  scanContainer(containerDn: string): AsyncGenerator<ActualObject[]> {
    return this.inner.scanContainer(containerDn);
  }

  add(dn: string, values: AdValues): Promise<void> {
    return this.write(() => this.inner.add(dn, values));
  }

  modify(dn: string, changes: AttributeChange[]): Promise<void> {
    return this.write(() => this.inner.modify(dn, changes));
  }

  delete(dn: string): Promise<void> {
    return this.write(() => this.inner.delete(dn));
  }

  private async write(send: () => Promise<void>): Promise<void> {
    await this.lease.mayWrite();
    if (this.gated) return send(); // the directory admits each attempt itself
    this.lease.admitWrite();
    try {
      await send();
    } finally {
      this.lease.writeSettled();
    }
  }
}

/** A forest whose directory is fenced by the group's lease, as reached by the engine. */
export class FencedForestLink implements ForestLink {
  private readonly fenced = new WeakMap<ForestTarget, ForestTarget>();

  constructor(
    private readonly inner: ForestLink,
    private readonly lease: WriteLease,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  async connect(options?: { once?: boolean }): Promise<ForestTarget> {
    const target = await this.inner.connect(options);
    const known = this.fenced.get(target);
    if (known) return known;
    const fenced = { ...target, directory: new FencedDirectory(target.directory, this.lease) };
    this.fenced.set(target, fenced);
    return fenced;
  }

  reset(): Promise<void> {
    return this.inner.reset();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
