// `device-writeback demo --forests 2` end to end, as a newcomer runs it: two throwaway Samba forests,
// the emulator with owners in both and cloud-only ones, the real commands, and nothing left behind.
// (A file of its own, so that it runs beside the single-forest demo.)
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { addressReleased, processesMentioning } from '../support/samba.js';

describe('device-writeback demo --forests 2', () => {
  it(
    "--forests 2: two forests, each device in its owner's forest, a move, and nothing left behind",
    { timeout: 240_000 },
    async () => {
      const result: CliResult = await runCli(['demo', '--forests', '2']);
      const out = result.stdout;
      expect(result.code, `exit ${result.code}\n${out}\n${result.stderr}`).toBe(0);
      expect([...out.matchAll(/^\[(\d+)\/12\]/gm)].map((m) => Number(m[1]))).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
      ]);
      expect(out).toMatch(
        /✔ corp\.example\.test \(domain SID S-1-5-21-[\d-]+\) and fabrikam\.example\.test \(domain SID S-1-5-21-[\d-]+\)/,
      );
      expect(out).toMatch(/│ forests:\n\s+│ {3}- name: corp\n/);
      expect(out).toMatch(/│\s+forest corp\n/);
      expect(out).toMatch(/│\s+forest fabrikam\n/);
      // init-ad prepares both, each with its own admin; then every check passes in both
      expect(out).toMatch(
        /DWB_ADMIN_USER_CORP=Administrator@corp\.example\.test DWB_ADMIN_PASSWORD_CORP="\$\(cat \S+\)" DWB_ADMIN_USER_FABRIKAM=/,
      );
      expect(out).toMatch(/✔ both forests prepared/);
      // the owners of 10% of the owned devices are cloud-only, and ServerAd devices have none: unrouted
      const written = /✔ (\d+) objects in corp, (\d+) objects in fabrikam/.exec(out);
      expect(written).not.toBeNull();
      const unrouted = Number(/unrouted (\d+) \(no forest holds their owner/.exec(out)?.[1]);
      expect(unrouted).toBeGreaterThan(0);
      expect(Number(written![1]) + Number(written![2]) + unrouted).toBe(200);
      expect(Number(written![1])).toBeGreaterThan(0);
      expect(Number(written![2])).toBeGreaterThan(0);
      expect(out).toMatch(/DISPLAY NAME\s+FOREST\s+DEVICE ID/);
      expect(out).toMatch(/│ {3}corp: \d+ managed objects, 0 unmanaged; ok/);
      const moved = Number(/✔ (\d+) devices now in fabrikam only/.exec(out)?.[1]);
      expect(moved).toBeGreaterThan(0);
      expect(out).toMatch(new RegExp(`forest corp: created 0, updated 0, deleted ${moved},`));
      expect(out).toMatch(new RegExp(`forest fabrikam: created ${moved},`));
      expect(out).not.toMatch(/Dwb-[A-Za-z0-9_-]{20}/);

      const dir = /Everything goes into (\/\S+?), removed at the end/.exec(out)?.[1];
      const addresses = [...out.matchAll(/its address (127\.0\.0\.\d+)/g)].map((m) => m[1]!);
      expect(addresses).toHaveLength(2);
      expect(existsSync(dir!)).toBe(false);
      expect(processesMentioning(dir!)).toEqual([]);
      for (const a of addresses) expect(addressReleased(a)).toBe(true);
    },
  );
});
