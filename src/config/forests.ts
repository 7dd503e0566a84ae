// Choosing forests by name: `--forest <name>` narrows a command to one forest; without it a command
// works on every forest (with one `ad:` block, the only one).
import { DwbError } from '../errors.js';
import type { Config, ForestConfig } from './load.js';

/** The forests a command works on; throws a usage error for a name the configuration does not have. */
export function forestsNamed(
  config: Pick<Config, 'forests' | 'severalForests'>,
  name: string | undefined,
): ForestConfig[] {
  if (name === undefined) return config.forests;
  const found = config.forests.find((f) => f.name.toLowerCase() === name.toLowerCase());
  if (!found) {
    throw new DwbError(
      'DWB_USAGE',
      config.severalForests
        ? `--forest ${JSON.stringify(name)} names no forest of the configuration (${config.forests.map((f) => f.name).join(', ')}).`
        : `--forest ${JSON.stringify(name)}: the configuration has one forest (an ad: block), so --forest is not needed.`,
    );
  }
  return [found];
}

/** The one forest a command that needs one works on: the named one, or the only one. */
export function oneForest(
  config: Pick<Config, 'forests' | 'severalForests'>,
  name: string | undefined,
): ForestConfig {
  const named = forestsNamed(config, name);
  if (named.length !== 1) {
    throw new DwbError(
      'DWB_USAGE',
      `the configuration has ${named.length} forests (${named.map((f) => f.name).join(', ')}): say which with --forest <name>.`,
    );
  }
  return named[0]!;
}
