import { describe, expect, it } from 'vitest';
import { grantedRights, inheritedAces, mapGenericRights } from '../../src/ad/access-check.js';
import { AccessMask, fromSddl, toSddl, type Acl } from '../../src/ad/security-descriptor.js';

const DOM = 'S-1-5-21-1-2-3';
const USER = `${DOM}-1105`;
const GROUP = `${DOM}-1200`;
const DEVICE = '5df2b673-6d41-4774-b3e8-d52e8ee9ff99';
const USER_CLASS = 'bf967aba-0de6-11d0-a285-00aa003049e2';
const DISPLAY_NAME = 'bf967953-0de6-11d0-a285-00aa003049e2';
const token = new Set([USER, GROUP, 'S-1-1-0', 'S-1-5-11']);

const dacl = (sddl: string): Acl => fromSddl(`D:${sddl}`, DOM).dacl!;

describe('grantedRights', () => {
  it('grants through the token, including group memberships', () => {
    expect(grantedRights(dacl(`(A;;RPLCLORC;;;${GROUP})`), token)).toBe(0x20094);
    expect(grantedRights(dacl(`(A;;RPLCLORC;;;${DOM}-9999)`), token)).toBe(0);
  });

  it('honours deny ACEs before allow ACEs, as their order says', () => {
    expect(grantedRights(dacl(`(D;;WP;;;WD)(A;;RPWP;;;${USER})`), token)).toBe(AccessMask.READ_PROPERTY);
    expect(grantedRights(dacl(`(A;;RPWP;;;${USER})(D;;WP;;;WD)`), token)).toBe(
      AccessMask.READ_PROPERTY | AccessMask.WRITE_PROPERTY,
    );
  });

  it('applies object ACEs only on their object type path', () => {
    const acl = dacl(`(OA;;CCDC;${DEVICE};;${USER})`);
    expect(grantedRights(acl, token, { objectTypes: [DEVICE] })).toBe(
      AccessMask.CREATE_CHILD | AccessMask.DELETE_CHILD,
    );
    expect(grantedRights(acl, token, { objectTypes: [USER_CLASS] })).toBe(0);
    expect(grantedRights(acl, token)).toBe(0);
    const attr = dacl(`(OA;;WP;${DISPLAY_NAME};;${USER})`);
    expect(grantedRights(attr, token, { objectTypes: [DEVICE, DISPLAY_NAME] })).toBe(
      AccessMask.WRITE_PROPERTY,
    );
  });

  it('ignores inherit-only ACEs, maps generic rights, and treats a NULL DACL as full access', () => {
    expect(grantedRights(dacl(`(A;CIIO;GA;;;${USER})`), token)).toBe(0);
    expect(grantedRights(dacl(`(A;;GR;;;${USER})`), token)).toBe(0x20094);
    expect(mapGenericRights(AccessMask.GENERIC_ALL)).toBe(0xf01ff);
    expect(grantedRights(undefined, token)).toBe(0xf01ff);
  });

  it('grants the owner READ_CONTROL and WRITE_DAC', () => {
    expect(grantedRights(dacl(''), token, { ownerSid: USER })).toBe(
      AccessMask.READ_CONTROL | AccessMask.WRITE_DAC,
    );
  });
});

describe('inheritedAces', () => {
  it('passes down container-inherit ACEs meant for the child class, no longer inherit-only', () => {
    const parent = dacl(
      `(OA;CIIO;RPWP;;${DEVICE};${USER})(OA;CIIO;RP;;${USER_CLASS};${USER})(A;;LC;;;${USER})(A;CINP;RC;;;${GROUP})`,
    );
    const child = { revision: 4, aces: inheritedAces(parent, DEVICE) };
    expect(toSddl({ revision: 1, control: 0x8004, dacl: child }, DOM)).toBe(
      `D:(OA;CIID;RPWP;;${DEVICE};${USER})(A;ID;RC;;;${GROUP})`,
    );
    expect(grantedRights(child, token, { objectTypes: [DEVICE, DISPLAY_NAME] })).toBe(
      AccessMask.READ_PROPERTY | AccessMask.WRITE_PROPERTY | AccessMask.READ_CONTROL,
    );
  });
});
