// Several forests in the configuration (SPEC §5, §8): a forests: list instead of the ad: block,
// each forest named, the keys of an ad: block each, errors that name the key; --forest choosing.
import { describe, expect, it } from 'vitest';
import { forestsNamed, oneForest } from '../../src/config/forests.js';
import { parseConfig } from '../../src/config/load.js';
import { DwbError, ExitCode } from '../../src/errors.js';

const ad = (host: string) =>
  `{ url: ldaps://${host}, bindDn: CN=svc, password: { env: DWB_${host.split('.')[0]!.toUpperCase()}_PW } }`;
const two = `forests:
  - name: corp
    ad: ${ad('dc1.corp.example.test')}
  - name: fabrikam
    ad: ${ad('dc1.fabrikam.example.test')}
`;

function fail(text: string): DwbError {
  try {
    parseConfig(text, '/etc/dwb/device-writeback.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(DwbError);
    return err as DwbError;
  }
  throw new Error('expected a configuration error');
}

describe('several forests in the configuration', () => {
  it('reads a forests: list, each forest with the keys of an ad: block and its own secret', () => {
    const config = parseConfig(`${two}writeback:\n  defaultForest: corp\n`, '/etc/dwb/device-writeback.yaml');
    expect(config.severalForests).toBe(true);
    expect(config.forests.map((f) => [f.name, f.ad.url, f.key])).toEqual([
      ['corp', 'ldaps://dc1.corp.example.test', 'forests[0].ad'],
      ['fabrikam', 'ldaps://dc1.fabrikam.example.test', 'forests[1].ad'],
    ]);
    expect(config.forests[1]!.ad.password.key).toBe('forests[1].ad.password');
    expect(config.writeback.defaultForest).toBe('corp');
  });

  it('keeps a single ad: block working as one forest named default', () => {
    const config = parseConfig(`ad: ${ad('dc1.corp.example.test')}\n`, '/etc/dwb/device-writeback.yaml');
    expect(config.severalForests).toBe(false);
    expect(config.forests.map((f) => f.name)).toEqual(['default']);
  });

  it.each([
    [
      `${two}ad: ${ad('dc2.corp.example.test')}\n`,
      'forests: give either ad: (one forest) or forests: (several), not both',
    ],
    [
      'writeback: { intervalSeconds: 5 }\n',
      'ad: missing required key: give the ad: block (one forest) or the forests: list (several)',
    ],
    [
      two.replace('ldaps://dc1.fabrikam.example.test', 'http://x'),
      'forests[1].ad.url: expected ldaps://host[:port]',
    ],
    [
      two.replace('name: fabrikam', 'name: CORP'),
      'forests[1].name: the name CORP is already the name of forests[0]',
    ],
    [two.replace('name: fabrikam', 'name: "two words"'), 'forests[1].name: expected a label'],
    [
      `${two}writeback:\n  defaultForest: contoso\n`,
      'writeback.defaultForest: names no forest of the forests: list (corp, fabrikam)',
    ],
    [
      `ad: ${ad('dc1.corp.example.test')}\nwriteback:\n  defaultForest: corp\n`,
      'writeback.defaultForest: applies to several forests only',
    ],
    [`forests: []\n`, 'forests: '],
    [`${two}  - name: x\n    ad: { url: ldaps://h, bindDn: b, password: plain }\n`, 'forests[2].ad.password'],
  ])('refuses %j, naming the key', (text, message) => {
    const err = fail(text);
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toContain(message);
  });

  it('--forest picks a forest by name; a name the configuration lacks is a usage error', () => {
    const config = parseConfig(two, '/etc/dwb/device-writeback.yaml');
    expect(forestsNamed(config, undefined).map((f) => f.name)).toEqual(['corp', 'fabrikam']);
    expect(forestsNamed(config, 'FABRIKAM').map((f) => f.name)).toEqual(['fabrikam']);
    expect(() => forestsNamed(config, 'contoso')).toThrow(
      /names no forest of the configuration \(corp, fabrikam\)/,
    );
    expect(() => oneForest(config, undefined)).toThrow(/say which with --forest/);
    const single = parseConfig(`ad: ${ad('dc1.corp.example.test')}\n`, '/etc/dwb/device-writeback.yaml');
    expect(oneForest(single, undefined).name).toBe('default');
    expect(() => forestsNamed(single, 'corp')).toThrow(/one forest \(an ad: block\)/);
  });
});
