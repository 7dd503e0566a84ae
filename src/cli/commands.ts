// The list of subcommands; each module registers itself on the program.
import type { Command } from 'commander';
import { register as approveDeletes } from './approve-deletes.js';
import { register as claims } from './claims.js';
import { register as check } from './check.js';
import { register as demo } from './demo.js';
import { register as devices } from './devices.js';
import { register as emulator } from './emulator.js';
import { register as initAd } from './init-ad.js';
import { register as run } from './run.js';
import { register as status } from './status.js';
import { register as sync } from './sync.js';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  initAd,
  check,
  sync,
  run,
  devices,
  status,
  emulator,
  demo,
  claims,
  approveDeletes,
];
