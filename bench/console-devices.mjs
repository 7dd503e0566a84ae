#!/usr/bin/env node
// Benchmark: the console's Devices page with 100,000 devices. Fills a state store as the engine
// does (cloud state with owners, the object map, some quarantined and unmanaged objects), starts
// the console on it, and times GET /devices over HTTP for the searches and filters an administrator
// uses. The raw tool on the same machine in the same run: the same questions asked of SQLite
// directly (json_extract + LIKE over the engine's devices table, ORDER BY, LIMIT/OFFSET).
// Prints one JSON object (median and p95 per scenario, and overall). Needs `npm run build`.
//
//   node bench/console-devices.mjs [--devices 100000] [--samples 40]
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createLogger,
  dist,
  flags,
  machine,
  median,
  percentile,
  report,
  round,
  workspace,
} from './lib/lab.mjs';

const opts = flags({ devices: 100_000, samples: 40 });
const log = createLogger('console-devices');
const { parseConfig } = await dist('config/load.js');
const { SqliteStateStore } = await dist('state/sqlite/sqlite-store.js');
const { WritebackService } = await dist('sync/service.js');
const { startConsole } = await dist('web/server.js');
const { encodeDeviceKey } = await dist('entra/device-key.js');
const { setLogLevel } = await dist('log.js');
setLogLevel('warn');

const ws = workspace('console-devices');
const N = opts.devices;
const OS = ['Windows', 'iOS', 'Android', 'MacMDM', 'Linux'];
const WORDS = ['LAPTOP', 'DESKTOP', 'PHONE', 'TABLET', 'KIOSK', 'SURFACE', 'IPAD', 'PIXEL'];
const hex = (n) => n.toString(16).padStart(12, '0');

function device(n) {
  return {
    id: `00000000-0000-4000-8000-${hex(n)}`,
    deviceId: `11111111-2222-4333-8444-${hex(n)}`,
    displayName: `${WORDS[n % WORDS.length]}-${String(n).padStart(6, '0')}`,
    accountEnabled: n % 13 !== 0,
    operatingSystem: OS[n % OS.length],
    operatingSystemVersion: `10.0.${19041 + (n % 3000)}.${n % 1000}`,
    trustType: ['Workplace', 'AzureAd', 'ServerAd'][n % 3],
    isManaged: n % 2 === 0,
    isCompliant: n % 3 !== 0,
    deviceVersion: 2,
    approximateLastSignInDateTime: '2026-11-20T08:15:30Z',
    physicalIds: [`[USER-GID]:${hex(n)}:6825`, `[GID]:g:${hex(n)}`],
    alternativeSecurityIds: [
      {
        type: 2,
        identityProvider: null,
        key: encodeDeviceKey(`X509:<SHA1-TP-PUBKEY>${hex(n).padStart(40, 'A')}${'x'.repeat(43)}=`),
      },
    ],
  };
}

function relations(n) {
  const user = `user${String(n % 2000).padStart(4, '0')}@corp.example.test`;
  const sid = `S-1-5-21-1004336348-1177238915-682003330-${1100 + (n % 2000)}`;
  return {
    registeredOwners: [{ id: `u${n % 2000}`, userPrincipalName: user, onPremisesSecurityIdentifier: sid }],
    registeredUsers: [{ id: `u${n % 2000}`, userPrincipalName: user, onPremisesSecurityIdentifier: sid }],
  };
}

function get(agent, url) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    http
      .get(url, { agent }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode, bytes }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const stats = (values) => ({
  medianMs: round(median(values)),
  p95Ms: round(percentile(values, 95)),
  maxMs: round(Math.max(...values)),
});

