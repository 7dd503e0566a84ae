// Renders a preparation plan as LDIF (RFC 2849) with the SDDL of every permission change, for
// `init-ad --dry-run`: what would be written, in a form an administrator can read, review and, for
// objects that exist already, apply with ldapmodify. Pure.
import { ldifAdd, ldifLine, ldifModify } from '../ad/ldif.js';
import { aceToSddl, encodeSecurityDescriptor, toSddl } from '../ad/security-descriptor.js';
import type { PlannedChange, PreparationPlan } from './plan.js';

/** The SD-flags control value for "DACL only": BER SEQUENCE { INTEGER 4 }. */
const SD_FLAGS_DACL_CONTROL = 'control: 1.2.840.113556.1.4.801 true:: MAMCAQQ=';

function comment(text: string): string[] {
  return text.split('\n').map((l) => `# ${l}`);
}

function changeToLdif(change: PlannedChange, domainSid: string | undefined): string[] {
  const step = change.step;
  if (!step) return [];
  const lines: string[] = [...comment(`${change.action}: ${change.detail}`)];
  if (step.kind === 'create') {
    lines.push(ldifAdd(step.dn, Object.entries(step.attributes)));
  } else if (step.kind === 'modify') {
    lines.push(
      ldifModify(
        step.dn,
        step.changes.map((c) => ({ operation: c.operation, attribute: c.type, values: c.values })),
      ),
    );
  } else {
    lines.push(
      ...comment(
        `ACEs to add (SDDL): ${step.missing.map((g) => `(${aceToSddl(g.ace, domainSid)})`).join('')}`,
      ),
    );
    if (step.before && step.after) {
      lines.push(...comment(`DACL before (SDDL): ${toSddl(step.before, domainSid)}`));
      lines.push(...comment(`DACL after (SDDL):  ${toSddl(step.after, domainSid)}`));
      lines.push(
        ldifModify(
          step.dn,
          [
            {
              operation: 'replace',
              attribute: 'nTSecurityDescriptor',
              values: [encodeSecurityDescriptor(step.after)],
            },
          ],
          ldifLine,
          [SD_FLAGS_DACL_CONTROL],
        ),
      );
    } else {
      lines.push(
        ...comment(
          'The object is created by this run: its DACL is read right after creation (the schema default plus\ninherited ACEs) and the ACEs above are added to it, with the SD-flags control (DACL only).',
        ),
      );
    }
  }
  return lines;
}

/** The whole plan as LDIF; changes that are already in place appear as comments only. */
export function planToLdif(plan: PreparationPlan): string {
  const domainSid = plan.domain.sid;
  const blocks: string[] = [];
  for (const change of plan.changes) {
    if (change.action === 'none') {
      blocks.push(comment(`unchanged: ${change.dn}: ${change.detail}`).join('\n'));
    } else {
      blocks.push(changeToLdif(change, domainSid).join('\n'));
    }
  }
  return `${blocks.join('\n\n')}\n`;
}
