// `device-writeback demo --ha` end to end: the one-forest tour, then the state in PostgreSQL and two
// `run` instances, the leader killed with kill -9 and the standby taking over, timed on screen; and
// nothing left behind (the DC, PostgreSQL, both `run` processes, the folder). A file of its own, so
// that it runs beside the other demos.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { addressReleased, processesMentioning } from '../support/samba.js';

describe('device-writeback demo --ha', () => {
  it(
    '--ha: the group on PostgreSQL, the leader killed, the standby leads and writes the change, all removed',
    { timeout: 300_000 },
    async () => {
      const result: CliResult = await runCli(['demo', '--ha']);
      const out = result.stdout;
      expect(result.code, `exit ${result.code}\n${out}\n${result.stderr}`).toBe(0);
      expect([...out.matchAll(/^\[(\d+)\/14\]/gm)].map((m) => Number(m[1]))).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
      ]);
      expect(out).toMatch(/✔ PostgreSQL server \(--ha\): found/);
      expect(out).toMatch(/sslmode=verify-full against the lab CA/);
      expect(out).toMatch(/member A \/healthz: "role": "leader"/);
      expect(out).toMatch(
        /member B \/healthz: "role": "standby" — standby: `device-writeback run` \(process \d+/,
      );
      // status lists the group: A leading under epoch 1, B standing by; after the kill, B leads
      expect(out).toMatch(/leader +`run` process \d+ on \S+ +epoch 1/);
      expect(out).toMatch(/kill -9 \d+ \(member A, the leader\)/);
      const takeover = Number(/member B leads after ([\d.]+) s/.exec(out)?.[1]);
      const inAd = Number(/is in AD after ([\d.]+) s, written by member B/.exec(out)?.[1]);
      const lease = Number(/the leader's lease: ([\d.]+) s/.exec(out)?.[1]);
      expect(takeover).toBeGreaterThan(0);
      expect(inAd).toBeGreaterThanOrEqual(takeover);
      // a standby cannot lead before the dead leader's lease has run out
      expect(takeover).toBeGreaterThan(lease / 2);
      expect(out).toMatch(/leader +`run` process \d+ on \S+ +epoch 2/);
      expect(out).toMatch(/HA group +\S+device-writeback-ha\.yaml: state in PostgreSQL; failover in/);
      expect(out).not.toMatch(/postgres:\/\/[^@\s]*:[^@\s]+@/); // the URL's password never shown

      const dir = /Everything goes into (\/\S+?), removed at the end/.exec(out)?.[1];
      const address = /its address (127\.0\.0\.\d+)/.exec(out)?.[1];
      expect(existsSync(dir!)).toBe(false);
      expect(processesMentioning(dir!)).toEqual([]);
      expect(addressReleased(address!)).toBe(true);
    },
  );
});
