#!/usr/bin/env node
// Benchmark 1, initial writeback: N devices from the emulator into an empty device container by
// `device-writeback sync`, against `ldapadd` of the same objects (LDIF computed from the same data
// by the product's own attribute flow) into another empty container of the same DC.
//
// Samba slows down as its database grows, so the two are interleaved fairly: the devices arrive in
// chunks (the emulator grows by one chunk per round), and each round runs `sync` for the new chunk
// and `ldapadd` for the same chunk, in ABBA order (product first in rounds 1 and 4, ldapadd first in
// rounds 2 and 3, and so on), so that the directory is the same size for both sides on average. The
// first round is a full pass, the others delta passes, as in a tenant that grows.
//
// With --sweep true, first, on a fresh DC for each value, one full pass of --sweep-devices devices
// per writeback.concurrency value (1, 2, 4, 8), and one ldapadd of the same objects for reference;
// the comparison then runs with the value the DC liked best (or --concurrency). By default the
// comparison runs with the product's default writeback.concurrency (chosen by earlier sweeps), so
// that the whole suite fits its time budget.
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  adminConnection,
  countChildren,
  createDeviceContainer,
  createLogger,
  deviceLdif,
  dist,
  flags,
  ldapTool,
  machine,
  report,
  round,
  schemaOf,
  startDc,
  startEmulator,
  syncJson,
  template,
  workspace,
  writeConfig,
} from './lib/lab.mjs';

const NAME = 'initial-writeback';
const log = createLogger(NAME);
const opts = flags(
  { devices: 10_000, samples: 4, sweepDevices: 300, concurrency: '', sweep: 'false' },
  { 'sweep-devices': { type: 'string' }, concurrency: { type: 'string' }, sweep: { type: 'string' } },
);
opts.sweepDevices = Number(opts['sweep-devices'] ?? opts.sweepDevices);
const rounds = Math.max(1, opts.samples);

async function verifySameObjects(conn, productDn, ldapaddDn, sample = 25) {
  // The same objects on both sides: compare every attribute the product writes, for a sample.
  const { DEVICE_ATTRIBUTES: MANAGED_ATTRIBUTES } = await dist('ad/device-attributes.js');
  const { bufs, str } = await dist('ad/connection.js');
  const { childDn } = await dist('ad/dn.js');
  const all = await conn.search(productDn, {
    scope: 'one',
    filter: '(objectClass=msDS-Device)',
    attributes: ['cn', ...MANAGED_ATTRIBUTES],
  });
  const a = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / sample)) === 0).slice(0, sample);
  let compared = 0;
  for (const entry of a) {
    const cn = str(entry, 'cn') ?? '';
    const twin = await conn.read(childDn('CN', cn, ldapaddDn), MANAGED_ATTRIBUTES);
    if (!twin) return { ok: false, why: `CN=${cn} is missing in ${ldapaddDn}` };
    for (const attribute of MANAGED_ATTRIBUTES) {
      const x = bufs(entry, attribute)
        .map((b) => b.toString('hex'))
        .sort()
        .join(',');
      const y = bufs(twin, attribute)
        .map((b) => b.toString('hex'))
        .sort()
        .join(',');
      if (x !== y) return { ok: false, why: `CN=${cn}: ${attribute} differs` };
    }
    compared++;
  }
  return { ok: compared > 0, compared };
}

/**
 * One full pass of --sweep-devices devices per writeback.concurrency value, each on a fresh DC (so
 * that every value starts from the same empty directory), plus ldapadd of the same objects; twice,
 * the second time in reverse order, so that a busy moment of the machine does not decide alone.
 */
