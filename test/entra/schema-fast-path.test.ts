// The fast path of device validation (commonDevice) must never accept what deviceSchema refuses,
// and must return exactly what the schema would. Random records, valid and broken in every
// property, are run through both; and the devices the emulator seeds must take the fast path.
import { describe, expect, it } from 'vitest';
import { commonDevice, deviceBySchema, deviceProperties, toDeviceChange } from '../../src/entra/schema.js';
import { seededDevice } from '../../src/emulator/seed.js';
import { Prng } from '../../src/emulator/prng.js';

const SID = 'S-1-5-21-1004336348-1177238915-682003330';

function pick<T>(rnd: () => number, values: readonly T[]): T {
  return values[Math.floor(rnd() * values.length)]!;
}

/** Values of every JSON type, plus near misses of what each property wants. */
function anyValue(rnd: () => number): unknown {
  return pick(rnd, [
    undefined,
    null,
    '',
    'x',
    'AAAA',
    'not base64!',
    '2024-02-29T10:00:00Z',
    'yesterday',
    0,
    1,
    -3,
    1.5,
    2 ** 53,
    Number.NaN,
    true,
    false,
    [],
    ['a'],
    [1],
    [null],
    {},
    { type: 2, key: 'QUJD' },
    [{ type: 2, key: 'QUJD' }],
    [{ type: 2, identityProvider: 'idp', key: 'QUJD', extra: 1 }],
    [{ type: '2', key: 'QUJD' }],
    [{ type: 2, key: 'QU JD' }],
    [{ type: 2.5, identityProvider: null, key: '' }],
    [{ type: 1, identityProvider: 5, key: 'QUJD' }],
    [[]],
  ]);
}

const PROPERTIES = [...deviceProperties, 'unknownExtra'];

describe('device validation fast path', () => {
  it('accepts only what the schema accepts, and returns the same device', () => {
    const prng = new Prng('fast-path');
    const rnd = () => prng.next();
    let fastTaken = 0;
    let schemaRefused = 0;
    for (let n = 0; n < 20_000; n++) {
      const { device } = seededDevice(n % 500, { domainSid: SID });
      const record: Record<string, unknown> = JSON.parse(JSON.stringify(device));
      // Break (or blank, or drop) a few properties at random.
      const changes = Math.floor(rnd() * 4);
      for (let c = 0; c < changes; c++) {
        const key = pick(rnd, PROPERTIES);
        const value = anyValue(rnd);
        if (value === undefined) delete record[key];
        else record[key] = value;
      }
      const bySchema = deviceBySchema(record);
      if (bySchema.kind !== 'upsert') schemaRefused++;
      const fast = commonDevice(record);
      if (fast === undefined) continue;
      fastTaken++;
      expect(bySchema, JSON.stringify(record)).toEqual({ kind: 'upsert', device: fast });
    }
    // Both branches were exercised in earnest.
    expect(fastTaken).toBeGreaterThan(5_000);
    expect(schemaRefused).toBeGreaterThan(3_000);
  });

  it('takes the fast path for the devices Graph usually sends', () => {
    for (let n = 0; n < 200; n++) {
      const { device } = seededDevice(n, { domainSid: SID });
      const record = JSON.parse(JSON.stringify(device)) as Record<string, unknown>;
      expect(commonDevice(record), `seeded device ${n}`).toBeDefined();
      expect(toDeviceChange(record)).toEqual(deviceBySchema(record));
    }
  });

  it('leaves explaining to the schema: a broken device still gets its reason', () => {
    const change = toDeviceChange({ id: 'a', alternativeSecurityIds: [{ type: 2, key: 'not base64!' }] });
    expect(change).toEqual({
      kind: 'invalid',
      id: 'a',
      reason: 'alternativeSecurityIds[0].key: expected base64 (Edm.Binary)',
    });
  });
});
