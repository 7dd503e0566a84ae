// The emulator's control routes outside /v1.0 that demos, tests and benchmarks call: its cloud
// DRS (the issuer certificate, each device's certificate and key, registering a device that gets
// one) and groups in bulk (a group of thousands of devices in one call).
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeviceCertificate } from '../../src/claims/certificate.js';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.js';
import { decodeDeviceKey } from '../../src/entra/device-key.js';
import { getToken, request, type HttpResult } from './http.js';

let emulator: RunningEmulator;

beforeAll(async () => {
  emulator = await startEmulator({ devices: 30, seed: 'control-test' });
});
afterAll(async () => {
  await emulator?.close();
});

type Json = Record<string, unknown>;

function admin(method: string, path: string, body?: unknown): Promise<HttpResult<Json & { error?: Json }>> {
  return request<Json & { error?: Json }>(emulator, method, path, body === undefined ? {} : { body });
}

describe('the cloud DRS routes', () => {
  it('serve the issuer certificate, as written next to the data', async () => {
    const issuer = await admin('GET', '/_emulator/drs/issuer');
    expect(issuer.status).toBe(200);
    expect(issuer.headers['content-type']).toMatch(/^application\/x-pem-file/);
    expect(issuer.text).toBe(emulator.cloudIssuerPem);
    expect(new X509Certificate(issuer.text).ca).toBe(true);
    const info = await admin('GET', '/_emulator/info');
    expect(info.json.cloudIssuerFile).toBe(emulator.cloudIssuerFile);
  });

  it("serve a device's certificate (by id or deviceId), its key, and both as JSON", async () => {
    const device = emulator.store.listDevices()[4]!;
    const byId = await admin('GET', `/_emulator/drs/devices/${device.id}/certificate`);
    const byDeviceId = await admin('GET', `/_emulator/drs/devices/${device.deviceId}/certificate`);
    expect(byId.status).toBe(200);
    expect(byDeviceId.text).toBe(byId.text);
    const cert = new X509Certificate(byId.text);
    expect(cert.subject).toBe(`CN=${device.deviceId}`);
    expect(cert.checkIssued(new X509Certificate(emulator.cloudIssuerPem))).toBe(true);
    // What claims --cert computes from it is the key the device carries in Graph (and AD).
    expect(readDeviceCertificate(byId.text).altSecurityIdentity).toBe(
      decodeDeviceKey(device.alternativeSecurityIds[0]?.key ?? ''),
    );
    const chain = await admin('GET', `/_emulator/drs/devices/${device.id}/certificate?chain=true`);
    expect(chain.text).toBe(byId.text + emulator.cloudIssuerPem);
    const key = await admin('GET', `/_emulator/drs/devices/${device.id}/key`);
    expect(key.text).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const json = await admin('GET', `/_emulator/drs/devices/${device.id}`);
    expect(json.json).toMatchObject({
      id: device.id,
      deviceId: device.deviceId,
      alternativeSecurityIdKey: device.alternativeSecurityIds[0]?.key,
      certificatePem: byId.text,
      privateKeyPem: key.text,
      issuerPem: emulator.cloudIssuerPem,
    });
  });

  it('answer 404 for an unknown device, and for one whose key the DRS did not issue', async () => {
    expect(
      (await admin('GET', '/_emulator/drs/devices/00000000-0000-4000-8000-000000000000/certificate')).status,
    ).toBe(404);
    const own = emulator.store.createDevice({
      deviceId: '3c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5',
      displayName: 'OWN-KEY',
      alternativeSecurityIds: [{ type: 2, identityProvider: null, key: 'QUJD' }],
    });
    const refused = await admin('GET', `/_emulator/drs/devices/${own.id}/key`);
    expect(refused.status).toBe(404);
    expect(String(refused.json.error?.message)).toMatch(/certificate of the emulator's DRS/);
  });

  it('register a device: it gets a certificate and is in Graph with its key', async () => {
    const owner = emulator.store.listUsers()[0]!;
    const registered = await admin('POST', '/_emulator/drs/devices', {
      displayName: 'NEW-LAPTOP',
      trustType: 'AzureAd',
      registeredOwners: [owner.userPrincipalName],
    });
    expect(registered.status, registered.text).toBe(201);
    const device = registered.json.device as {
      id: string;
      deviceId: string;
      alternativeSecurityIds: { key: string }[];
    };
    const certificatePem = String(registered.json.certificatePem);
    expect(new X509Certificate(certificatePem).subject).toBe(`CN=${device.deviceId}`);
    expect(readDeviceCertificate(certificatePem).altSecurityIdentity).toBe(
      decodeDeviceKey(device.alternativeSecurityIds[0]?.key ?? ''),
    );
    const token = await getToken(emulator);
    const inGraph = await request<Json>(
      emulator,
      'GET',
      `/v1.0/devices/${device.id}?$select=displayName,trustType,alternativeSecurityIds`,
      {
        token,
      },
    );
    expect(inGraph.json).toMatchObject({ displayName: 'NEW-LAPTOP', trustType: 'AzureAd' });
    expect(emulator.store.relation(device.id, 'registeredOwners').map((u) => u.id)).toEqual([owner.id]);
    expect((await admin('GET', `/_emulator/drs/devices/${device.deviceId}/certificate`)).text).toBe(
      certificatePem,
    );
    expect((await admin('POST', '/_emulator/drs/devices', { trustType: 'Mystery' })).status).toBe(400);
    expect(
      (await admin('POST', '/_emulator/drs/devices', { registeredOwners: ['nobody@nowhere'] })).status,
    ).toBe(404);
  });
});

describe('the group routes', () => {
  it('make a group of many devices in one call, and add and remove members in bulk', async () => {
    const created = await admin('POST', '/_emulator/groups', {
      displayName: 'First twenty',
      devices: { from: 0, to: 20 },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({
      displayName: 'First twenty',
      memberCount: 20,
      securityEnabled: true,
    });
    const id = String(created.json.id);
    const devices = emulator.store.listDevices();
    expect(emulator.store.members(id).map((m) => m.id)).toEqual(devices.slice(0, 20).map((d) => d.id));

    const added = await admin('POST', `/_emulator/groups/${id}/members`, {
      members: [devices[20]?.id, devices[0]?.id],
    });
    expect(added.json).toEqual({ added: 1 });
    const removed = await admin('POST', `/_emulator/groups/${id}/members/remove`, {
      members: [devices[1]?.id, devices[2]?.id, '00000000-0000-4000-8000-000000000000'],
    });
    expect(removed.json).toEqual({ removed: 2 });
    expect(emulator.store.members(id)).toHaveLength(19);

    expect((await admin('POST', `/_emulator/groups/${id}/members`, { members: ['nope'] })).status).toBe(404);
    expect(
      (await admin('POST', '/_emulator/groups/00000000-0000-4000-8000-000000000000/members', { members: [] }))
        .status,
    ).toBe(404);
    expect((await admin('POST', '/_emulator/groups', { members: [] })).status).toBe(400);
  });
});
