// Fault injection and statistics: throttling with Retry-After (fractional), 503, delays, rules
// scoped by path and method, faults inside $batch, and the request counters tests rely on.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { getToken, request } from './http.js';

let emulator: RunningEmulator;
let token: string;

beforeAll(async () => {
  emulator = await startEmulator({ devices: 10 });
  token = await getToken(emulator);
});
afterAll(async () => {
  await emulator?.close();
});
beforeEach(async () => {
  await request(emulator, 'DELETE', '/_emulator/faults');
  await request(emulator, 'DELETE', '/_emulator/stats');
});

interface Stats {
  requests: {
    total: number;
    byRoute: Record<string, number>;
    byStatus: Record<string, number>;
    faultsInjected: number;
  };
  tokensIssued: number;
  directory: { active: number };
}

describe('fault injection', () => {
  it('throttles the next N requests with 429 and a fractional Retry-After, then recovers', async () => {
    const added = await request<{ rules: { id: number; remaining: number }[] }>(
      emulator,
      'POST',
      '/_emulator/faults',
      { body: { status: 429, retryAfter: 0.25, count: 2 } },
    );
    expect(added.status).toBe(201);
    expect(added.json.rules[0]?.remaining).toBe(2);

    for (let i = 0; i < 2; i++) {
      const throttled = await request(emulator, 'GET', '/v1.0/devices?$top=1', { token });
      expect(throttled.status).toBe(429);
      expect(throttled.headers['retry-after']).toBe('0.25');
      expect(throttled.json.error?.code).toBe('TooManyRequests');
      expect(throttled.json.error?.innerError).toHaveProperty('request-id');
    }
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
    expect((await request<{ rules: unknown[] }>(emulator, 'GET', '/_emulator/faults')).json.rules).toEqual(
      [],
    );
  });

  it('answers 503 serviceNotAvailable with Retry-After, and any status with a chosen code', async () => {
    await request(emulator, 'POST', '/_emulator/faults', {
      body: {
        rules: [
          { status: 503, retryAfter: 2 },
          { status: 500, code: 'UnknownError', path: '/v1.0/users' },
        ],
      },
    });
    const unavailable = await request(emulator, 'GET', '/v1.0/devices', { token });
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers['retry-after']).toBe('2');
    expect(unavailable.json.error?.code).toBe('serviceNotAvailable');
    // The 500 rule only matches /v1.0/users.
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
    const user = emulator.store.listUsers()[0];
    const failed = await request(emulator, 'GET', `/v1.0/users/${user?.id}`, { token });
    expect(failed.status).toBe(500);
    expect(failed.json.error?.code).toBe('UnknownError');
  });

  it('scopes rules by path and method, and keeps count: 0 rules until cleared', async () => {
    await request(emulator, 'POST', '/_emulator/faults', {
      body: { status: 429, path: '/v1.0/devices/delta', method: 'GET', count: 0 },
    });
    for (let i = 0; i < 3; i++)
      expect((await request(emulator, 'GET', '/v1.0/devices/delta', { token })).status).toBe(429);
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
    const rules = await request<{ rules: { applied: number; remaining: number | null }[] }>(
      emulator,
      'GET',
      '/_emulator/faults',
    );
    expect(rules.json.rules[0]).toMatchObject({ applied: 3, remaining: null });
    await request(emulator, 'DELETE', '/_emulator/faults');
    expect((await request(emulator, 'GET', '/v1.0/devices/delta', { token })).status).toBe(200);
  });

  it('delays requests (latencyMs) and still answers them', async () => {
    await request(emulator, 'POST', '/_emulator/faults', { body: { latencyMs: 50, count: 1 } });
    const slow = await request(emulator, 'GET', '/v1.0/devices?$top=1', { token });
    expect(slow.status).toBe(200);
    expect((await request<{ rules: unknown[] }>(emulator, 'GET', '/_emulator/faults')).json.rules).toEqual(
      [],
    );
  });

  it('throttles the requests inside a $batch individually, not the batch', async () => {
    await request(emulator, 'POST', '/_emulator/faults', {
      body: { status: 429, retryAfter: 1, count: 2, path: '/v1.0/devices/' },
    });
    const devices = emulator.store.listDevices().slice(0, 4);
    const batch = await request(emulator, 'POST', '/v1.0/$batch', {
      token,
      body: {
        requests: devices.map((d, i) => ({
          id: String(i),
          method: 'GET',
          url: `/devices/${d.id}/registeredOwners`,
        })),
      },
    });
    expect(batch.status).toBe(200);
    const statuses = batch.json.responses?.map((r) => r.status);
    expect(statuses).toEqual([429, 429, 200, 200]);
    expect(batch.json.responses?.[0]?.headers['Retry-After']).toBe('1');
    expect(batch.json.responses?.[0]?.body?.error?.code).toBe('TooManyRequests');
  });

  it('can throttle the token endpoint too (a rule with its path)', async () => {
    await request(emulator, 'POST', '/_emulator/faults', {
      body: { status: 503, retryAfter: 0.1, path: `/${emulator.tenantId}/oauth2` },
    });
    const refused = await request<Record<string, unknown>>(
      emulator,
      'POST',
      `/${emulator.tenantId}/oauth2/v2.0/token`,
      {
        form: {
          grant_type: 'client_credentials',
          client_id: emulator.clientId,
          client_secret: emulator.clientSecret,
          scope: 'https://graph.microsoft.com/.default',
        },
      },
    );
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('0.1');
    expect(refused.json.error).toBe('temporarily_unavailable');
    await expect(getToken(emulator)).resolves.toMatch(/\./);
  });

  it('refuses malformed fault rules', async () => {
    expect((await request(emulator, 'POST', '/_emulator/faults', { body: { status: 200 } })).status).toBe(
      400,
    );
    expect((await request(emulator, 'POST', '/_emulator/faults', { body: { statsu: 429 } })).status).toBe(
      400,
    );
  });

  it('is also available in-process', async () => {
    emulator.faults.add({ status: 429, retryAfter: 0.5 });
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(429);
    expect((await request(emulator, 'GET', '/v1.0/devices?$top=1', { token })).status).toBe(200);
  });
});

