// The list of subcommands; each module registers itself on the program.
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

/**
 * Each subcommand's module, by the name it registers, loaded on demand: a run of one command loads
 * only its own code (sync does not load the checks, the forest preparation or the claims preview,
 * which cost start-up time at every cycle of a scheduled sync).
 */
export const commandModules: Readonly<Record<string, () => Promise<{ register: RegisterCommand }>>> = {
  'init-ad': () => import('./init-ad.js'),
  check: () => import('./check.js'),
  sync: () => import('./sync.js'),
  run: () => import('./run.js'),
  devices: () => import('./devices.js'),
  status: () => import('./status.js'),
  emulator: () => import('./emulator.js'),
  demo: () => import('./demo.js'),
  claims: () => import('./claims.js'),
  'approve-deletes': () => import('./approve-deletes.js'),
};
