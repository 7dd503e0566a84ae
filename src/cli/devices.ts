// `device-writeback devices`: the msDS-Device objects in the device container, managed or not
// (with several forests, in each forest's container); `--all` adds the devices known in Entra ID but
// not written, each with the reason (out of scope, unrouted, quarantined).
import type { Command } from 'commander';
import { locateDeviceContainer } from '../ad/device-container.js';
import { listContainer, type ContainerDevice } from '../ad/inventory.js';
import { openConnectorSession } from '../ad/settings.js';
import { forestsNamed } from '../config/forests.js';
import { openStateStore } from '../state/open.js';
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
  /** --all: why a device known in Entra ID is not written. */
  notWritten?: string;
}

export function register(program: Command): void {
  const command = program
    .command('devices')
    .description(
      'list the devices in the AD device container, managed (written by device-writeback) or not, with their last sync',
    )
    .option('--search <text>', 'only devices whose display name, deviceId or OS contains this text')
    .option('--all', 'also the devices known in Entra ID but not written, each with the reason')
    .option('--forest <name>', 'with several forests: only this forest (default: every forest)');
  withCommonOptions(command, { json: true });
  command.action(
    action<DevicesFlags>(async (opts) => {
      const config = readConfig(opts);
      const forests = forestsNamed(config, opts.forest);
      const store = await openStateStore(config, { writer: false });
      try {
        const rows: Row[] = [];
        const containers: string[] = [];
        for (const forest of forests) {
          const conn = await openConnectorSession(forest.ad);
          try {
            const target = await locateDeviceContainer(conn, forest.ad);
            containers.push(
              config.severalForests ? `${target.containerDn} (forest ${forest.name})` : target.containerDn,
            );
            const devices = await listContainer(conn, target.containerDn, opts.search);
            const synced = await store.lastSyncTimes(
              forest.name,
              devices.map((d) => d.deviceId ?? '').filter(Boolean),
            );
            for (const d of devices) {
              rows.push({
                ...d,
                ...(config.severalForests ? { forest: forest.name } : {}),
                lastSync: d.managed && d.deviceId ? (synced.get(d.deviceId) ?? null) : null,
              });
            }
          } finally {
            await conn.close();
          }
        }
        let notWritten = 0;
        if (opts.all) {
          const needle = opts.search?.toLowerCase();
          for (const d of await store.notWrittenDevices()) {
            const text = [d.displayName, d.deviceId, d.osType].join(' ').toLowerCase();
            if (needle && !text.includes(needle)) continue;
            notWritten++;
            rows.push({
              dn: null,
              deviceId: d.deviceId,
              displayName: d.displayName,
              enabled: d.enabled,
              osType: d.osType,
              osVersion: d.osVersion,
              managed: false,
              ...(config.severalForests ? { forest: d.forest ?? '' } : {}),
              lastSync: null,
              notWritten: d.reason,
            });
          }
          for (const q of await store.quarantined()) {
            if (rows.some((r) => r.deviceId && r.deviceId === q.deviceId)) continue;
            if (needle && ![q.displayName, q.deviceId].join(' ').toLowerCase().includes(needle)) continue;
            notWritten++;
            rows.push({
              dn: null,
              deviceId: q.deviceId,
              displayName: q.displayName,
              enabled: null,
              osType: null,
              osVersion: null,
              managed: false,
              ...(config.severalForests ? { forest: q.forest ?? '' } : {}),
              lastSync: null,
              notWritten: `quarantined: ${q.code}: ${q.message}`,
            });
          }
        }
        if (opts.json) {
          outJson(rows);
          return 0;
        }
        const written = rows.length - notWritten;
        out(
          `${containers.join(', ')}: ${written} device${written === 1 ? '' : 's'}${opts.search ? ` matching "${opts.search}"` : ''}${opts.all ? `; ${notWritten} known in Entra ID but not written` : ''}`,
        );
        if (rows.length === 0) return 0;
        // Cells are escaped before the columns are measured (out() would escape them anyway), so
        // that a name holding control characters neither breaks the row nor its alignment.
        const cell = (text: string): string => escapeUnsafe(text, { singleLine: true });
        const headers = ['DISPLAY NAME', 'DEVICE ID', 'ENABLED', 'OS', 'MANAGED', 'LAST SYNC'];
        if (config.severalForests) headers.splice(1, 0, 'FOREST');
        const table = [
          headers,
          ...rows.map((r) => {
            const cells = [
              cell(r.displayName ?? ''),
              cell(r.deviceId ?? '(none)'),
              r.enabled === null ? '?' : r.enabled ? 'yes' : 'no',
              cell([r.osType, r.osVersion].filter(Boolean).join(' ')),
              r.notWritten ? `not written: ${r.notWritten}` : r.managed ? 'yes' : 'no (left alone)',
              r.lastSync ? ageText(r.lastSync) : '',
            ];
            if (config.severalForests) cells.splice(1, 0, r.forest ?? '');
            return cells;
          }),
        ];
        const widths = table[0]!.map((_, i) =>
          Math.min(
            i === table[0]!.indexOf('MANAGED') ? 90 : 40,
            Math.max(...table.map((row) => row[i]!.length)),
          ),
        );
        for (const row of table)
          out(
            row
              .map((c, i) =>
                c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!),
              )
              .join('  ')
              .trimEnd(),
          );
        return 0;
      } finally {
        await store.close();
      }
    }),
  );
}
