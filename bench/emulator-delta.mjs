#!/usr/bin/env node
// Benchmark: the Graph emulator at scale. Seeds --devices (default 100 000) devices in-process,
// then times over HTTPS: every page of a full devices/delta round, every page of a delta round
// after --changes updates, one delta page after a change to every device (the largest possible
// window), an indexed `$filter=deviceId eq` lookup; and, as the floor, the same number of requests
// to a bare node:https server (same certificate, same keep-alive client) that answers a
// pre-serialized body of the size of a delta page. Prints JSON (and files it in bench/results).
import https from 'node:https';
import { URLSearchParams } from 'node:url';
import { createLogger, dist, flags, machine, median, percentile, report, round } from './lib/lab.mjs';

const NAME = 'emulator-delta';
const log = createLogger(NAME);
const opts = flags(
  { devices: 100_000, samples: 200, changes: 1000, pageSize: 200 },
  { changes: { type: 'string' }, 'page-size': { type: 'string' } },
);
opts.pageSize = Number(opts['page-size'] ?? opts.pageSize);

function client(caPem) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: caPem });
  return (url, headers = {}) =>
    new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = https.get(url, { agent, headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200)
            return reject(new Error(`${url}: ${res.statusCode} ${text.slice(0, 200)}`));
          resolve({ ms, bytes: text.length, json: text.startsWith('{') ? JSON.parse(text) : text });
        });
      });
      req.on('error', reject);
    });
}

function summary(times) {
  return {
    requests: times.length,
    p50Ms: round(median(times)),
    p95Ms: round(percentile(times, 95)),
    maxMs: round(Math.max(...times)),
    totalMs: round(times.reduce((a, b) => a + b, 0)),
  };
}

async function deltaRound(get, start, headers) {
  const times = [];
  let items = 0;
  let bytes = 0;
  let next = start;
  for (;;) {
    const page = await get(next, headers);
    times.push(page.ms);
    bytes += page.bytes;
    items += page.json.value.length;
    if (page.json['@odata.deltaLink'])
      return { times, items, bytes, deltaLink: page.json['@odata.deltaLink'] };
    next = page.json['@odata.nextLink'];
  }
}

async function main() {
  const { startEmulator } = await dist('emulator/index.js');
  const { issueServerCertificate, createCertificateAuthority } = await dist('tls/certificates.js');

  let started = process.hrtime.bigint();
  const emulator = await startEmulator({ devices: opts.devices, deltaPageSize: opts.pageSize });
  const seedMs = Number(process.hrtime.bigint() - started) / 1e6;
  log(`seeded ${opts.devices} devices in ${(seedMs / 1000).toFixed(1)} s`);
  const rssAfterSeedMb = process.memoryUsage().rss / 1024 / 1024;
  try {
    const get = client(emulator.caPem);
    const tokenResponse = await new Promise((resolve, reject) => {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: emulator.clientId,
        client_secret: emulator.clientSecret,
        scope: 'https://graph.microsoft.com/.default',
      }).toString();
      const req = https.request(
        `${emulator.url}/${emulator.tenantId}/oauth2/v2.0/token`,
        {
          method: 'POST',
          ca: emulator.caPem,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(JSON.parse(text)));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    const auth = { Authorization: `Bearer ${tokenResponse.access_token}` };
    const select =
      'deviceId,displayName,accountEnabled,operatingSystem,operatingSystemVersion,trustType,isManaged,isCompliant,deviceVersion,approximateLastSignInDateTime,physicalIds,alternativeSecurityIds';

    log('full delta round');
    const full = await deltaRound(get, `${emulator.url}/v1.0/devices/delta?$select=${select}`, auth);
    if (full.items !== opts.devices)
      throw new Error(`full round returned ${full.items} devices, expected ${opts.devices}`);

    log(`${opts.changes} changes, then a delta round`);
    const devices = emulator.store.listDevices();
    for (let i = 0; i < opts.changes; i++) {
      const device = devices[(i * 97) % devices.length];
      emulator.store.updateDevice(device.id, { displayName: `${device.displayName}-${i}` });
    }
    const changed = await deltaRound(get, full.deltaLink, auth);

    log('a change to every device, then the first delta page');
    for (const device of devices) emulator.store.recordSignIn(device.id, new Date('2026-01-01T00:00:00Z'));
    const wideFirstPage = await get(changed.deltaLink, auth);

    log('indexed lookups');
    const lookups = [];
    for (let i = 0; i < opts.samples; i++) {
      const device = devices[(i * 7919) % devices.length];
      lookups.push(
        (
          await get(
            `${emulator.url}/v1.0/devices?$filter=deviceId%20eq%20'${device.deviceId}'&$select=id`,
            auth,
          )
        ).ms,
      );
    }

    log('raw node:https floor');
    const ca = createCertificateAuthority();
    const cert = issueServerCertificate(ca);
    const pageBody = JSON.stringify(
      (await get(`${emulator.url}/v1.0/devices/delta?$select=${select}`, auth)).json,
    );
    const raw = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(pageBody);
    });
    await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawGet = client(ca.certPem);
    const rawTimes = [];
    for (let i = 0; i < full.times.length; i++)
      rawTimes.push((await rawGet(`https://127.0.0.1:${raw.address().port}/`)).ms);
    raw.close();

    started = process.hrtime.bigint();
    const result = {
      benchmark: NAME,
      startedAt: new Date().toISOString(),
      machine: machine(),
      devices: opts.devices,
      pageSize: opts.pageSize,
      method:
        'In-process emulator (startEmulator) over HTTPS on 127.0.0.1, one keep-alive connection, sequential requests; times are client-side per request. The floor is a bare node:https server answering a pre-serialized delta page of the same size on the same kind of connection.',
      seedSeconds: round(seedMs / 1000),
      rssAfterSeedMb: round(rssAfterSeedMb, 0),
      fullRound: { ...summary(full.times), devices: full.items, megabytes: round(full.bytes / 1024 / 1024) },
      deltaAfterChanges: { changes: opts.changes, devices: changed.items, ...summary(changed.times) },
      firstDeltaPageAfterChangingEveryDevice: {
        ms: round(wideFirstPage.ms),
        devices: wideFirstPage.json.value.length,
      },
      indexedDeviceIdLookup: summary(lookups),
      rawHttpsFloor: { bytesPerResponse: pageBody.length, ...summary(rawTimes) },
      emulatorOverFloorP50: round(median(full.times) / median(rawTimes)),
    };
    report(NAME, result);
  } finally {
    await emulator.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
