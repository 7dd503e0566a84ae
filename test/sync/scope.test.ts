// Scope rules without Samba: the rule itself (each key, its reason, the fingerprint of the
// configuration), and the engine against the in-memory directory: each rule entering and leaving
// scope within one cycle, group membership changes (direct and nested) re-evaluated without a
// device change, a scope change applied by a full pass (shown first by a dry run, held by the
// deletion threshold when it is large), and the reasons recorded in the state store.
// scope.int.test.ts runs the same against the real Samba DC and the Graph emulator. The engine's part
// is scope-suite.ts, run here on SQLite and in engine-postgres.int.test.ts on PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStateStore } from '../../src/state/sqlite/sqlite-store.js';
import { describeScope, hasScopeRules, ScopeRule, scopeFingerprint } from '../../src/sync/scope.js';
import { sampleDevice } from '../support/fake-source.js';
import { cloudOnly, describeEngineScope, idOf, onPrem, writeback } from './scope-suite.js';

describe('the scope rule', () => {
  it('gives the first rule a device fails, in the order of the SPEC table', () => {
    const rule = new ScopeRule(
      writeback(
        '  trustTypes: [Workplace, AzureAd]\n  scope:\n    operatingSystems: [windows, macOS]\n    managedOnly: true\n    compliantOnly: true\n',
      ),
    );
    expect(rule.outOfScope(sampleDevice(2))).toBeUndefined();
    expect(rule.outOfScope(sampleDevice(2, { trustType: 'ServerAd' }))).toEqual({
      rule: 'trustTypes',
      reason: 'out of scope: trustType ServerAd is not in writeback.trustTypes',
    });
    expect(rule.outOfScope(sampleDevice(2, { trustType: null }))?.rule).toBe('trustTypes');
    expect(rule.outOfScope(sampleDevice(2, { operatingSystem: 'iOS', isCompliant: false }))).toEqual({
      rule: 'operatingSystems',
      reason: 'out of scope: operating system iOS is not in writeback.scope.operatingSystems',
    });
    expect(rule.outOfScope(sampleDevice(2, { operatingSystem: 'MACOS' }))).toBeUndefined();
    expect(rule.outOfScope(sampleDevice(1))).toEqual({
      rule: 'managedOnly',
      reason: 'out of scope: not managed',
    });
    expect(rule.outOfScope(sampleDevice(2, { isCompliant: null }))).toEqual({
      rule: 'compliantOnly',
      reason: 'out of scope: not compliant',
    });
  });

  it('judges group membership and the registered owner', () => {
    const settings = writeback(
      '  scope:\n    groups: [0e7c1f60-1111-2222-3333-444455556666]\n    requireOnPremisesOwner: true\n',
    );
    const rule = new ScopeRule(settings, { has: (id) => id === idOf(1) });
    expect(rule.usesGroups && rule.needsOwners).toBe(true);
    expect(rule.outOfScope(sampleDevice(1))).toBeUndefined();
    expect(rule.outOfScope(sampleDevice(2))).toEqual({
      rule: 'groups',
      reason: 'out of scope: not in any scope group',
    });
    expect(rule.ownerOutOfScope({ registeredOwners: [onPrem], registeredUsers: [] })).toBeUndefined();
    expect(rule.ownerOutOfScope({ registeredOwners: [cloudOnly, onPrem], registeredUsers: [] })).toEqual({
      rule: 'requireOnPremisesOwner',
      reason: 'out of scope: the registered owner has no on-premises account',
    });
    expect(rule.ownerOutOfScope({ registeredOwners: [], registeredUsers: [onPrem] })?.reason).toBe(
      'out of scope: the device has no registered owner',
    );
    expect(rule.ownerOutOfScope(undefined)?.rule).toBe('requireOnPremisesOwner');
    expect(new ScopeRule(writeback()).ownerOutOfScope(undefined)).toBeUndefined();
  });

  it('fingerprints the configuration, order and case aside', () => {
    const a = writeback(
      '  trustTypes: [Workplace, AzureAd]\n  scope:\n    operatingSystems: [Windows, iOS]\n',
    );
    const b = writeback(
      '  trustTypes: [AzureAd, Workplace]\n  scope:\n    operatingSystems: [ios, windows]\n',
    );
    const c = writeback('  trustTypes: [AzureAd, Workplace]\n  scope:\n    operatingSystems: [ios]\n');
    expect(scopeFingerprint(a)).toBe(scopeFingerprint(b));
    expect(scopeFingerprint(a)).not.toBe(scopeFingerprint(c));
    expect(scopeFingerprint(writeback())).not.toBe(
      scopeFingerprint(writeback('  scope:\n    managedOnly: true\n')),
    );
    expect(hasScopeRules(writeback())).toBe(false);
    expect(hasScopeRules(c)).toBe(true);
    expect(describeScope(c)).toEqual(['trustType in AzureAd, Workplace', 'operating system in ios']);
  });
});

describeEngineScope('SQLite', {
  async open() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-scope-unit-'));
    return {
      store: SqliteStateStore.open(path.join(dir, 'state.db'), { writer: true }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
