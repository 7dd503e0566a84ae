// `device-writeback devices`: the msDS-Device objects in the device container, managed or not; with
// --all also the devices known in Entra ID but not written, each with why (out of scope and the
// rule, quarantined and the error, unrouted, or pending).
import type { Command } from 'commander';
import { locateDeviceContainer } from '../ad/device-container.js';
import { listContainer } from '../ad/inventory.js';
import { openConnectorSession } from '../ad/settings.js';
import { openStateStore, refusePostgres } from '../state/open.js';
import type { StateStore } from '../state/store.js';
import { notWrittenDevices, type NotWrittenDevice } from '../sync/not-written.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';
import { ageText } from './status.js';

interface DevicesFlags extends GlobalOptions {
  search?: string;
  all?: boolean;
}

/** `--search` over what the state store knows: display name, deviceId or OS, case-insensitive. */
function matches(d: NotWrittenDevice, search: string | undefined): boolean {
  if (!search) return true;
  const needle = search.toLowerCase();
  return [d.displayName, d.deviceId, d.osType].some((v) => v?.toLowerCase().includes(needle));
}

/** The rows of devices not written, in the shape of the AD rows (SPEC §3) plus why. */
function notWrittenRows(devices: NotWrittenDevice[]): Record<string, unknown>[] {
  return devices.map((d) => ({
    dn: null,
    deviceId: d.deviceId,
    displayName: d.displayName,
    enabled: d.enabled,
    osType: d.osType,
    osVersion: d.osVersion,
    managed: false,
    lastSync: null,
    written: false,
    graphId: d.graphId,
    trustType: d.trustType,
    notWritten: d.why,
  }));
}

export function register(program: Command): void {
  const command = program
    .command('devices')
    .description(
      'list the devices in the AD device container, managed (written by device-writeback) or not, with their last sync',
    )
    .option('--search <text>', 'only devices whose display name, deviceId or OS contains this text')
    .option(
      '--all',
      'also list the devices known in Entra ID but not written, each with why (out of scope, quarantined, pending)',
    );
  withCommonOptions(command, { json: true });
  command.action(
    action<DevicesFlags>(async (opts) => {
      const config = readConfig(opts);
      refusePostgres(config);
      const conn = await openConnectorSession(config.ad);
      let store: StateStore | undefined;
      try {
        const target = await locateDeviceContainer(conn, config.ad);
        const devices = await listContainer(conn, target.containerDn, opts.search);
        store = await openStateStore(config, { writer: false });
        const synced = await store.lastSyncTimes(devices.map((d) => d.deviceId ?? '').filter(Boolean));
        const rows = devices.map((d) => ({
          ...d,
          lastSync: d.managed && d.deviceId ? (synced.get(d.deviceId) ?? null) : null,
        }));
        const inAd = new Set(
          devices.flatMap((d) => (d.managed && d.deviceId ? [d.deviceId.toLowerCase()] : [])),
        );
        const notWritten = opts.all
          ? (await notWrittenDevices(store, inAd)).filter((d) => matches(d, opts.search))
          : [];
        if (opts.json) {
          outJson(
            opts.all
              ? [...rows.map((r) => ({ ...r, written: r.managed })), ...notWrittenRows(notWritten)]
              : rows,
          );
          return 0;
        }
        out(
          `${target.containerDn}: ${rows.length} device${rows.length === 1 ? '' : 's'}${opts.search ? ` matching "${opts.search}"` : ''}`,
        );
        if (rows.length === 0) {
          if (opts.all) printNotWritten(notWritten);
          return 0;
        }
        const table = [
          ['DISPLAY NAME', 'DEVICE ID', 'ENABLED', 'OS', 'MANAGED', 'LAST SYNC'],
          ...rows.map((r) => [
            r.displayName ?? '',
            r.deviceId ?? '(none)',
            r.enabled === null ? '?' : r.enabled ? 'yes' : 'no',
            [r.osType, r.osVersion].filter(Boolean).join(' '),
            r.managed ? 'yes' : 'no (left alone)',
            r.lastSync ? ageText(r.lastSync) : '',
          ]),
        ];
        const widths = table[0]!.map((_, i) => Math.min(40, Math.max(...table.map((row) => row[i]!.length))));
        for (const row of table)
          out(
            row
              .map((c, i) =>
                c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!),
              )
              .join('  ')
              .trimEnd(),
          );
        if (opts.all) printNotWritten(notWritten);
        return 0;
      } finally {
        await store?.close();
        await conn.close();
      }
    }),
  );
}

function printNotWritten(devices: NotWrittenDevice[]): void {
  const count = (kind: NotWrittenDevice['why']['kind']): number =>
    devices.filter((d) => d.why.kind === kind).length;
  const parts = [
    `${count('out-of-scope')} out of scope`,
    `${count('quarantined')} quarantined`,
    ...(count('unrouted') > 0 ? [`${count('unrouted')} unrouted`] : []),
    `${count('pending')} pending`,
  ];
  out('');
  out(`Known in Entra ID, not written: ${devices.length} (${parts.join(', ')})`);
  if (devices.length === 0) return;
  const table = [
    ['DISPLAY NAME', 'DEVICE ID', 'OS', 'WHY NOT WRITTEN'],
    ...devices.map((d) => [
      d.displayName ?? '',
      d.deviceId ?? '(none)',
      [d.osType, d.osVersion].filter(Boolean).join(' '),
      d.why.reason,
    ]),
  ];
  // The last column (the reason) is never cut.
  const widths = table[0]!.map((_, i) => Math.min(40, Math.max(...table.map((row) => row[i]!.length))));
  for (const row of table)
    out(
      row
        .map((c, i) =>
          i === row.length - 1
            ? c
            : c.length > widths[i]!
              ? `${c.slice(0, widths[i]! - 1)}…`
              : c.padEnd(widths[i]!),
        )
        .join('  ')
        .trimEnd(),
    );
}
