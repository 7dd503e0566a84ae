// The sync rule's routing, with several forests (SPEC §8): each device goes to the forest that
// holds its registered owner's account — the owner's onPremisesSecurityIdentifier belongs to a
// domain of exactly one configured forest. A device whose owner is in none of them goes to
// writeback.defaultForest, or is not written and is listed as unrouted, with the reason. With one
// forest (an ad: block) every device goes there, whoever owns it.
import type { ForestDomain } from '../ad/forest-domains.js';
import type { DeviceRelations } from '../entra/types.js';
import { DwbError } from '../errors.js';

export type Route = { forest: string; reason: null } | { forest: null; reason: string };

/** The rule recorded for a device routed to no forest (beside the scope keys, see NotWrittenReason). */
export const UNROUTED_RULE = 'unrouted';

export interface RoutableForest {
  name: string;
  /** The forest's domains; null while it has never been reached (its domains are not known yet). */
  domains: readonly ForestDomain[] | null;
}

/** The domain part of a SID: everything but the last sub-authority (the RID). */
/** The SID of an account of an Active Directory domain: S-1-5-21-a-b-c-rid. */
const ACCOUNT_SID = /^S-1-5-21-\d{1,10}-\d{1,10}-\d{1,10}-\d{1,10}$/i;

export function domainOfSid(sid: string): string {
  return sid.toUpperCase().replace(/-\d+$/, '');
}

export class Router {
  private readonly bySid = new Map<string, string>();
  private readonly unknown: string[];

  /** Throws a configuration error when two forests claim the same domain SID. */
  constructor(
    private readonly forests: readonly RoutableForest[],
    private readonly options: { several: boolean; defaultForest?: string },
  ) {
    for (const f of forests) {
      for (const d of f.domains ?? []) {
        if (!d.sid) continue;
        const sid = d.sid.toUpperCase();
        const other = this.bySid.get(sid);
        if (other && other !== f.name) {
          throw new DwbError(
            'DWB_FOREST_OVERLAP',
            `the forests ${other} and ${f.name} both hold the domain ${d.sid} (${d.dnsName}): a domain belongs to one forest, so devices of its users cannot be routed.`,
          );
        }
        this.bySid.set(sid, f.name);
      }
    }
    this.unknown = forests.filter((f) => f.domains === null).map((f) => f.name);
  }

  route(relations: DeviceRelations | null): Route {
    if (!this.options.several) return { forest: this.forests[0]!.name, reason: null };
    const owners = relations?.registeredOwners ?? [];
    const owner = owners.find(
      (o) => typeof o.onPremisesSecurityIdentifier === 'string' && o.onPremisesSecurityIdentifier !== '',
    );
    let why: string;
    if (!relations) why = 'its registered owners could not be read from Entra ID yet';
    else if (owners.length === 0) why = 'it has no registered owner';
    else if (!owner) {
      const name = owners[0]!.userPrincipalName ?? owners[0]!.id;
      why = `its registered owner ${name} has no on-premises account (a cloud-only user)`;
    } else if (!ACCOUNT_SID.test(owner.onPremisesSecurityIdentifier!)) {
      // A value from the cloud that is not a SID is not repeated: it may be huge or hold escapes.
      why = `its registered owner's onPremisesSecurityIdentifier is not a domain account SID`;
    } else {
      const domain = domainOfSid(owner.onPremisesSecurityIdentifier!);
      const forest = this.bySid.get(domain);
      if (forest) return { forest, reason: null };
      if (this.unknown.length > 0) {
        // It may belong to a forest not reached yet: not sent to the default forest only to move later.
        return {
          forest: null,
          reason: `unrouted: its registered owner's domain ${domain} is in none of the forests reached so far (${this.unknown.join(', ')} not reached yet)`,
        };
      }
      why = `its registered owner's domain ${domain} is in none of the forests (${this.forests.map((f) => f.name).join(', ')})`;
    }
    if (this.options.defaultForest) return { forest: this.options.defaultForest, reason: null };
    return { forest: null, reason: `unrouted: ${why}` };
  }
}