describe('statistics', () => {
  it('counts requests by route template and status, and token issues', async () => {
    const device = emulator.store.listDevices()[0];
    const before = (await request<Stats>(emulator, 'GET', '/_emulator/stats')).json.tokensIssued;
    await getToken(emulator);
    await request(emulator, 'GET', '/v1.0/devices?$top=1', { token });
    await request(emulator, 'GET', `/v1.0/devices/${device?.id}/registeredOwners`, { token });
    await request(emulator, 'GET', `/v1.0/devices/${device?.id}/registeredOwners`, { token });
    await request(emulator, 'GET', '/v1.0/devices');
    await request(emulator, 'POST', '/v1.0/$batch', {
      token,
      body: { requests: [{ id: '1', method: 'GET', url: `/devices/${device?.id}` }] },
    });
    const stats = (await request<Stats>(emulator, 'GET', '/_emulator/stats')).json;
    expect(stats.tokensIssued).toBe(before + 1);
    expect(stats.requests.byRoute).toMatchObject({
      'GET /v1.0/devices': 2,
      'GET /v1.0/devices/{id}/registeredOwners': 2,
      'POST /v1.0/$batch': 1,
      'GET /v1.0/devices/{id}': 1,
      'POST /{tenant}/oauth2/v2.0/token': 1,
    });
    expect(stats.requests.byStatus['401']).toBe(1);
    expect(stats.directory.active).toBe(emulator.store.counts().active);
    expect(emulator.stats.snapshot().byRoute['GET /v1.0/devices']).toBe(2);
  });
});
