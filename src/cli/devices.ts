// `device-writeback devices`: the msDS-Device objects in the device container, managed or not.
import type { Command } from 'commander';
import { locateDeviceContainer } from '../ad/device-container.js';
import { listContainer } from '../ad/inventory.js';
import { openConnectorSession } from '../ad/settings.js';
import { openStateStore, refusePostgres } from '../state/open.js';
import type { StateStore } from '../state/store.js';
import { escapeUnsafe } from '../util/safe-text.js';
import { action, out, outJson, readConfig, withCommonOptions, type GlobalOptions } from './context.js';
import { ageText } from './status.js';

interface DevicesFlags extends GlobalOptions {
  search?: string;
}

export function register(program: Command): void {
  const command = program
    .command('devices')
    .description(
      'list the devices in the AD device container, managed (written by device-writeback) or not, with their last sync',
    )
    .option('--search <text>', 'only devices whose display name, deviceId or OS contains this text');
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
        if (opts.json) {
          outJson(rows);
          return 0;
        }
        out(
          `${target.containerDn}: ${rows.length} device${rows.length === 1 ? '' : 's'}${opts.search ? ` matching "${opts.search}"` : ''}`,
        );
        if (rows.length === 0) return 0;
        // Cells are escaped before the columns are measured (out() would escape them anyway), so
        // that a name holding control characters neither breaks the row nor its alignment.
        const cell = (text: string): string => escapeUnsafe(text, { singleLine: true });
        const table = [
          ['DISPLAY NAME', 'DEVICE ID', 'ENABLED', 'OS', 'MANAGED', 'LAST SYNC'],
          ...rows.map((r) => [
            cell(r.displayName ?? ''),
            cell(r.deviceId ?? '(none)'),
            r.enabled === null ? '?' : r.enabled ? 'yes' : 'no',
            cell([r.osType, r.osVersion].filter(Boolean).join(' ')),
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
        return 0;
      } finally {
        await store?.close();
        await conn.close();
      }
    }),
  );
}
