// What both tours of `device-writeback demo` (one forest, and --forests 2) share: the
// prerequisites step, the lab folder, a step's expected exit code, and the closing cleanup report.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DwbError } from '../errors.js';
import type { Cleanup } from './cleanup.js';
import type { CliResult } from './cli-process.js';
import { demoPrerequisites, type Prerequisite } from './prerequisites.js';
import { seconds, type StepReporter } from './steps.js';

/** Step 1: what the machine has, and everything missing at once, with how to get it (`extra`: a flag's own). */
export async function prerequisitesStep(steps: StepReporter, extra: Prerequisite[] = []): Promise<void> {
  await steps.step(
    'Checking prerequisites',
    async () => {
      const found = [...demoPrerequisites(), ...extra];
      for (const p of found) steps.detail(`${p.ok ? '✔' : '✖'} ${p.what}: ${p.detail}`);
      const missing = found.filter((p) => !p.ok);
      if (missing.length > 0) {
        for (const p of missing) steps.detail(`  how to get it: ${p.fix ?? ''}`);
        throw new DwbError(
          'DWB_PREREQ_MISSING',
          `the demo needs ${missing.map((p) => p.what).join(' and ')}.`,
          {
            fix: missing.map((p) => p.fix).join(' '),
          },
        );
      }
    },
    () => 'ready',
  );
}

/** The folder everything of the lab goes into, removed by the cleanup. */
export function labFolder(steps: StepReporter, cleanup: Cleanup, keep: boolean): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'device-writeback-demo-'));
  cleanup.add(dir, () => rmSync(dir, { recursive: true, force: true }));
  steps.detail(`Everything goes into ${dir}${keep ? ' (kept: --keep)' : ', removed at the end'}.`);
  return dir;
}

/** Shows a file the tour wrote (the configuration) under the current step, line by line. */
export function showFile(steps: StepReporter, file: string): void {
  for (const line of readFileSync(file, 'utf8').trimEnd().split('\n')) steps.detail(`│ ${line}`);
}

/** A command of the tour ended with an exit code it should not have: the tour stops there. */
export function expectExit(step: string, result: CliResult, expected: number[]): void {
  if (!expected.includes(result.code)) {
    throw new DwbError(
      'DWB_INTERNAL',
      `demo step "${step}" exited with ${result.code} (expected ${expected.join(' or ')}).`,
      {
        fix: 'Its output is above. Run the demo again with --keep to explore the lab in that state, and report the output.',
      },
    );
  }
}

/** Runs the cleanup and says what it stopped and removed, and what it could not. */
export async function finish(steps: StepReporter, cleanup: Cleanup, dir: string): Promise<void> {
  const started = Date.now();
  const outcome = await cleanup.run();
  if (outcome.done.length > 0) {
    steps.line(`\nStopped and removed: ${outcome.done.join(', ')} (${seconds(Date.now() - started)}).`);
  }
  if (outcome.failures.length > 0) {
    steps.line('Cleanup could not remove everything:');
    for (const f of outcome.failures) steps.line(`  ✖ ${f}`);
    if (dir) steps.line(`Check for samba processes (ps ax | grep ${dir}) and remove ${dir} by hand.`);
  }
}
