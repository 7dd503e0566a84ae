// --data: the directory, the change logs (so delta tokens), groups and their membership, the DRS,
// the app registration, the CA and the token signing key all survive a restart; seeding again adds
// nothing. The file is a JSON-lines snapshot and journal: a write torn by a kill is dropped whole,
// anything else that does not read is refused with its own error.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryStore, JournalPersistence, seededGroups, startEmulator } from '../../src/emulator/index.js';
import { DwbError } from '../../src/errors.js';
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

describe('groups, the DRS and the data file itself', () => {
  it('keeps groups, their members and the groups/delta tokens, and the DRS issuer', async () => {
    const dataFile = path.join(dir, 'groups.data');
    const first = await startEmulator({ dataFile, devices: 20, seed: 'persist-groups' });
    const token = await getToken(first);
    const devices = first.store.listDevices();
    const group = first.store.createGroup({ displayName: 'Kept' }, [
      devices[0]?.id ?? '',
      devices[1]?.id ?? '',
    ]);
    const latest = await request<GraphBody>(
      first,
      'GET',
      '/v1.0/groups/delta?$deltatoken=latest&$select=displayName,members',
      {
        token,
      },
    );
    const groupLink = new URL(String(latest.json['@odata.deltaLink']));
    first.store.removeMember(group.id, devices[0]?.id ?? '');
    const issuer = first.cloudIssuerPem;
    expect(readFileSync(first.cloudIssuerFile, 'utf8')).toBe(issuer);
    const certificate = first.store.deviceCertificate(devices[3]?.id ?? '')?.certificatePem;
    await first.close();

    // Another seed on restart changes nothing: the data file keeps its DRS and its devices.
    const second = await startEmulator({ dataFile, devices: 20, seed: 'another seed' });
    try {
      expect(second.cloudIssuerPem).toBe(issuer);
      expect(second.store.deviceCertificate(devices[3]?.id ?? '')?.certificatePem).toBe(certificate);
      expect(second.store.listGroups().map((g) => g.displayName)).toEqual([
        ...seededGroups({ seed: 'persist-groups' }).map((g) => g.group.displayName),
        'Kept',
      ]);
      expect(second.store.members(group.id).map((m) => m.id)).toEqual([devices[1]?.id]);
      const pilot = seededGroups({ seed: 'persist-groups' })[0]?.group.id ?? '';
      expect(second.store.members(pilot).map((m) => m.id)).toEqual([devices[0]?.id, devices[10]?.id]);
      const changes = await request<GraphBody>(second, 'GET', groupLink.pathname + groupLink.search, {
        token: await getToken(second),
      });
      expect(changes.status).toBe(200);
      expect(changes.json.value).toEqual([
        {
          id: group.id,
          displayName: 'Kept',
          'members@delta': [
            {
              '@odata.type': '#microsoft.graph.device',
              id: devices[0]?.id,
              '@removed': { reason: 'deleted' },
            },
          ],
        },
      ]);
    } finally {
      await second.close();
    }
  });

  it('is readable by its owner only, and compacted at start', () => {
    const dataFile = path.join(dir, 'compact.data');
    const store = new DirectoryStore(new JournalPersistence(dataFile));
    store.seed(5);
    store.close();
    expect(statSync(`${dataFile}.journal`).size).toBeGreaterThan(0);
    const again = new DirectoryStore(new JournalPersistence(dataFile));
    again.close();
    if (process.platform !== 'win32') {
      expect(statSync(dataFile).mode & 0o777).toBe(0o600);
      expect(statSync(`${dataFile}.journal`).mode & 0o777).toBe(0o600);
    }
    expect(statSync(`${dataFile}.journal`).size).toBe(0);
    expect(readFileSync(dataFile, 'utf8').split('\n')[0]).toBe(
      '{"t":"header","format":"device-writeback-emulator","version":1}',
    );
  });

  it('drops a write torn by a kill, whole, and keeps every write before it', () => {
    const dataFile = path.join(dir, 'torn.data');
    const store = new DirectoryStore(new JournalPersistence(dataFile));
    store.seed(3);
    const renamed = store.listDevices()[0]?.id ?? '';
    store.updateDevice(renamed, { displayName: 'Before the kill' });
    store.close();
    // A write cut short: some of its records, not its commit line, the last one half-written.
    appendFileSync(
      `${dataFile}.journal`,
      `${JSON.stringify({ t: 'meta', key: 'deltaGeneration', value: '99' })}\n{"t":"device","ordinal":0,"sta`,
    );
    const reopened = new DirectoryStore(new JournalPersistence(dataFile));
    try {
      expect(reopened.getDevice(renamed)?.displayName).toBe('Before the kill');
      expect(reopened.deltaGeneration).toBe(1);
      expect(reopened.counts().active).toBe(3);
    } finally {
      reopened.close();
    }
  });

  it('refuses a file that is not an emulator data file, or is damaged, with its own error', () => {
    const notOurs = path.join(dir, 'sqlite.db');
    writeFileSync(notOurs, 'SQLite format 3\u0000 and some pages');
    const refused = (file: string): DwbError => {
      try {
        new DirectoryStore(new JournalPersistence(file));
      } catch (err) {
        if (err instanceof DwbError) return err;
        throw err;
      }
      throw new Error(`${file} was accepted`);
    };
    expect(refused(notOurs).code).toBe('DWB_EMULATOR_DATA');
    expect(refused(notOurs).message).toMatch(/is not an emulator data file/);

    const damaged = path.join(dir, 'damaged.data');
    const store = new DirectoryStore(new JournalPersistence(damaged));
    store.seed(2);
    store.close();
    // A damaged line before a commit is not a torn write: refused, not half-read.
    const journal = readFileSync(`${damaged}.journal`, 'utf8').split('\n');
    journal[1] = '{"t":"device", broken';
    writeFileSync(`${damaged}.journal`, journal.join('\n'));
    expect(refused(damaged).message).toMatch(/damaged record on line 2/);

    const newer = path.join(dir, 'newer.data');
    writeFileSync(newer, '{"t":"header","format":"device-writeback-emulator","version":9}\n');
    expect(refused(newer).message).toMatch(/another version/);
  });
});
