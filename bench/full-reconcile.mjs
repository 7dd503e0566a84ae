#!/usr/bin/env node
// Benchmark 4, full reconcile: a no-op `device-writeback sync --full` (every device compared with
// every object, nothing to change) against the raw reads of the same data: `ldapsearch` of the
// device container (the same attributes, paged) plus plain HTTPS reads of the same devices from the
// emulator (/devices/delta with the same $select, and the owners and users of the devices in scope
// through $batch). Reports the ratio of the wall times and the sync process's peak RSS.
//
// Two sizes. "equal": --ad-devices devices in the emulator and as many objects in AD. "entra":
// --devices (100,000) devices in the emulator, of which the same --ad-devices are in scope and in AD;
// the others have trustType null (out of writeback.trustTypes), so that the Entra read and the
// planner run at 100,000 while AD stays at a size Samba can be filled to within the time budget.
//
// --state postgres (or both) runs `sync --full` on a PostgreSQL state store of the benchmark's own
// server (the lab's, on a loopback address); with both, each size is measured on each store, each
// against its own interleaved raw reads (goal with PostgreSQL: <= 2.5x the raw reads at 100,000).
import { performance } from 'node:perf_hooks';
import {
  countChildren,
  createLogger,
  dist,
  flags,
  ldapTool,
  machine,
  median,
  report,
  round,
  startDeviceLab,
  startEmulator,
  startPostgresLab,
  statesOf,
  syncJson,
  workspace,
  writeConfig,
} from './lib/lab.mjs';
import { graphClient, rawGraphRead } from './lib/graph.mjs';

const NAME = 'full-reconcile';
const log = createLogger(NAME);
const opts = flags(
  { devices: 100_000, samples: 3, adDevices: 3000, state: 'sqlite' },
  { 'ad-devices': { type: 'string' }, state: { type: 'string' } },
);
opts.adDevices = Number(opts['ad-devices'] ?? opts.adDevices);
const states = statesOf(opts.state);

async function measureSize(
  ws,
  { label, state, dc, passwordFile, emulator, config, containerDn, expectUnchanged, inScope },
) {
  const { DEVICE_ATTRIBUTES: MANAGED_ATTRIBUTES } = await dist('ad/device-attributes.js');
  const attributes = ['cn', 'objectGUID', ...MANAGED_ATTRIBUTES];
  const client = graphClient(emulator);
  const product = [];
  const raw = [];
  try {
    // Warm-up: the first full pass after a change of size records the new devices in the state store.
    await syncJson(ws, config, ['--full']);
    for (let i = 0; i < opts.samples; i++) {
      const order = i % 2 === 0 ? ['product', 'raw'] : ['raw', 'product'];
      for (const side of order) {
        if (side === 'product') {
          const run = await syncJson(ws, config, ['--full']);
          const s = run.summary;
          if (s.created + s.updated + s.deleted !== 0 || s.unchanged !== expectUnchanged) {
            throw new Error(
              `${label}: the full pass was not a no-op: ${JSON.stringify({ ...s, errors: s.errors.length })}`,
            );
          }
          product.push({ wallMs: run.wallMs, engineMs: s.durationMs, maxRssKb: run.maxRssKb });
        } else {
          const ldap = await ldapTool(
            'ldapsearch',
            dc,
            passwordFile,
            [
              '-LLL',
              '-o',
              'ldif-wrap=no',
              '-E',
              'pr=1000/noprompt',
              '-b',
              containerDn,
              '-s',
              'one',
              '(objectClass=*)',
              ...attributes,
            ],
            { discardStdout: true },
          );
          client.forgetToken();
          const t = performance.now();
          const graph = await rawGraphRead(client, emulator, { inScope });
          const graphMs = performance.now() - t;
          raw.push({ ldapsearchMs: ldap.wallMs, httpMs: graphMs, graph });
        }
      }
    }
  } finally {
    client.close();
  }
  const productWall = median(product.map((p) => p.wallMs));
  const productEngine = median(product.map((p) => p.engineMs));
  const rawTotal = median(raw.map((r) => r.ldapsearchMs + r.httpMs));
  const peakRssKb = Math.max(...product.map((p) => p.maxRssKb ?? 0));
  const g = raw[0]?.graph;
  const row = {
    label,
    state,
    devicesInEmulator: emulator.store.counts().active,
    objectsInAd: expectUnchanged,
    product: {
      wallSecondsMedian: round(productWall / 1000),
      engineSecondsMedian: round(productEngine / 1000),
      peakRssMB: round(peakRssKb / 1024, 1),
      samples: product.map((p) => round(p.wallMs / 1000)),
    },
    raw: {
      totalSecondsMedian: round(rawTotal / 1000),
      ldapsearchSecondsMedian: round(median(raw.map((r) => r.ldapsearchMs)) / 1000),
      httpSecondsMedian: round(median(raw.map((r) => r.httpMs)) / 1000),
      httpRead: g
        ? {
            devices: g.devices,
            pages: g.pages,
            devicesWithRelationsRead: g.relationsRead,
            batches: g.batches,
          }
        : null,
    },
    ratio: round(productWall / rawTotal, 2),
    ratioEngineOnly: round(productEngine / rawTotal, 2),
  };
  log(
    `${label} (${state}): sync --full ${row.product.wallSecondsMedian} s (engine ${row.product.engineSecondsMedian} s, peak RSS ${row.product.peakRssMB} MB) vs raw ${row.raw.totalSecondsMedian} s → ratio ${row.ratio}`,
  );
  return row;
}

