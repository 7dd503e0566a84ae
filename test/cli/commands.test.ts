// The subcommands are loaded on demand, by name: each module must register exactly the command it
// is listed under, or running that command would load the wrong one (or none).
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandModules } from '../../src/cli/commands.js';
import { buildProgram } from '../../src/cli/main.js';

describe('the subcommands, loaded on demand', () => {
  it.each(Object.keys(commandModules))(
    'the module of %s registers that command and no other',
    async (name) => {
      const program = new Command('device-writeback');
      (await commandModules[name]!()).register(program);
      expect(program.commands.map((c) => c.name())).toEqual([name]);
    },
  );

  it('a run of one command builds only that command; anything else gets them all', async () => {
    expect((await buildProgram('sync')).commands.map((c) => c.name())).toEqual(['sync']);
    const all = (await buildProgram()).commands.map((c) => c.name());
    expect(all).toEqual(Object.keys(commandModules));
    expect((await buildProgram('snyc')).commands).toHaveLength(all.length);
    expect((await buildProgram('constructor')).commands).toHaveLength(all.length);
  });
});
