// Renders a preparation plan as LDIF (RFC 2849) with the SDDL of every permission change, for
// `init-ad --dry-run`: what would be written, in a form an administrator can read, review and, for
// objects that exist already, apply with ldapmodify. Pure.
import { aceToSddl, encodeSecurityDescriptor, toSddl } from '../ad/security-descriptor.js';
import type { PlannedChange, PreparationPlan } from './plan.js';

/** The SD-flags control value for "DACL only": BER SEQUENCE { INTEGER 4 }. */
const SD_FLAGS_DACL_CONTROL = 'control: 1.2.840.113556.1.4.801 true:: MAMCAQQ=';

/** A value is a SAFE-STRING when it is ASCII without NUL/CR/LF and does not start with space, ':' or '<'. */
function isSafe(value: string): boolean {
  return !/^[ :<]/.test(value) && !/ $/.test(value) && /^[\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(value);
}

export function ldifLine(attribute: string, value: string | Buffer): string {
  if (Buffer.isBuffer(value)) return `${attribute}:: ${value.toString('base64')}`;
  return isSafe(value)
    ? `${attribute}: ${value}`
    : `${attribute}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

function comment(text: string): string[] {
  return text.split('\n').map((l) => `# ${l}`);
}

function changeToLdif(change: PlannedChange, domainSid: string | undefined): string[] {
  const step = change.step;
  if (!step) return [];
  const lines: string[] = [...comment(`${change.action}: ${change.detail}`)];
  if (step.kind === 'create') {
    lines.push(ldifLine('dn', step.dn), 'changetype: add');
    for (const [type, values] of Object.entries(step.attributes))
      for (const v of values) lines.push(ldifLine(type, v));
  } else if (step.kind === 'modify') {
    lines.push(ldifLine('dn', step.dn), 'changetype: modify');
    for (const c of step.changes) {
      lines.push(`replace: ${c.type}`, ...c.values.map((v) => ldifLine(c.type, v)), '-');
    }
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
        ldifLine('dn', step.dn),
        SD_FLAGS_DACL_CONTROL, // RFC 2849: controls come between dn and changetype
        'changetype: modify',
        'replace: nTSecurityDescriptor',
        ldifLine('nTSecurityDescriptor', encodeSecurityDescriptor(step.after)),
        '-',
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
