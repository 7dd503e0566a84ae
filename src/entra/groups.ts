// What the connector accepts of Microsoft Graph's group answers (groups/delta, a group, its members),
// and the requests it makes for them. groups/delta is documented at
// https://learn.microsoft.com/graph/api/group-delta and https://learn.microsoft.com/graph/delta-query-groups:
// `$select=displayName,members` returns each group's members in `members@delta` (`@odata.type` and
// `id`; `"@removed": {"reason": "deleted"}` for a member that left), `$filter=id eq '…' or id eq '…'`
// tracks at most 50 groups. Membership must be exact (a device leaves AD when it leaves the groups),
// so a malformed group item fails the read instead of being skipped.
import { z } from 'zod';
import { describeIssues } from './schema.js';
import type { GroupChange, GroupMemberKind } from './types.js';

/** Graph tracks at most this many groups by id in one groups/delta read. */
export const MAX_GROUPS_PER_DELTA = 50;

/** The group properties a round asks for: its name (for messages) and its members. */
export const groupDeltaSelect = 'displayName,members';

const memberSchema = z
  .object({
    '@odata.type': z.string().optional(),
    id: z.string().min(1),
    '@removed': z.object({ reason: z.string().optional() }).loose().optional(),
  })
  .loose();

const groupSchema = z
  .object({
    id: z.string().min(1),
    displayName: z.string().nullable().optional(),
    'members@delta': z.array(memberSchema).nullable().optional(),
    '@removed': z.object({ reason: z.string().optional() }).loose().optional(),
  })
  .loose();

export const groupSummarySchema = z
  .object({ id: z.string().min(1), displayName: z.string().nullable().optional() })
  .loose();

/** `#microsoft.graph.device` → device; a nested group → group; users and the rest do not matter. */
export function memberKind(odataType: string | undefined): GroupMemberKind {
  const type = odataType?.toLowerCase();
  if (type === '#microsoft.graph.device') return 'device';
  if (type === '#microsoft.graph.group') return 'group';
  return 'other';
}

/** One item of a groups/delta page; throws a description of what is wrong with it. */
export function toGroupChange(item: unknown, position: number): GroupChange {
  const parsed = groupSchema.safeParse(item);
  if (!parsed.success) throw new Error(`group ${position + 1}: ${describeIssues(parsed.error)}`);
  const group = parsed.data;
  const id = group.id.toLowerCase();
  if (group['@removed']) return { kind: 'removed', id };
  return {
    kind: 'group',
    id,
    displayName: group.displayName ?? null,
    members: (group['members@delta'] ?? []).map((m) => ({
      id: m.id.toLowerCase(),
      kind: memberKind(m['@odata.type']),
      removed: m['@removed'] !== undefined,
    })),
  };
}

/** The first request of a round: the groups by id, with their members. */
export function groupDeltaPath(groupIds: readonly string[]): string {
  const filter = groupIds.map((id) => `id eq '${id.replace(/'/g, "''")}'`).join(' or ');
  return `/groups/delta?$select=${groupDeltaSelect}&$filter=${encodeURIComponent(filter)}`;
}