async function concurrencySweep(ws, tpl) {
  const sweepEmulator = await startEmulator(ws, { domainSid: tpl.domainSid, devices: opts.sweepDevices });
  const values = ['ldapadd', 1, 2, 4, 8];
  const seconds = new Map(values.map((v) => [v, []]));
  for (const order of [values, [...values].reverse()]) {
    for (const concurrency of order) {
      const lab = await startDc(ws, tpl, `sweep-${concurrency}`);
      const c = await adminConnection(ws, lab.dc);
      const dn = `CN=RegisteredDevices,${lab.dc.forest.domainDn}`;
      await createDeviceContainer(c, dn);
      let took;
      if (concurrency === 'ldapadd') {
        const ldif = await deviceLdif(
          sweepEmulator.store,
          sweepEmulator.store.listDevices(),
          await schemaOf(c),
          dn,
        );
        const file = path.join(ws.dir, 'sweep.ldif');
        writeFileSync(file, ldif.text);
        took =
          (await ldapTool('ldapadd', lab.dc, lab.passwordFile, ['-f', file], { discardStdout: true }))
            .wallMs / 1000;
      } else {
        const cfg = writeConfig(ws, {
          name: `sweep-${concurrency}-${seconds.get(concurrency).length}`,
          dc: lab.dc,
          emulator: sweepEmulator,
          writeback: { concurrency },
        });
        const run = await syncJson(ws, cfg);
        took = run.wallMs / 1000;
        if (run.summary.created !== opts.sweepDevices)
          throw new Error(`sweep ${concurrency}: created ${run.summary.created}`);
      }
      seconds.get(concurrency).push(took);
      log(`sweep ${concurrency}: ${opts.sweepDevices} objects in ${took.toFixed(1)} s`);
      await c.close();
      await lab.dc.stop();
    }
  }
  await sweepEmulator.close();
  const results = values.map((concurrency) => {
    const total = seconds.get(concurrency).reduce((a, b) => a + b, 0);
    const runs = seconds.get(concurrency).length;
    return {
      concurrency,
      runs: seconds.get(concurrency).map((x) => round(x)),
      objectsPerSecond: round((opts.sweepDevices * runs) / total, 1),
    };
  });
  const best = results
    .filter((x) => x.concurrency !== 'ldapadd')
    .sort((a, b) => b.objectsPerSecond - a.objectsPerSecond)[0];
  return {
    devices: opts.sweepDevices,
    method:
      'one full `sync` (spawned CLI) into the empty container of a fresh DC per value, and one ldapadd of the same objects on a fresh DC; the whole series twice (second time in reverse order); objects/s over both runs',
    results,
    best: best?.concurrency,
  };
}

