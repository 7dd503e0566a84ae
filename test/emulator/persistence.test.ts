// --data: the directory, the change log (so delta tokens), the app registration, the CA and the
// token signing key all survive a restart; seeding again adds nothing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../src/emulator/index.js';
import { getToken, request, type GraphBody, type HttpResult } from './http.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'dwb-emulator-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function deltaRound(
  target: Parameters<typeof request>[0],
  token: string,
  link: string,
): Promise<{ items: Record<string, unknown>[]; deltaLink: string }> {
  const items: Record<string, unknown>[] = [];
  // Links carry the origin of the instance that made them; a restarted one listens on another port.
  let next: string | undefined = link;
  while (next) {
    const url: URL = new URL(next, target.url);
    const page: HttpResult = await request<GraphBody>(target, 'GET', url.pathname + url.search, { token });
    if (page.status !== 200) throw new Error(`${page.status} ${page.text}`);
    items.push(...(page.json.value ?? []));
    if (page.json['@odata.deltaLink']) return { items, deltaLink: page.json['@odata.deltaLink'] };
    next = page.json['@odata.nextLink'];
  }
  throw new Error('a delta page had neither nextLink nor deltaLink');
}

describe('persistence across restarts', () => {
  it('keeps devices, users, owners, credentials, CA and delta tokens', async () => {
    const dataFile = path.join(dir, 'emulator.db');
    const first = await startEmulator({ dataFile, devices: 30, listen: '127.0.0.1:0' });
    const token = await getToken(first);
    const devicesBefore = first.store.listDevices();
    const soft = devicesBefore[3];
    const renamed = devicesBefore[4];
    const start = await deltaRound(first, token, '/v1.0/devices/delta?$select=displayName');
    first.store.softDeleteDevice(soft?.id ?? '');
    const tokenBeforeRestart = token;
    const identity = {
      tenantId: first.tenantId,
      clientId: first.clientId,
      clientSecret: first.clientSecret,
      caPem: first.caPem,
      caFile: first.caFile,
    };
    await first.close();

    const second = await startEmulator({ dataFile, devices: 30 });
    try {
      expect({
        tenantId: second.tenantId,
        clientId: second.clientId,
        clientSecret: second.clientSecret,
        caPem: second.caPem,
        caFile: second.caFile,
      }).toEqual(identity);
      expect(second.dataDir).toBe(dir);
      expect(readFileSync(second.caFile, 'utf8')).toBe(identity.caPem);
      // Same devices (seeding again added nothing); the soft-deleted one stays hidden.
      expect(second.store.counts()).toMatchObject({
        active: 29,
        softDeleted: 1,
        users: first.store.counts().users,
      });
      expect(second.store.getDevice(renamed?.id ?? '')).toEqual(renamed);
      const owners = second.store.relation(renamed?.id ?? '', 'registeredOwners').map((u) => u.id);
      expect(owners).toEqual(first.store.relation(renamed?.id ?? '', 'registeredOwners').map((u) => u.id));

      // A token issued before the restart is still valid (same signing key), and so is the delta link.
      second.store.updateDevice(renamed?.id ?? '', { displayName: 'After restart' });
      const changes = await deltaRound(second, tokenBeforeRestart, start.deltaLink);
      expect(changes.items).toEqual(
        expect.arrayContaining([
          { id: soft?.id, '@removed': { reason: 'changed' } },
          { id: renamed?.id, displayName: 'After restart' },
        ]),
      );
      expect(changes.items).toHaveLength(2);

      // Expiring tokens is persisted too.
      second.store.expireDeltaTokens();
    } finally {
      await second.close();
    }
    const third = await startEmulator({ dataFile });
    try {
      const link = new URL(start.deltaLink);
      const gone = await request(third, 'GET', link.pathname + link.search, { token: await getToken(third) });
      expect(gone.status).toBe(410);
      expect(third.store.getDevice(renamed?.id ?? '')?.displayName).toBe('After restart');
    } finally {
      await third.close();
    }
  });

  it('starts fresh with another file, with its own delta state', async () => {
    const a = await startEmulator({ dataFile: path.join(dir, 'a.db'), devices: 3 });
    const link = String(
      (
        await request<GraphBody>(a, 'GET', '/v1.0/devices/delta?$deltatoken=latest', {
          token: await getToken(a),
        })
      ).json['@odata.deltaLink'],
    );
    await a.close();
    const b = await startEmulator({ dataFile: path.join(dir, 'b.db'), devices: 3 });
    try {
      // Same seed, same devices; but a token from a's directory is unknown to b.
      expect(b.store.listDevices().map((d) => d.id)).toEqual(a.store.listDevices().map((d) => d.id));
      const gone = await request(b, 'GET', new URL(link).pathname + new URL(link).search, {
        token: await getToken(b),
      });
      expect(gone.status).toBe(410);
      expect(gone.json.error?.code).toBe('syncStateNotFound');
    } finally {
      await b.close();
    }
  });
});
