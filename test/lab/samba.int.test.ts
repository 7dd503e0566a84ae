// The Samba harness itself: DCs from the template on their own addresses, nothing left behind.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { discoverSchema, readRootDse } from '../../src/ad/discovery.js';
import { adminSession, createUser } from '../../src/lab/directory.js';
import { AdConnection } from '../../src/ad/connection.js';
import { alive } from '../../src/lab/samba.js';
import { addressReleased, startTestDc } from '../support/samba.js';

function loopbackAddresses(): string {
  return execFileSync('ip', ['-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
}

describe('Samba AD DC harness', () => {
  it('starts two DCs side by side and removes every trace when they stop', async () => {
    const [a, b] = await Promise.all([startTestDc(), startTestDc()]);
    expect(a.address).not.toBe(b.address);
    expect(loopbackAddresses()).toContain(`${a.address}/8`);
    expect(alive(a.pid) && alive(b.pid)).toBe(true);
    const session = await adminSession(a);
    const user = await createUser(session, a, 'harness-user', 'Harness-Pa55word!');
    expect(user.sid.startsWith(`${a.domainSid}-`)).toBe(true);
    await session.close();
    // the new user can bind with its password
    const asUser = await AdConnection.open(
      { url: a.url, startTls: false, caFile: a.caFile, insecureSkipVerify: false, timeoutSeconds: 5 },
      { user: user.userPrincipalName, password: 'Harness-Pa55word!' },
    );
    await asUser.close();
    const pids = [a.pid, b.pid];
    await Promise.all([a.stop(), b.stop()]);
    await new Promise((r) => setTimeout(r, 200));
    expect(pids.some(alive)).toBe(false);
    expect(addressReleased(a.address)).toBe(true);
    expect(addressReleased(b.address)).toBe(true);
    expect(existsSync(a.dir)).toBe(false);
  });

  it('provides a 2008 R2 schema forest without the device classes, for negative tests', async () => {
    const dc = await startTestDc('2008_R2');
    try {
      const session = await adminSession(dc);
      const schema = await discoverSchema(session, (await readRootDse(session)).schemaNamingContext);
      expect(schema.hasDeviceClasses).toBe(false);
      expect(schema.classes['msDS-Device']).toBe(false);
      await session.close();
    } finally {
      await dc.stop();
    }
  });
});
