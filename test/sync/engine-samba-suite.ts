// The engine end to end against the real Samba DC, with an in-memory device source, as a suite
// that runs against every state store (SQLite in engine.int.test.ts, PostgreSQL in
// engine-samba-postgres.int.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufs, str, strs } from '../../src/ad/connection.js';
import { guidToBytes } from '../../src/ad/guid.js';
import { sidToBytes } from '../../src/ad/sid.js';
import { toFileTime } from '../../src/ad/filetime.js';
import { decodeDeviceKey } from '../../src/entra/device-key.js';
import { FakeSource, sampleDevice } from '../support/fake-source.js';
import { addUser, ldapsearch, useDc, type LabUser } from '../support/samba.js';
import { buildEngine, labConfig } from '../support/engine.js';

/** The `state:` block of the configuration (YAML, indented under `state:`), made once per file. */
export type StateBlock = () => Promise<string>;

export function describeEngineAgainstSamba(name: string, stateBlock: StateBlock): void {
  const lab = useDc();
  let container: string;
  let users: LabUser[];

  beforeAll(async () => {
    container = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
    await lab.admin.add(container, { objectClass: ['top', 'msDS-DeviceContainer'] });
    users = [];
    for (const name of ['alice', 'bob', 'carol']) users.push(await addUser(lab, name, `Pw-${name}-12345!`));
  });

  /** An msDS-Device the engine did not write (no msDS-CloudAnchor), as another tool would leave it. */
  async function addUnmanaged(cn: string, deviceId: string, displayName: string, thumbprintDigit: string) {
    await lab.admin.add(`CN=${cn},${container}`, {
      objectClass: ['msDS-Device'],
      'msDS-DeviceID': guidToBytes(deviceId),
      displayName,
      'msDS-IsEnabled': 'TRUE',
      altSecurityIdentities: `X509:<SHA1-TP-PUBKEY>${thumbprintDigit.repeat(40)}${'A'.repeat(43)}=`,
    });
  }

  async function readDevice(deviceId: string) {
    return lab.admin.read(`CN=${deviceId},${container}`, ['*']);
  }

  describe(`sync engine against Samba, ${name} state`, () => {
    const source = new FakeSource();
    let ctx: Awaited<ReturnType<typeof buildEngine>>;

    beforeAll(async () => {
      for (let i = 1; i <= 6; i++) {
        source.put(sampleDevice(i), {
          registeredOwners: [
            {
              id: `u${i}`,
              userPrincipalName: users[i % 3]!.userPrincipalName,
              onPremisesSecurityIdentifier: users[i % 3]!.sid,
            },
          ],
          registeredUsers: [
            { id: `u${i}`, userPrincipalName: null, onPremisesSecurityIdentifier: users[i % 3]!.sid },
            { id: 'ux', userPrincipalName: null, onPremisesSecurityIdentifier: users[(i + 1) % 3]!.sid },
          ],
        });
      }
      ctx = await buildEngine(labConfig(lab.dc, { state: await stateBlock() }), source);
    });
    afterAll(async () => ctx?.close());

    it('a first sync is full and writes every attribute exactly', async () => {
      const summary = await ctx.engine.sync();
      expect(summary).toMatchObject({
        mode: 'full',
        created: 6,
        updated: 0,
        deleted: 0,
        quarantined: 0,
        watermarkCommitted: true,
      });
      const d = sampleDevice(1);
      const e = (await readDevice(d.deviceId))!;
      expect(strs(e, 'objectClass')).toContain('msDS-Device');
      expect(bufs(e, 'msDS-DeviceID')[0]!.equals(guidToBytes(d.deviceId))).toBe(true);
      expect(str(e, 'displayName')).toBe('DEVICE-1');
      expect(str(e, 'msDS-IsEnabled')).toBe('TRUE');
      expect(strs(e, 'altSecurityIdentities')).toEqual([decodeDeviceKey(d.alternativeSecurityIds[0]!.key)]);
      expect(str(e, 'altSecurityIdentities')).toMatch(
        /^X509:<SHA1-TP-PUBKEY>[0-9A-F]{40}[A-Za-z0-9+/]{43}=$/,
      );
      expect(str(e, 'msDS-DeviceOSType')).toBe('Windows');
      expect(str(e, 'msDS-DeviceOSVersion')).toBe('10.0.22631.3447');
      expect(strs(e, 'msDS-DevicePhysicalIDs').sort()).toEqual([...d.physicalIds].sort());
      expect(str(e, 'msDS-IsManaged')).toBe('FALSE');
      expect(str(e, 'msDS-DeviceObjectVersion')).toBe('2');
      expect(str(e, 'msDS-ApproximateLastLogonTimeStamp')).toBe(toFileTime('2026-11-20T08:15:30Z'));
      expect(bufs(e, 'msDS-RegisteredOwner')[0]!.equals(sidToBytes(users[1]!.sid))).toBe(true);
      expect(
        bufs(e, 'msDS-RegisteredUsers')
          .map((b) => b.toString('hex'))
          .sort(),
      ).toEqual([users[1]!.sid, users[2]!.sid].map((s) => sidToBytes(s).toString('hex')).sort());
      expect(bufs(e, 'msDS-CloudAnchor')[0]!.toString('utf8')).toBe(`Device_${d.id}`);
      // The raw tool agrees on the FILETIME and the GUID bytes.
      const ldif = await ldapsearch(lab.dc, `CN=${d.deviceId},${container}`, [
        '-s',
        'base',
        'msDS-DeviceID',
        'msDS-ApproximateLastLogonTimeStamp',
      ]);
      expect(ldif).toContain(`msDS-DeviceID:: ${guidToBytes(d.deviceId).toString('base64')}`);
      expect(ldif).toContain(`msDS-ApproximateLastLogonTimeStamp: ${toFileTime('2026-11-20T08:15:30Z')}`);
    });

    it('a delta sync with nothing to do changes nothing', async () => {
      const summary = await ctx.engine.sync();
      expect(summary).toMatchObject({ mode: 'delta', created: 0, updated: 0, deleted: 0, quarantined: 0 });
    });

    it('one delta applies exactly the cloud changes (partial records merged)', async () => {
      const [d1, d2, d3, d4, d5] = [1, 2, 3, 4, 5].map((n) => sampleDevice(n));
      source.patch(d1!.id, { displayName: 'RENAMED-1' });
      source.patch(d2!.id, { accountEnabled: false });
      source.patch(d3!.id, { operatingSystemVersion: '10.0.26100.1' });
      source.remove(d4!.id, 'deleted');
      source.remove(d5!.id, 'changed');
      source.put(sampleDevice(7));
      const summary = await ctx.engine.sync();
      expect(summary).toMatchObject({ mode: 'delta', created: 1, updated: 3, deleted: 2, quarantined: 0 });
      const e1 = (await readDevice(d1!.deviceId))!;
      expect(str(e1, 'displayName')).toBe('RENAMED-1');
      // attributes absent from the partial record were kept
      expect(str(e1, 'msDS-DeviceOSVersion')).toBe('10.0.22631.3447');
      expect(bufs(e1, 'msDS-RegisteredOwner')).toHaveLength(1);
      expect(str((await readDevice(d2!.deviceId))!, 'msDS-IsEnabled')).toBe('FALSE');
      expect(str((await readDevice(d3!.deviceId))!, 'msDS-DeviceOSVersion')).toBe('10.0.26100.1');
      expect(await readDevice(d4!.deviceId)).toBeUndefined();
      expect(await readDevice(d5!.deviceId)).toBeUndefined();
      expect(await readDevice(sampleDevice(7).deviceId)).toBeDefined();
    });

    it('a soft-deleted device that is restored is written again', async () => {
      source.put(sampleDevice(5));
      const summary = await ctx.engine.sync();
      expect(summary.created).toBe(1);
      expect(await readDevice(sampleDevice(5).deviceId)).toBeDefined();
    });

    it('quarantines bad devices with a clear error and writes the rest', async () => {
      source.put(sampleDevice(20, { deviceId: 'not-a-guid' }));
      source.put(sampleDevice(21, { displayName: 'x'.repeat(257) }));
      source.put(
        sampleDevice(22, {
          alternativeSecurityIds: [
            { type: 2, identityProvider: null, key: Buffer.from('garbage', 'utf16le').toString('base64') },
          ],
        }),
      );
      source.put(sampleDevice(23, { alternativeSecurityIds: [] }));
      source.put(sampleDevice(24), {
        registeredOwners: [
          { id: 'bad', userPrincipalName: null, onPremisesSecurityIdentifier: 'S-1-5-21-nope' },
        ],
        registeredUsers: [],
      });
      source.put(sampleDevice(25, { displayName: 'Hostile ,+"\\<>;=#*()\u00e9 name' }));
      source.invalid('00000000-0000-4000-8000-00000000beef', 'alternativeSecurityIds: expected array');
      const summary = await ctx.engine.sync();
      expect(summary.created).toBe(1);
      expect(summary.quarantined).toBe(6);
      const codes = Object.fromEntries(summary.errors.map((e) => [e.deviceId ?? 'none', e.code]));
      expect(codes['not-a-guid']).toBe('DWB_DEVICE_BAD_ID');
      expect(codes[sampleDevice(21).deviceId]).toBe('DWB_DEVICE_VALUE_TOO_LONG');
      expect(codes[sampleDevice(22).deviceId]).toBe('DWB_DEVICE_BAD_KEY');
      expect(codes[sampleDevice(23).deviceId]).toBe('DWB_DEVICE_NO_KEY');
      expect(codes[sampleDevice(24).deviceId]).toBe('DWB_DEVICE_BAD_SID');
      expect(str((await readDevice(sampleDevice(25).deviceId))!, 'displayName')).toBe(
        'Hostile ,+"\\<>;=#*()\u00e9 name',
      );
      expect((await ctx.store.counts()).quarantined).toBe(6);
      // nothing was written outside the container
      const stray = await lab.admin.search(lab.dc.forest.domainDn, {
        filter: '(objectClass=msDS-Device)',
        attributes: ['cn'],
      });
      expect(stray.every((s) => s.dn.toLowerCase().endsWith(`,${container.toLowerCase()}`))).toBe(true);
    });

    it('a quarantined device leaves quarantine once the cloud fixes it', async () => {
      source.patch(sampleDevice(21).id, { displayName: 'FIXED-21' });
      const summary = await ctx.engine.sync();
      expect(summary.created).toBe(1);
      expect((await ctx.store.quarantined()).map((q) => q.deviceId)).not.toContain(sampleDevice(21).deviceId);
      expect(str((await readDevice(sampleDevice(21).deviceId))!, 'displayName')).toBe('FIXED-21');
    });

    it('leaves unmanaged objects alone and reports a conflict', async () => {
      const foreign = sampleDevice(30);
      await addUnmanaged(foreign.deviceId, foreign.deviceId, 'Written by someone else', '0');
      await addUnmanaged('stranger', '99999999-9999-4999-8999-999999999999', 'Stranger', '1');
      source.put(foreign);
      const summary = await ctx.engine.sync({ full: true });
      expect(summary.errors.find((e) => e.deviceId === foreign.deviceId)?.code).toBe('DWB_DEVICE_CONFLICT');
      expect(str((await readDevice(foreign.deviceId))!, 'displayName')).toBe('Written by someone else');
      expect(await lab.admin.read(`CN=stranger,${container}`)).toBeDefined();
    });

    it('--adopt takes over an unmanaged object with the same msDS-DeviceID', async () => {
      const foreign = sampleDevice(30);
      const summary = await ctx.engine.sync({ full: true, adopt: true });
      expect(summary.adopted).toBe(1);
      const e = (await readDevice(foreign.deviceId))!;
      expect(str(e, 'displayName')).toBe('DEVICE-30');
      expect(bufs(e, 'msDS-CloudAnchor')[0]!.toString()).toBe(`Device_${foreign.id}`);
      expect(await lab.admin.read(`CN=stranger,${container}`)).toBeDefined();
    });

    it('a delta that meets an unmanaged object at CN=<deviceId> reports a conflict, and --adopt takes it', async () => {
      const foreign = sampleDevice(31);
      await addUnmanaged(foreign.deviceId, foreign.deviceId, 'Azure AD Connect wrote me', '2');
      source.put(foreign);
      const conflict = await ctx.engine.sync();
      expect(conflict.mode).toBe('delta');
      expect(conflict.errors.find((e) => e.deviceId === foreign.deviceId)?.code).toBe('DWB_DEVICE_CONFLICT');
      expect(str((await readDevice(foreign.deviceId))!, 'displayName')).toBe('Azure AD Connect wrote me');
      source.patch(foreign.id, { displayName: 'DEVICE-31' });
      const adopted = await ctx.engine.sync({ adopt: true });
      expect(adopted).toMatchObject({ adopted: 1, created: 0, updated: 1 });
      expect(bufs((await readDevice(foreign.deviceId))!, 'msDS-CloudAnchor')[0]!.toString()).toBe(
        `Device_${foreign.id}`,
      );
    });

    it('--dry-run lists operations and writes nothing', async () => {
      source.patch(sampleDevice(6).id, { displayName: 'DRY' });
      const before = await ldapsearch(lab.dc, container, ['-s', 'one', '*']);
      const summary = await ctx.engine.sync({ dryRun: true });
      expect(summary.dryRun).toBe(true);
      expect(summary.updated).toBe(1);
      expect(summary.operations?.[0]?.ldif).toContain('replace: displayName\ndisplayName: DRY');
      expect(await ldapsearch(lab.dc, container, ['-s', 'one', '*'])).toBe(before);
      const applied = await ctx.engine.sync();
      expect(applied.updated).toBe(1);
    });

    it('a full reconcile repairs drift: hand edits put back, hand deletes re-created', async () => {
      const d1 = sampleDevice(1);
      const d3 = sampleDevice(3);
      await lab.admin.modify(`CN=${d1.deviceId},${container}`, [
        { operation: 'replace', type: 'displayName', values: ['edited by hand'] },
      ]);
      await lab.admin.del(`CN=${d3.deviceId},${container}`);
      const delta = await ctx.engine.sync();
      expect(delta.updated + delta.created).toBe(0);
      const full = await ctx.engine.sync({ full: true });
      expect(full).toMatchObject({ mode: 'full', created: 1, updated: 1, deleted: 0 });
      expect(str((await readDevice(d1.deviceId))!, 'displayName')).toBe('RENAMED-1');
      expect(await readDevice(d3.deviceId)).toBeDefined();
    });

    it('a full pass rewrites only changed records in the state store and forgets what Graph no longer returns', async () => {
      // What the store holds for a device: its fingerprint and when its row was last written.
      const row = async (n: number) => {
        const id = sampleDevice(n).id;
        const fp = (await ctx.store.deviceFingerprints()).get(id);
        const updatedAt = (await ctx.store.devicesChangedSince('')).find((d) => d.graphId === id)?.updatedAt;
        return fp === undefined ? undefined : { fp, updatedAt };
      };
      await ctx.engine.sync({ full: true }); // settles whatever the tests above left
      const unchanged = await row(7);
      const renamed = await row(25);
      expect(unchanged?.fp).toBeTypeOf('number');
      await new Promise((r) => setTimeout(r, 5)); // a rewrite gets a later updated_at
      source.patch(sampleDevice(25).id, { displayName: 'RENAMED-25' });
      source.remove(sampleDevice(6).id, 'deleted');
      const full = await ctx.engine.sync({ full: true });
      expect(full).toMatchObject({ mode: 'full', updated: 1, deleted: 1, created: 0 });
      expect(await row(7)).toEqual(unchanged);
      expect((await row(25))!.fp).not.toBe(renamed!.fp);
      expect((await row(25))!.updatedAt! > renamed!.updatedAt!).toBe(true);
      expect(
        (await ctx.store.getDevices([sampleDevice(25).id])).get(sampleDevice(25).id)?.device.displayName,
      ).toBe('RENAMED-25');
      expect((await ctx.store.getDevices([sampleDevice(6).id])).size).toBe(0);
      expect(await row(6)).toBeUndefined();
      expect(await readDevice(sampleDevice(6).deviceId)).toBeUndefined();
    });

    it('the deletion threshold holds back deletions and the watermark', async () => {
      ctx.engine.context.writeback.deleteThreshold = 1;
      const link = (await ctx.store.watermark()).deltaLink;
      source.remove(sampleDevice(1).id, 'deleted');
      source.remove(sampleDevice(2).id, 'deleted');
      const held = await ctx.engine.sync();
      expect(held).toMatchObject({ thresholdStopped: true, deletionsHeld: 2, deleted: 0 });
      expect((await ctx.store.watermark()).deltaLink).toBe(link);
      expect(await readDevice(sampleDevice(1).deviceId)).toBeDefined();
      const allowed = await ctx.engine.sync({ allowDeletes: true });
      expect(allowed).toMatchObject({ deleted: 2, thresholdStopped: false });
      expect(await readDevice(sampleDevice(1).deviceId)).toBeUndefined();
    });

    it('an expired delta token falls back to a full read', async () => {
      source.expired = true;
      const summary = await ctx.engine.sync();
      expect(summary.mode).toBe('full');
      expect(summary.reason).toMatch(/expired/);
    });
  });
}
