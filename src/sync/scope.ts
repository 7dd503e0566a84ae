// The sync rule's scope (SPEC §2 "Scope"): which cloud devices are written to AD. A device is
// written when its trustType is in writeback.trustTypes and it passes every rule of
// writeback.scope that is set; otherwise the first rule it fails, in the order of the SPEC's table,
// is its reason, recorded in the state store and shown by `devices --all`, `status`, `claims` and
// the console. The rules that need only the device are checked as soon as it is read; the owner
// rule waits for its registered owner, which is read from Graph only for devices that passed the
// others.
import type { Config } from '../config/load.js';
import type { CloudDevice, DeviceRelations } from '../entra/types.js';
import { fingerprint } from '../state/fingerprint.js';
import type { NotWrittenReason } from '../state/store.js';

export type ScopeRuleId =
  'trustTypes' | 'operatingSystems' | 'managedOnly' | 'compliantOnly' | 'groups' | 'requireOnPremisesOwner';

/** What the scope needs of the configuration. */
export type ScopeSettings = Pick<Config['writeback'], 'trustTypes' | 'scope'>;

/** Transitive membership in writeback.scope.groups, as the group tracker knows it (scope-groups.ts). */
export interface ScopeGroupMembership {
  has(deviceGraphId: string): boolean;
}

/** Cloud text in a reason: kept short (the display layers escape it). */
function shown(value: string): string {
  return value.length > 64 ? `${value.slice(0, 63)}…` : value;
}

function out(rule: ScopeRuleId, reason: string): NotWrittenReason {
  return { rule, reason: `out of scope: ${reason}` };
}

export class ScopeRule {
  private readonly trustTypes: Set<string>;
  private readonly operatingSystems: Set<string> | undefined;
  private readonly managedOnly: boolean;
  private readonly compliantOnly: boolean;
  private readonly requireOwner: boolean;
  private readonly groupIds: readonly string[];
  private groups: ScopeGroupMembership | undefined;

  constructor(settings: ScopeSettings, groups?: ScopeGroupMembership) {
    this.trustTypes = new Set(settings.trustTypes.map((t) => t.toLowerCase()));
    const scope = settings.scope;
    this.operatingSystems = scope.operatingSystems
      ? new Set(scope.operatingSystems.map((os) => os.toLowerCase()))
      : undefined;
    this.managedOnly = scope.managedOnly;
    this.compliantOnly = scope.compliantOnly;
    this.requireOwner = scope.requireOnPremisesOwner;
    this.groupIds = scope.groups ?? [];
    this.groups = groups;
  }

  /** Whether membership in scope groups is part of the scope (the pass reads it first). */
  get usesGroups(): boolean {
    return this.groupIds.length > 0;
  }

  /** Whether the owner rule is set (it needs the devices' registered owners). */
  get needsOwners(): boolean {
    return this.requireOwner;
  }

  /** The scope groups' transitive membership for this pass, once it has been read. */
  useGroups(groups: ScopeGroupMembership): void {
    this.groups = groups;
  }

  /** Why the device is out of scope by the rules that need only the device; undefined when it passes them. */
  outOfScope(device: CloudDevice): NotWrittenReason | undefined {
    const trustType = device.trustType;
    if (typeof trustType !== 'string' || trustType === '')
      return out('trustTypes', 'the device has no trustType (writeback.trustTypes)');
    if (!this.trustTypes.has(trustType.toLowerCase()))
      return out('trustTypes', `trustType ${shown(trustType)} is not in writeback.trustTypes`);
    if (this.operatingSystems) {
      const os = device.operatingSystem;
      if (typeof os !== 'string' || os === '')
        return out(
          'operatingSystems',
          'the device has no operating system (writeback.scope.operatingSystems)',
        );
      if (!this.operatingSystems.has(os.toLowerCase()))
        return out(
          'operatingSystems',
          `operating system ${shown(os)} is not in writeback.scope.operatingSystems`,
        );
    }
    if (this.managedOnly && device.isManaged !== true) return out('managedOnly', 'not managed');
    if (this.compliantOnly && device.isCompliant !== true) return out('compliantOnly', 'not compliant');
    if (this.groupIds.length > 0) {
      // The engine reads the membership before it evaluates any device; without it, nothing is in.
      if (!this.groups?.has(device.id)) return out('groups', 'not in any scope group');
    }
    return undefined;
  }

  /** The owner rule, once the device's registered owners are known (null: they could not be read). */
  ownerOutOfScope(relations: DeviceRelations | null | undefined): NotWrittenReason | undefined {
    if (!this.requireOwner) return undefined;
    if (!relations)
      return out(
        'requireOnPremisesOwner',
        'the registered owner could not be read from Microsoft Graph (read again by the next pass that sees the device)',
      );
    const owner = relations.registeredOwners[0];
    if (!owner) return out('requireOnPremisesOwner', 'the device has no registered owner');
    if (!owner.onPremisesSecurityIdentifier)
      return out('requireOnPremisesOwner', 'the registered owner has no on-premises account');
    return undefined;
  }

  /** In scope by the rules that need only the device. */
  includes(device: CloudDevice): boolean {
    return this.outOfScope(device) === undefined;
  }
}

/** Whether any rule of writeback.scope is set (trustTypes alone is the scope of earlier versions). */
export function hasScopeRules(settings: ScopeSettings): boolean {
  const s = settings.scope;
  return (
    s.operatingSystems !== undefined ||
    s.managedOnly ||
    s.compliantOnly ||
    (s.groups?.length ?? 0) > 0 ||
    s.requireOnPremisesOwner
  );
}

/**
 * A fingerprint of the scope configuration (trustTypes and every rule, order and case aside). The
 * state store keeps the one the last full pass applied: when the configuration says otherwise, the
 * next pass is a full one, which writes what entered the scope and deletes what left it.
 */
export function scopeFingerprint(settings: ScopeSettings): string {
  const lower = (list: readonly string[] | undefined): string[] | null =>
    list ? [...new Set(list.map((v) => v.toLowerCase()))].sort() : null;
  const s = settings.scope;
  const canonical = {
    trustTypes: lower(settings.trustTypes),
    operatingSystems: lower(s.operatingSystems),
    managedOnly: s.managedOnly,
    compliantOnly: s.compliantOnly,
    groups: lower(s.groups),
    requireOnPremisesOwner: s.requireOnPremisesOwner,
  };
  return `scope-v1:${fingerprint(canonical).toString(16)}`;
}

/** The scope in words, one rule a line (for logs and `status`). */
export function describeScope(settings: ScopeSettings): string[] {
  const s = settings.scope;
  const lines = [`trustType in ${settings.trustTypes.join(', ')}`];
  if (s.operatingSystems) lines.push(`operating system in ${s.operatingSystems.join(', ')}`);
  if (s.managedOnly) lines.push('managed (isManaged)');
  if (s.compliantOnly) lines.push('compliant (isCompliant)');
  if (s.groups?.length)
    lines.push(
      `member (direct or nested) of one of ${s.groups.length} group${s.groups.length === 1 ? '' : 's'}`,
    );
  if (s.requireOnPremisesOwner) lines.push('registered owner with an on-premises account');
  return lines;
}
