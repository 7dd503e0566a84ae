// An in-memory device directory with the AD connector's outcomes (exists, no such object, no such
// attribute, transient), for unit tests of the engine's logic without Samba. The integration tests
// run the same engine against the real Samba DC.
import { AdOperationError, type AdOutcome } from '../../src/ad/outcome.js';
import type { ActualObject, AdValues, AttributeChange } from '../../src/ad/device-object.js';
import { parentDn, dnEquals, firstRdnValue } from '../../src/ad/dn.js';
import type { ForestDomain } from '../../src/ad/forest-domains.js';
import { DwbError } from '../../src/errors.js';
import type { DeviceDirectory, ForestLink, ForestTarget } from '../../src/sync/pass.js';
import { fakeSchema } from './schema.js';

type Operation = 'add' | 'modify' | 'delete' | 'read';

export class FakeDirectory implements DeviceDirectory {
  readonly inFlight = 2;
  private readonly objects = new Map<string, ActualObject>();
  private readonly failures: { operation: Operation; outcome: AdOutcome; dn?: string }[] = [];
  /** Every write, in order, as "add CN=…" (for assertions). */
  readonly writes: string[] = [];

  constructor(readonly containerDn: string) {}

  /** The next `operation` (on `dn`, if given) fails with this outcome. */
  failNext(operation: Operation, outcome: AdOutcome, dn?: string): void {
    this.failures.push({ operation, outcome, dn });
  }

  private maybeFail(operation: Operation, dn: string): void {
    const at = this.failures.findIndex((f) => f.operation === operation && (!f.dn || dnEquals(f.dn, dn)));
    if (at < 0) return;
    const [failure] = this.failures.splice(at, 1);
    throw new AdOperationError(
      failure!.outcome,
      `${operation} ${dn} failed: injected ${failure!.outcome}`,
      undefined,
    );
  }

  /** Puts an object there directly (a foreign tool, a crashed run, a hand edit). */
  place(dn: string, values: AdValues): void {
    this.objects.set(dn.toLowerCase(), { dn, cn: firstRdnValue(dn), values: copy(values) });
  }

  get(dn: string): ActualObject | undefined {
    const o = this.objects.get(dn.toLowerCase());
    return o && { ...o, values: copy(o.values) };
  }

  all(): ActualObject[] {
    return [...this.objects.values()].map((o) => ({ ...o, values: copy(o.values) }));
  }

  /** Set to make every operation fail as a DC that does not answer. */
  down = false;

  async ping(): Promise<void> {
    if (this.down) throw new DwbError('DWB_AD_UNREACHABLE', 'cannot reach the fake DC (down).');
  }

  async readObject(dn: string): Promise<ActualObject | undefined> {
    await this.ping();
    this.maybeFail('read', dn);
    return this.get(dn);
  }

  async *scanContainer(containerDn: string): AsyncGenerator<ActualObject[]> {
    await this.ping();
    const children = this.all().filter((o) => dnEquals(parentDn(o.dn), containerDn));
    for (let i = 0; i < children.length; i += 3) yield children.slice(i, i + 3);
  }

  /** While set, every add waits for it first (a slow DC). */
  hold: Promise<void> | undefined;

  async add(dn: string, values: AdValues): Promise<void> {
    await this.ping();
    await this.hold;
    this.maybeFail('add', dn);
    if (!dnEquals(parentDn(dn), this.containerDn))
      throw new AdOperationError('no-such-object', `no parent for ${dn}`, 32);
    if (this.objects.has(dn.toLowerCase()))
      throw new AdOperationError('exists', `add ${dn} failed (LDAP 68)`, 68);
    this.writes.push(`add ${dn}`);
    this.place(dn, values);
  }

  async modify(dn: string, changes: AttributeChange[]): Promise<void> {
    await this.ping();
    this.maybeFail('modify', dn);
    const o = this.objects.get(dn.toLowerCase());
    if (!o) throw new AdOperationError('no-such-object', `modify ${dn} failed (LDAP 32)`, 32);
    for (const c of changes) {
      if (c.operation === 'delete' && !o.values.has(c.attribute))
        throw new AdOperationError('no-such-attribute', `modify ${dn} failed (LDAP 16)`, 16);
    }
    this.writes.push(`modify ${dn}`);
    for (const c of changes) {
      if (c.operation === 'delete') o.values.delete(c.attribute);
      else
        o.values.set(
          c.attribute,
          c.values.map((v) => Buffer.from(v)),
        );
    }
  }

  async delete(dn: string): Promise<void> {
    await this.ping();
    this.maybeFail('delete', dn);
    if (!this.objects.delete(dn.toLowerCase()))
      throw new AdOperationError('no-such-object', `delete ${dn} failed (LDAP 32)`, 32);
    this.writes.push(`delete ${dn}`);
  }
}

function copy(values: AdValues): AdValues {
  return new Map([...values].map(([k, v]) => [k, v.map((b) => Buffer.from(b))]));
}

/** A forest of fake directories for the engine: its container, its domains, reachable or not. */
export class FakeForestLink implements ForestLink {
  readonly directory: FakeDirectory;
  connects = 0;
  /** The `once` option of each connect (a forest known to be down gets one attempt). */
  readonly connectOptions: ({ once?: boolean } | undefined)[] = [];

  constructor(
    readonly name: string,
    readonly containerDn: string,
    readonly domains: ForestDomain[] = [],
  ) {
    this.directory = new FakeDirectory(containerDn);
  }

  async connect(options?: { once?: boolean }): Promise<ForestTarget> {
    this.connects++;
    this.connectOptions.push(options);
    await this.directory.ping();
    return {
      name: this.name,
      directory: this.directory,
      container: { containerDn: this.containerDn, schema: fakeSchema() },
      domains: this.domains,
    };
  }

  async reset(): Promise<void> {}

  async close(): Promise<void> {}
}
