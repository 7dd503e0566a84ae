// `device-writeback devices`: the msDS-Device objects in the device container, managed or not
// (with several forests, in each forest's container); `--all` adds the devices known in Entra ID but
// not written, each with why (out of scope and the rule, unrouted, quarantined and the error, or
// pending).
import type { Command } from 'commander';
import { locateDeviceContainer } from '../ad/device-container.js';
import { listContainer, type ContainerDevice } from '../ad/inventory.js';
import { openConnectorSession } from '../ad/settings.js';
import { forestsNamed } from '../config/forests.js';
import { openStateStore } from '../state/open.js';
import { notWrittenDevices, type NotWritten, type NotWrittenDevice } from '../sync/not-written.js';
import { escapeUnsafe } from '../util/safe-text.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';
import { ageText } from './status.js';

interface DevicesFlags extends GlobalOptions {
  search?: string;
  all?: boolean;
  forest?: string;
}

interface Row extends Omit<ContainerDevice, 'dn'> {
  /** The object's DN; null for a device that is not written. */
  dn: string | null;
  forest?: string;
  lastSync: string | null;
}

/** `--search` over what the state store knows: display name, deviceId or OS, case-insensitive. */
function matches(d: NotWrittenDevice, search: string | undefined): boolean {
  if (!search) return true;
  const needle = search.toLowerCase();
  return [d.displayName, d.deviceId, d.osType].some((v) => v?.toLowerCase().includes(needle));
}

/**
 * The rows of devices not written, in the shape of the AD rows (SPEC §3) plus why: `notWritten`
 * the reason in words (as with several forests before scope rules), `notWrittenKind` and
 * `notWrittenRule` the same for scripts.
 */
function notWrittenRows(devices: NotWrittenDevice[], several: boolean): Record<string, unknown>[] {
  return devices.map((d) => ({
    dn: null,
    deviceId: d.deviceId,
    displayName: d.displayName,
    enabled: d.enabled,
    osType: d.osType,
    osVersion: d.osVersion,
    managed: false,
    ...(several ? { forest: d.forest ?? null } : {}),
    lastSync: null,
    written: false,
    graphId: d.graphId,
    trustType: d.trustType,
    notWritten: d.why.reason,
    notWrittenKind: d.why.kind,
    notWrittenRule: d.why.rule,
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
      'also list the devices known in Entra ID but not written, each with why (out of scope, unrouted, quarantined, pending)',
    )
    .option('--forest <name>', 'with several forests: only this forest (default: every forest)');
  withCommonOptions(command, { json: true });
  command.action(
    action<DevicesFlags>(async (opts) => {
      const config = readConfig(opts);
      const forests = forestsNamed(config, opts.forest);
      const several = config.severalForests;
      const store = await openStateStore(config, { writer: false });
      try {
        const rows: Row[] = [];
        const containers: string[] = [];
        for (const forest of forests) {
          const conn = await openConnectorSession(forest.ad);
          try {
            const target = await locateDeviceContainer(conn, forest.ad);
            containers.push(several ? `${target.containerDn} (forest ${forest.name})` : target.containerDn);
            const devices = await listContainer(conn, target.containerDn, opts.search);
            const synced = await store.lastSyncTimes(
              forest.name,
              devices.map((d) => d.deviceId ?? '').filter(Boolean),
            );
            for (const d of devices) {
              rows.push({
                ...d,
                ...(several ? { forest: forest.name } : {}),
                lastSync: d.managed && d.deviceId ? (synced.get(d.deviceId) ?? null) : null,
              });
            }
          } finally {
            await conn.close();
          }
        }
        const inAd = new Set(
          rows.flatMap((d) => (d.managed && d.deviceId ? [d.deviceId.toLowerCase()] : [])),
        );
        const notWritten = opts.all
          ? (await notWrittenDevices(store, inAd)).filter(
              (d) =>
                matches(d, opts.search) &&
                // --forest: the devices that would go there, and those that go nowhere.
                (!opts.forest || !d.forest || d.forest === opts.forest),
            )
          : [];
        if (opts.json) {
          outJson(
            opts.all
              ? [...rows.map((r) => ({ ...r, written: r.managed })), ...notWrittenRows(notWritten, several)]
              : rows,
          );
          return 0;
        }
        out(
          `${containers.join(', ')}: ${rows.length} device${rows.length === 1 ? '' : 's'}${opts.search ? ` matching "${opts.search}"` : ''}`,
        );
        if (rows.length > 0) {
          const headers = ['DISPLAY NAME', 'DEVICE ID', 'ENABLED', 'OS', 'MANAGED', 'LAST SYNC'];
          if (several) headers.splice(1, 0, 'FOREST');
          printTable([
            headers,
            ...rows.map((r) => {
              const cells = [
                r.displayName ?? '',
                r.deviceId ?? '(none)',
                r.enabled === null ? '?' : r.enabled ? 'yes' : 'no',
                [r.osType, r.osVersion].filter(Boolean).join(' '),
                r.managed ? 'yes' : 'no (left alone)',
                r.lastSync ? ageText(r.lastSync) : '',
              ];
              if (several) cells.splice(1, 0, r.forest ?? '');
              return cells;
            }),
          ]);
        }
        if (opts.all) printNotWritten(notWritten, several);
        return 0;
      } finally {
        await store.close();
      }
    }),
  );
}

/**
 * Prints a table. Cells are escaped before the columns are measured (out() would escape them
 * anyway), so that a name holding control characters neither breaks the row nor its alignment; the
 * last column is never cut when `keepLast` (a reason).
 */
function printTable(table: string[][], keepLast = false): void {
  const cells = table.map((row) => row.map((c) => escapeUnsafe(c, { singleLine: true })));
  const widths = cells[0]!.map((_, i) => Math.min(40, Math.max(...cells.map((row) => row[i]!.length))));
  for (const row of cells)
    out(
      row
        .map((c, i) =>
          keepLast && i === row.length - 1
            ? c
            : c.length > widths[i]!
              ? `${c.slice(0, widths[i]! - 1)}…`
              : c.padEnd(widths[i]!),
        )
        .join('  ')
        .trimEnd(),
    );
}

function printNotWritten(devices: NotWrittenDevice[], several: boolean): void {
  const count = (kind: NotWritten['kind']): number => devices.filter((d) => d.why.kind === kind).length;
  const parts = [
    `${count('out-of-scope')} out of scope`,
    `${count('quarantined')} quarantined`,
    ...(count('unrouted') > 0 ? [`${count('unrouted')} unrouted`] : []),
    `${count('pending')} pending`,
  ];
  out('');
  out(`Known in Entra ID, not written: ${devices.length} (${parts.join(', ')})`);
  if (devices.length === 0) return;
  const headers = ['DISPLAY NAME', 'DEVICE ID', 'OS', 'WHY NOT WRITTEN'];
  if (several) headers.splice(1, 0, 'FOREST');
  printTable(
    [
      headers,
      ...devices.map((d) => {
        const cells = [
          d.displayName ?? '',
          d.deviceId ?? '(none)',
          [d.osType, d.osVersion].filter(Boolean).join(' '),
          d.why.reason,
        ];
        // The forest it would go to (in scope, not written yet), or none.
        if (several) cells.splice(1, 0, d.forest ?? '—');
        return cells;
      }),
    ],
    true,
  );
}