try {
  const configFile = path.join(ws.dir, 'device-writeback.yaml');
  process.env.DWB_BENCH_UNUSED_PASSWORD = 'never-used-no-directory-is-contacted';
  const config = parseConfig(
    `ad:\n  url: ldaps://127.0.0.1:9\n  bindDn: CN=bench\n  password: { env: DWB_BENCH_UNUSED_PASSWORD }\nstate:\n  sqlite: ${path.join(ws.dir, 'state.db')}\n`,
    configFile,
  );
  const store = SqliteStateStore.open(config.state.sqlite, { writer: true });
  ws.defer(() => store.close());

  log(`filling the state store with ${N} devices …`);
  let t = performance.now();
  const containerDn = 'CN=RegisteredDevices,DC=corp,DC=example,DC=test';
  const devices = [];
  const objects = [];
  const issues = [];
  for (let n = 1; n <= N; n++) {
    const d = device(n);
    devices.push({ device: d, relations: relations(n) });
    if (n % 50 !== 0)
      objects.push({
        deviceId: d.deviceId,
        graphId: d.id,
        dn: `CN=${d.deviceId},${containerDn}`,
        objectGuid: null,
        hash: 'h',
      });
    if (n % 1000 === 0) {
      issues.push({
        key: d.id,
        graphId: d.id,
        deviceId: d.deviceId,
        displayName: d.displayName,
        code: 'DWB_DEVICE_BAD_SID',
        message: 'the owner SID does not parse',
      });
    }
  }
  await store.putDevices(devices);
  await store.putObjects(objects);
  await store.quarantine(issues);
  await store.replaceUnmanaged(
    Array.from({ length: 200 }, (_, i) => ({
      dn: `CN=legacy-${i},${containerDn}`,
      deviceId: null,
      displayName: `LEGACY-${String(i).padStart(3, '0')}`,
    })),
  );
  const fillMs = performance.now() - t;
  log(`filled in ${(fillMs / 1000).toFixed(1)} s`);

  // A session without a directory: the Devices page reads only the store (the Device page would read AD).
  const session = {
    config,
    store,
    source: undefined,
    directory: undefined,
    engine: undefined,
    container: {
      containerDn,
      schema: { has: () => true },
      rootDse: { defaultNamingContext: 'DC=corp,DC=example,DC=test' },
      source: 'ad.domain',
    },
    close: async () => undefined,
  };
  const service = WritebackService.fromSession(session);
  t = performance.now();
  const web = await startConsole({ service, listen: '127.0.0.1:0' });
  const startupMs = performance.now() - t;
  ws.defer(() => web.close());
  log(`console up in ${(startupMs / 1000).toFixed(2)} s at ${web.url}`);

  const scenarios = [
    { name: 'first page, no filter', path: '/devices' },
    { name: 'page 1000 of 2004', path: '/devices?page=1000' },
    { name: 'search one name', path: '/devices?q=TABLET-012343' },
    { name: 'search common prefix', path: '/devices?q=laptop-01' },
    { name: 'search by deviceId', path: `/devices?q=${device(77777).deviceId}` },
    { name: 'search, no match', path: '/devices?q=no-such-device-anywhere' },
    { name: 'managed + iOS + enabled, page 3', path: '/devices?state=managed&os=iOS&enabled=yes&page=3' },
    { name: 'owner filter', path: '/devices?owner=user0042%40' },
    { name: 'quarantined', path: '/devices?state=quarantined' },
    { name: 'unmanaged', path: '/devices?state=unmanaged' },
  ];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const all = [];
  const results = [];
  for (const s of scenarios) {
    await get(agent, `${web.url}${s.path}`); // warm-up
    const times = [];
    let last;
    for (let i = 0; i < opts.samples; i++) {
      last = await get(agent, `${web.url}${s.path}`);
      if (last.status !== 200) throw new Error(`${s.path} answered ${last.status}`);
      times.push(last.ms);
    }
    all.push(...times);
    results.push({ name: s.name, path: s.path, bytes: last.bytes, ...stats(times) });
    log(`${s.name}: median ${round(median(times))} ms, p95 ${round(percentile(times, 95))} ms`);
  }

  // A delta cycle's worth of changes, then the first page again (the index follows incrementally).
  t = performance.now();
  await store.putDevices(
    Array.from({ length: 200 }, (_, i) => ({
      device: { ...device((i + 1) * 7), displayName: `RENAMED-${i + 1}` },
      relations: relations((i + 1) * 7),
    })),
  );
  const writeMs = performance.now() - t;
  // What the console does after each cycle (the service's cycle listener): take in the changes.
  t = performance.now();
  await web.index.warm();
  const indexRefreshMs = performance.now() - t;
  const afterDelta = await get(agent, `${web.url}/devices?q=renamed-`);
  agent.destroy();

  // The raw tool: SQLite answering the same questions from the engine's own tables (a read-only
  // handle of the benchmark's own on the same file).
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(config.state.sqlite, { readonly: true });
  ws.defer(() => db.close());
  const raw = (sql, params) => {
    const times = [];
    for (let i = 0; i < Math.min(opts.samples, 10); i++) {
      const started = performance.now();
      db.prepare(sql).all(...params);
      times.push(performance.now() - started);
    }
    return stats(times);
  };
  const NAME = "json_extract(json, '$.displayName')";
  const baseline = [
    { name: 'first page, no filter', ...raw(`SELECT json FROM devices ORDER BY ${NAME} LIMIT 50`, []) },
    {
      name: 'search one name',
      ...raw(`SELECT json FROM devices WHERE ${NAME} LIKE ? ORDER BY ${NAME} LIMIT 50`, ['%TABLET-012343%']),
    },
    {
      name: 'search, no match (count)',
      ...raw(`SELECT COUNT(*) FROM devices WHERE ${NAME} LIKE ?`, ['%no-such-device-anywhere%']),
    },
  ];

  const result = {
    benchmark: 'console-devices',
    description:
      'GET /devices over HTTP (keep-alive, one client) against a state store of N devices; server-side search, filters and paging',
    devices: N,
    unmanaged: 200,
    quarantined: Math.floor(N / 1000),
    samplesPerScenario: opts.samples,
    fillSeconds: round(fillMs / 1000, 1),
    consoleStartupMs: round(startupMs),
    overall: stats(all),
    goal: 'median well under 200 ms',
    scenarios: results,
    afterDeltaOf200Changes: {
      storeWriteMs: round(writeMs),
      indexRefreshMs: round(indexRefreshMs),
      nextQueryMs: round(afterDelta.ms),
    },
    rawSqlite: {
      note: 'the same questions asked of the engine tables directly (json_extract + LIKE + ORDER BY), no HTTP',
      scenarios: baseline,
    },
    machine: machine(),
  };
  report('console-devices', result);
} finally {
  await ws.cleanup();
}
