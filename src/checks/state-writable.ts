// state.writable: the state store opens and takes a write that is rolled back (see state/probe.ts).
import { probeStateStore } from '../state/probe.js';
import type { Check } from './types.js';

export const stateWritable: Check = {
  id: 'state.writable',
  title: 'The state store opens and is writable',
  async run(ctx) {
    const { code, ...probe } = await probeStateStore(ctx.config);
    const problem = probe.status === 'fail' || probe.status === 'warn';
    return { ...probe, code: problem ? (code ?? 'DWB_STATE_UNAVAILABLE') : null };
  },
};
