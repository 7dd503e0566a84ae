// A plain HTTPS client for the emulator tests: node:https with the emulator's CA and nothing of the
// product's Entra connector, so that the emulator is checked on its own terms.
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';

export interface Target {
  url: string;
  caPem: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

/** The JSON shapes the tests read. */
export interface GraphBody {
  '@odata.context'?: string;
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
  '@odata.count'?: number;
  value?: Record<string, unknown>[];
  responses?: { id: string; status: number; headers: Record<string, string>; body?: GraphBody }[];
  error?: { code: string; message: string; innerError?: Record<string, string> };
  [key: string]: unknown;
}

export interface HttpResult<T = GraphBody> {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: T;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  form?: Record<string, string>;
  headers?: Record<string, string>;
}

export function request<T = GraphBody>(
  target: Pick<Target, 'url' | 'caPem'>,
  method: string,
  pathOrUrl: string,
  options: RequestOptions = {},
): Promise<HttpResult<T>> {
  const url = new URL(pathOrUrl, target.url);
  const headers: Record<string, string> = { ...options.headers };
  let payload: string | undefined;
  if (options.form) {
    payload = new URLSearchParams(options.form).toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (options.body !== undefined) {
    payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        method,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port,
        path: `${url.pathname}${url.search}`,
        headers,
        ca: target.caPem,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = undefined;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: json as T });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export async function getToken(target: Target, overrides: Record<string, string> = {}): Promise<string> {
  const result = await request<{ access_token: string }>(
    target,
    'POST',
    `/${target.tenantId}/oauth2/v2.0/token`,
    {
      form: {
        grant_type: 'client_credentials',
        client_id: target.clientId,
        client_secret: target.clientSecret,
        scope: 'https://graph.microsoft.com/.default',
        ...overrides,
      },
    },
  );
  if (result.status !== 200) throw new Error(`token request failed: ${result.status} ${result.text}`);
  return result.json.access_token;
}

/** Follows @odata.nextLink to the end; returns every item and the last page. */
export async function readAll(
  target: Target,
  token: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ items: Record<string, unknown>[]; pages: number; last: GraphBody }> {
  const items: Record<string, unknown>[] = [];
  let pages = 0;
  let next: string | undefined = path;
  let last: GraphBody = {};
  while (next) {
    const page: HttpResult = await request(target, 'GET', next, { token, headers });
    if (page.status !== 200) throw new Error(`GET ${next}: ${page.status} ${page.text}`);
    pages++;
    items.push(...(page.json.value ?? []));
    last = page.json;
    next = page.json['@odata.nextLink'];
  }
  return { items, pages, last };
}
