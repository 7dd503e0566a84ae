// A 100k-device full read: pages are fetched only as the consumer asks for them, so memory follows
// the page and not the directory.
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EntraConnector } from '../../src/entra/connector.js';
import {
  captureLogs,
  startFixtureServer,
  staticCredential,
  testEntraConfig,
  type FixtureServer,
} from './support/fixture-server.js';

// Garbage comes and goes with each page; what is retained after a collection is what matters.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const PAGES = 100;
const PER_PAGE = 1000;

let server: FixtureServer;

beforeAll(async () => {
  server = await startFixtureServer();
  server.handle((req) => {
    const page = Number(new URL(req.url, server.url).searchParams.get('$skiptoken') ?? '0');
    const value = Array.from({ length: PER_PAGE }, (_, i) => {
      const n = page * PER_PAGE + i;
      const hex = n.toString(16).padStart(12, '0');
      return {
        id: `10000000-0000-4000-8000-${hex}`,
        deviceId: `20000000-0000-4000-8000-${hex}`,
        displayName: `DESKTOP-${hex.toUpperCase()}`,
        accountEnabled: true,
        operatingSystem: 'Windows',
        operatingSystemVersion: '10.0.22631.2861',
        trustType: 'AzureAd',
        isManaged: true,
        isCompliant: n % 3 === 0,
        deviceVersion: 2,
        approximateLastSignInDateTime: '2024-01-12T09:41:07Z',
        physicalIds: [`[USER-GID]:${hex}:6825786821977640`, `[GID]:g:${hex}`, `[ZTDID]:${hex}`],
        alternativeSecurityIds: [
          {
            type: 2,
            identityProvider: null,
            key: Buffer.from(`X509:<SHA1-TP-PUBKEY>${hex.repeat(3)}`, 'utf16le').toString('base64'),
          },
        ],
      };
    });
    const last = page === PAGES - 1;
    return {
      status: 200,
      body: {
        '@odata.context': `${server.url}/v1.0/$metadata#devices`,
        [last ? '@odata.deltaLink' : '@odata.nextLink']: last
          ? `${server.url}/v1.0/devices/delta?$deltatoken=end`
          : `${server.url}/v1.0/devices/delta?$skiptoken=${page + 1}`,
        value,
      },
    };
  });
});
afterAll(async () => {
  await server.close();
});

it('reads 100k devices page by page, fetching a page only when the previous one was taken', async () => {
  const c = new EntraConnector(testEntraConfig({ graphUrl: server.url }), {
    credential: staticCredential(),
    logger: captureLogs().logger,
  });
  gc();
  const baseline = process.memoryUsage().heapUsed;
  const retained: number[] = [];
  let devices = 0;
  let pages = 0;
  let deltaLink: string | undefined;
  for await (const event of c.readDelta()) {
    if (event.kind === 'reset') throw new Error('unexpected reset');
    pages++;
    devices += event.changes.filter((ch) => ch.kind === 'upsert').length;
    if (event.deltaLink) deltaLink = event.deltaLink;
    // The generator has not run ahead: exactly the pages handed out have been requested.
    expect(server.requests.length).toBe(pages);
    if (pages % 25 === 0) {
      gc();
      retained.push(process.memoryUsage().heapUsed - baseline);
    }
  }
  expect(devices).toBe(PAGES * PER_PAGE);
  expect(deltaLink).toContain('$deltatoken=end');
  // Holding 100k parsed devices would retain well over 100 MB; a page is a few MB.
  expect(retained).toHaveLength(4);
  for (const bytes of retained) expect(bytes).toBeLessThan(32 * 1024 * 1024);
  c.close();
});