async function main() {
  const ws = workspace(NAME);
  const startedAt = new Date().toISOString();
  const host = machine();
  try {
    const { seededDevices } = await dist('emulator/seed.js');
    const { dc, passwordFile, conn, containerDn } = await startDeviceLab(ws, log);
    const seedOptions = { domainSid: dc.domainSid };
    const emulator = await startEmulator(ws, { ...seedOptions, devices: opts.adDevices });
    const postgres = states.includes('postgres') ? await startPostgresLab(ws, log) : undefined;
    const configs = {};
    for (const state of states) {
      const postgresUrl =
        state === 'postgres' ? (await postgres.createDatabase({ prefix: 'full_reconcile' })).url : undefined;
      configs[state] = writeConfig(ws, { name: `product-${state}`, dc, emulator, postgresUrl });
    }
    const config = configs[states[0]];
    log(`filling AD with ${opts.adDevices} objects (the product's first sync) …`);
    const fill = await syncJson(ws, config);
    const objects = await countChildren(conn, containerDn);
    log(`  ${objects} objects written in ${(fill.wallMs / 1000).toFixed(1)} s`);
    const inScope = (d) => d.trustType !== null;
    const sizes = [];
    // Each size is measured with each state store, one after the other.
    const measureWithEachStore = async (label) => {
      for (const state of states)
        sizes.push(
          await measureSize(ws, {
            label,
            state,
            dc,
            passwordFile,
            emulator,
            config: configs[state],
            containerDn,
            expectUnchanged: objects,
            inScope,
          }),
        );
    };
    await measureWithEachStore('equal');
    if (opts.devices > opts.adDevices) {
      const grow = performance.now();
      // One batch: the devices' certificates are issued in parallel (see CloudDrs.deviceKeys).
      for (const { device } of seededDevices(emulator.store.counts().active, opts.devices, seedOptions))
        emulator.store.createDevice({ ...device, trustType: null });
      log(`emulator grown to ${opts.devices} devices in ${((performance.now() - grow) / 1000).toFixed(1)} s`);
      await measureWithEachStore('entra');
    }
    const largest = sizes.filter((r) => r.state === states[0]).pop();
    const pgLargest = sizes.filter((r) => r.state === 'postgres').pop();
    report(NAME, {
      benchmark: NAME,
      startedAt,
      machine: host,
      method:
        'Median of --samples no-op `sync --full` runs (spawned CLI, wall time including start-up, token and discovery; peak RSS from /usr/bin/time) against the median of raw reads of the same data, interleaved: ldapsearch -E pr=1000 of the container with the attributes the engine reads, plus node:https reads of /devices/delta (same $select, 999 per page) and $batch owners/users of the in-scope devices. One warm-up full pass per size is not measured.',
      adNote: `AD holds ${opts.adDevices} objects in both sizes; at ${opts.devices} the other devices are out of writeback.trustTypes (trustType null), so the Entra read and the planner run at full size while AD is filled only to what Samba can take within the time budget.`,
      states,
      sizes,
      ...(pgLargest
        ? {
            postgresGoal: {
              ratioAtMost: 2.5,
              atDevices: pgLargest.devicesInEmulator,
              ratio: pgLargest.ratio,
              met: pgLargest.ratio <= 2.5,
              note: '`sync --full` with PostgreSQL state against the raw reads, at the largest size',
            },
          }
        : {}),
      goals: {
        ratioAtMost: 2,
        ratioMet: sizes.filter((s) => s.state === 'sqlite').every((s) => s.ratio <= 2),
        peakRssBelowMB: 256,
        peakRssMet: largest ? largest.product.peakRssMB < 256 : null,
        peakRssMeasuredAtDevices: largest?.devicesInEmulator,
      },
      finishedAt: new Date().toISOString(),
    });
  } finally {
    await ws.cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`${NAME} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