async function main() {
  const ws = workspace(NAME);
  try {
    const tpl = await template(ws, log);
    const result = {
      benchmark: NAME,
      startedAt: new Date().toISOString(),
      machine: machine(),
      devices: opts.devices,
      rounds,
      method:
        "The emulator grows by one chunk per round; each round runs `device-writeback sync` (spawned CLI; round 1 full, then delta) for the new chunk into CN=RegisteredDevices and `ldapadd` of the same objects (LDIF from the same data through the product's attribute flow) into CN=RegisteredDevices-ldapadd of the same DC, in ABBA order (product first in rounds 1 and 4, ldapadd in 2 and 3). Both bind as Administrator over LDAPS. objects/s = objects / summed wall time of the processes.",
    };

    // --- writeback.concurrency: which value this DC likes best --------------------------------
    let concurrency = opts.concurrency ? Number(opts.concurrency) : undefined;
    if (opts.sweep !== 'false' && opts.sweepDevices > 0) {
      result.concurrencySweep = await concurrencySweep(ws, tpl);
      concurrency ??= result.concurrencySweep.best;
    }

    // --- the comparison ----------------------------------------------------------------------
    const { dc, passwordFile } = await startDc(ws, tpl);
    const conn = await adminConnection(ws, dc);
    const productDn = `CN=RegisteredDevices,${dc.forest.domainDn}`;
    const ldapaddDn = `CN=RegisteredDevices-ldapadd,${dc.forest.domainDn}`;
    await createDeviceContainer(conn, productDn);
    await createDeviceContainer(conn, ldapaddDn);
    const schema = await schemaOf(conn);
    const emulator = await startEmulator(ws, { domainSid: dc.domainSid });
    const writeback = concurrency ? { concurrency } : {};
    const config = writeConfig(ws, { name: 'product', dc, emulator, writeback });
    const chunk = Math.ceil(opts.devices / rounds);
    const roundsOut = [];
    let productMs = 0;
    let productEngineMs = 0;
    let ldapaddMs = 0;
    let productObjects = 0;
    let ldapaddObjects = 0;
    let productPeakRssKb = 0;
    for (let r = 0; r < rounds; r++) {
      const from = r * chunk;
      const to = Math.min(opts.devices, from + chunk);
      if (to <= from) break;
      emulator.store.seed(to, { domainSid: dc.domainSid });
      const devices = emulator.store.listDevices().slice(from, to);
      const ldif = await deviceLdif(emulator.store, devices, schema, ldapaddDn);
      const ldifFile = path.join(ws.dir, `round-${r}.ldif`);
      writeFileSync(ldifFile, ldif.text);
      // ABBA: product first in rounds 1 and 4 (5 and 8, …), ldapadd first in rounds 2 and 3, so that
      // the directory's growth costs both sides the same (a plain alternation leaves the product
      // second in the last, largest round).
      const order = r % 4 === 0 || r % 4 === 3 ? ['product', 'ldapadd'] : ['ldapadd', 'product'];
      const row = { round: r + 1, devices: to - from, first: order[0] };
      for (const side of order) {
        if (side === 'product') {
          const run = await syncJson(ws, config);
          const written = run.summary.created;
          if (written !== to - from)
            throw new Error(
              `round ${r + 1}: sync created ${written}, expected ${to - from} (quarantined ${run.summary.quarantined})`,
            );
          productMs += run.wallMs;
          productEngineMs += run.summary.durationMs;
          productObjects += written;
          productPeakRssKb = Math.max(productPeakRssKb, run.maxRssKb ?? 0);
          row.productMs = Math.round(run.wallMs);
          row.productEngineMs = run.summary.durationMs;
          row.productMode = run.summary.mode;
        } else {
          const run = await ldapTool('ldapadd', dc, passwordFile, ['-f', ldifFile], { discardStdout: true });
          ldapaddMs += run.wallMs;
          ldapaddObjects += ldif.count;
          row.ldapaddMs = Math.round(run.wallMs);
        }
      }
      roundsOut.push(row);
      log(
        `round ${r + 1}/${rounds}: ${to - from} devices — sync ${row.productMs} ms (engine ${row.productEngineMs} ms), ldapadd ${row.ldapaddMs} ms`,
      );
    }
    const inProduct = await countChildren(conn, productDn);
    const inLdapadd = await countChildren(conn, ldapaddDn);
    const verified = await verifySameObjects(conn, productDn, ldapaddDn);
    const productRate = productObjects / (productMs / 1000);
    const productEngineRate = productObjects / (productEngineMs / 1000);
    const ldapaddRate = ldapaddObjects / (ldapaddMs / 1000);
    Object.assign(result, {
      concurrency: concurrency
        ? `${concurrency} (${opts.concurrency ? '--concurrency' : 'the best value of the sweep above'})`
        : 'the default of writeback.concurrency',
      product: {
        objects: productObjects,
        seconds: round(productMs / 1000),
        objectsPerSecond: round(productRate, 1),
        engineSeconds: round(productEngineMs / 1000),
        engineObjectsPerSecond: round(productEngineRate, 1),
        peakRssMB: round(productPeakRssKb / 1024, 1),
      },
      ldapadd: {
        objects: ldapaddObjects,
        seconds: round(ldapaddMs / 1000),
        objectsPerSecond: round(ldapaddRate, 1),
      },
      ratio: round(productRate / ldapaddRate, 3),
      ratioEngineOnly: round(productEngineRate / ldapaddRate, 3),
      goal: { ratioAtLeast: 0.9, met: productRate / ldapaddRate >= 0.9 },
      check: {
        objectsInProductContainer: inProduct,
        objectsInLdapaddContainer: inLdapadd,
        sameAttributeValues: verified,
      },
      rounds: roundsOut,
    });
    await conn.close();
    await dc.stop();
    await emulator.close();

    result.finishedAt = new Date().toISOString();
    report(NAME, result);
  } finally {
    await ws.cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
