// A forest as the engine reaches it over LDAPS: the AD connector's export target (a small pool of
// sessions bound as that forest's connector account), its device container and its domains,
// discovered when first needed and again after a failure.
import { locateDeviceContainer, type LocatedDeviceContainer } from '../ad/device-container.js';
import { AdExportTarget, type LdapObserver } from '../ad/export-target.js';
import { readForestDomains } from '../ad/forest-domains.js';
import type { ForestConfig } from '../config/load.js';
import type { ForestLink, ForestTarget } from './pass.js';

export interface AdForestTarget extends ForestTarget {
  directory: AdExportTarget;
  container: LocatedDeviceContainer;
}

export class AdForestLink implements ForestLink {
  private target: AdForestTarget | undefined;
  private connecting: Promise<AdForestTarget> | undefined;

  constructor(
    readonly forest: ForestConfig,
    private readonly concurrency: number,
    private readonly observe?: (forest: string) => LdapObserver,
  ) {}

  get name(): string {
    return this.forest.name;
  }

  /** The forest, if it has been reached (and not reset since). */
  get reached(): AdForestTarget | undefined {
    return this.target;
  }

  connect(options: { once?: boolean } = {}): Promise<AdForestTarget> {
    if (this.target) return this.pinged(this.target);
    this.connecting ??= this.discover(options.once ?? false).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** A cheap round trip (the RootDSE), so that an idle service still notices a DC that is down. */
  private async pinged(target: AdForestTarget): Promise<AdForestTarget> {
    await target.directory.ping();
    return target;
  }

  private async discover(once: boolean): Promise<AdForestTarget> {
    const directory = new AdExportTarget(this.forest.ad, this.concurrency, this.observe?.(this.name));
    try {
      const container = await directory.withSession(
        'discover',
        (c) => locateDeviceContainer(c, this.forest.ad),
        undefined,
        { retry: !once },
      );
      const domains = await directory.withSession('discover', (c) => readForestDomains(c, container.rootDse));
      this.target = { name: this.name, directory, container, domains };
      return this.target;
    } catch (err) {
      await directory.close();
      throw err;
    }
  }

  async reset(): Promise<void> {
    const target = this.target;
    this.target = undefined;
    await target?.directory.close();
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
