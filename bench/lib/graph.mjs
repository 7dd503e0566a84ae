// The raw baseline on the Graph side: plain HTTPS requests (node:https, keep-alive), no product
// code, reading what the product reads — a token, the devices through /devices/delta with the same
// $select and page size, and, for the devices in scope, registeredOwners and registeredUsers through
// $batch (20 requests per batch, 4 batches in flight, as the connector does).
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { URLSearchParams } from 'node:url';
import { dist } from './lab.mjs';

function request(agent, url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 400)
          reject(
            new Error(`${method} ${url.split('?')[0]} answered ${res.statusCode}: ${text.slice(0, 300)}`),
          );
        else resolve(text ? JSON.parse(text) : undefined);
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

export function graphClient(emulator) {
  const agent = new https.Agent({ keepAlive: true, ca: readFileSync(emulator.caFile), maxSockets: 8 });
  let token;
  const auth = async () => {
    if (token) return token;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: emulator.clientId,
      client_secret: emulator.clientSecret,
      scope: 'https://graph.microsoft.com/.default',
    }).toString();
    const answer = await request(agent, `${emulator.url}/${emulator.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    token = answer.access_token;
    return token;
  };
  return {
    agent,
    async get(url, headers = {}) {
      return request(agent, url, { headers: { authorization: `Bearer ${await auth()}`, ...headers } });
    },
    async post(url, payload) {
      return request(agent, url, {
        method: 'POST',
        headers: { authorization: `Bearer ${await auth()}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
    },
    /** A new token on the next request (each measured read pays for its own token, as `sync` does). */
    forgetToken() {
      token = undefined;
    },
    close() {
      agent.destroy();
    },
  };
}

/**
 * A full read of the devices (delta, same $select and page size as the connector) and of the
 * relations of the devices `inScope` says yes to. Returns counts and the delta link.
 */
export async function rawGraphRead(client, emulator, { inScope = () => true, pageSize = 999 } = {}) {
  const { deviceProperties, principalProperties } = await dist('entra/schema.js');
  let url = `${emulator.url}/v1.0/devices/delta?$select=${deviceProperties.join(',')}`;
  let devices = 0;
  let pages = 0;
  const scoped = [];
  let deltaLink;
  while (url) {
    const page = await client.get(url, { prefer: `odata.maxpagesize=${pageSize}` });
    pages++;
    for (const d of page.value ?? []) {
      devices++;
      if (inScope(d)) scoped.push(d.id);
    }
    url = page['@odata.nextLink'];
    deltaLink = page['@odata.deltaLink'] ?? deltaLink;
  }
  const requests = scoped.flatMap((id) =>
    ['registeredOwners', 'registeredUsers'].map(
      (relation) => `/devices/${id}/${relation}?$select=${principalProperties.join(',')}`,
    ),
  );
  const batches = [];
  for (let i = 0; i < requests.length; i += 20) batches.push(requests.slice(i, i + 20));
  let next = 0;
  let principals = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++];
      const answer = await client.post(`${emulator.url}/v1.0/$batch`, {
        requests: batch.map((u, i) => ({ id: String(i), method: 'GET', url: u })),
      });
      for (const r of answer.responses ?? []) principals += r.body?.value?.length ?? 0;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { devices, pages, relationsRead: scoped.length, batches: batches.length, principals, deltaLink };
}
