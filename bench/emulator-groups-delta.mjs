#!/usr/bin/env node
// Benchmark: groups/delta in the Graph emulator at scale. Seeds --devices (default 10 000) devices
// in-process and makes --groups (default 5) groups of all of them (50,000 memberships), then times
// over HTTPS: every page of a full groups/delta round with members@delta, --samples delta rounds
// with no change (the cost that matters: a scope rule polls it every cycle), and a round after
// --changes membership changes. Alongside each, the number of member ids the emulator walked
// (DirectoryStore.membersWalked): a round with no change must walk none. The floor is a bare
// node:https server answering a pre-serialized empty delta page on the same kind of connection.
// Prints JSON (and files it in bench/results).
import https from 'node:https';
import { URLSearchParams } from 'node:url';
import { createLogger, dist, flags, machine, median, percentile, report, round } from './lib/lab.mjs';

const NAME = 'emulator-groups-delta';
const log = createLogger(NAME);
const opts = flags(
  { devices: 10_000, groups: 5, samples: 200, changes: 100 },
  {
    groups: { type: 'string' },
    changes: { type: 'string' },
  },
);
opts.groups = Number(opts.groups);
opts.changes = Number(opts.changes);

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
          resolve({ ms, bytes: text.length, json: JSON.parse(text) });
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
  let groups = 0;
  let members = 0;
  let next = start;
  for (;;) {
    const page = await get(next, headers);
    times.push(page.ms);
    for (const item of page.json.value) {
      groups++;
      members += item['members@delta']?.length ?? 0;
    }
    if (page.json['@odata.deltaLink'])
      return { times, groups, members, deltaLink: page.json['@odata.deltaLink'], body: page.json };
    next = page.json['@odata.nextLink'];
  }
}

async function token(emulator) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: emulator.clientId,
    client_secret: emulator.clientSecret,
    scope: 'https://graph.microsoft.com/.default',
  }).toString();
  return new Promise((resolve, reject) => {
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
        res.on('end', () => resolve(JSON.parse(text).access_token));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const { startEmulator } = await dist('emulator/index.js');
  const { issueServerCertificate, createCertificateAuthority } = await dist('tls/certificates.js');

  let started = process.hrtime.bigint();
  const emulator = await startEmulator({ devices: opts.devices });
  const seedMs = Number(process.hrtime.bigint() - started) / 1e6;
  log(`seeded ${opts.devices} devices in ${(seedMs / 1000).toFixed(1)} s`);
  try {
    started = process.hrtime.bigint();
    const ids = emulator.store.listDevices().map((d) => d.id);
    const groups = [];
    for (let g = 0; g < opts.groups; g++)
      groups.push(emulator.store.createGroup({ displayName: `Large ${g}` }, ids));
    const groupsMs = Number(process.hrtime.bigint() - started) / 1e6;
    log(`${opts.groups} groups of ${ids.length} members in ${(groupsMs / 1000).toFixed(1)} s`);

    const get = client(emulator.caPem);
    const auth = { Authorization: `Bearer ${await token(emulator)}` };
    const store = emulator.store;

    log('full groups/delta round');
    let walked = store.membersWalked;
    const full = await deltaRound(get, `${emulator.url}/v1.0/groups/delta?$select=displayName,members`, auth);
    const fullWalked = store.membersWalked - walked;

    log(`${opts.samples} rounds with no change`);
    const quietTimes = [];
    walked = store.membersWalked;
    for (let i = 0; i < opts.samples; i++) {
      const quiet = await deltaRound(get, full.deltaLink, auth);
      if (quiet.groups !== 0) throw new Error('a round with no change returned groups');
      quietTimes.push(...quiet.times);
    }
    const quietWalked = store.membersWalked - walked;

    log(`${opts.changes} membership changes, then a round`);
    for (let i = 0; i < opts.changes; i++) {
      const group = groups[i % groups.length];
      store.removeMember(group.id, ids[(i * 7919) % ids.length]);
    }
    walked = store.membersWalked;
    const changed = await deltaRound(get, full.deltaLink, auth);
    const changedWalked = store.membersWalked - walked;

    log('raw node:https floor');
    const ca = createCertificateAuthority();
    const cert = issueServerCertificate(ca);
    const emptyPage = JSON.stringify((await deltaRound(get, changed.deltaLink, auth)).body);
    const raw = https.createServer({ key: cert.keyPem, cert: cert.certPem }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(emptyPage);
    });
    await new Promise((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const rawGet = client(ca.certPem);
    const rawTimes = [];
    for (let i = 0; i < opts.samples; i++)
      rawTimes.push((await rawGet(`https://127.0.0.1:${raw.address().port}/`)).ms);
    raw.close();

    report(NAME, {
      benchmark: NAME,
      startedAt: new Date().toISOString(),
      machine: machine(),
      devices: opts.devices,
      groups: opts.groups,
      memberships: opts.groups * ids.length,
      method:
        'In-process emulator (startEmulator) over HTTPS on 127.0.0.1, one keep-alive connection, sequential requests; times are client-side per request; membersWalked is the emulator’s own count of member ids read. The floor is a bare node:https server answering the pre-serialized empty delta page on the same kind of connection.',
      seedSeconds: round(seedMs / 1000),
      groupsSeconds: round(groupsMs / 1000),
      fullRound: {
        ...summary(full.times),
        groups: full.groups,
        members: full.members,
        membersWalked: fullWalked,
      },
      noChangeRound: { ...summary(quietTimes), membersWalked: quietWalked },
      roundAfterChanges: {
        changes: opts.changes,
        ...summary(changed.times),
        groups: changed.groups,
        members: changed.members,
        membersWalked: changedWalked,
      },
      rawHttpsFloor: { bytesPerResponse: emptyPage.length, ...summary(rawTimes) },
      noChangeOverFloorP50: round(median(quietTimes) / median(rawTimes)),
    });
  } finally {
    await emulator.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
