// Microsoft Graph error bodies ({"error": {"code", "message", "innerError": {...}}}) read defensively,
// and turned into the user-facing errors of the registry with the cause and the fix.
import { DwbError } from '../errors.js';

export interface GraphErrorInfo {
  /** Every code found, outermost first (error.code, then nested innerError codes). */
  codes: string[];
  message: string;
  requestId?: string;
}

export function parseGraphError(body: Buffer | string | undefined): GraphErrorInfo {
  const info: GraphErrorInfo = { codes: [], message: '' };
  if (body === undefined || body.length === 0) return info;
  let parsed: unknown;
  try {
    parsed = typeof body === 'string' ? JSON.parse(body) : JSON.parse(body.toString('utf8'));
  } catch {
    info.message = (typeof body === 'string' ? body : body.toString('utf8')).slice(0, 200).trim();
    return info;
  }
  return parseGraphErrorObject(parsed);
}

export function parseGraphErrorObject(parsed: unknown): GraphErrorInfo {
  const info: GraphErrorInfo = { codes: [], message: '' };
  let node: unknown = isRecord(parsed) ? parsed.error : undefined;
  for (let depth = 0; isRecord(node) && depth < 8; depth++) {
    if (typeof node.code === 'string' && node.code !== '') info.codes.push(node.code);
    if (!info.message && typeof node.message === 'string') info.message = node.message;
    const requestId = node['request-id'] ?? node.requestId;
    if (!info.requestId && typeof requestId === 'string') info.requestId = requestId;
    node = node.innerError ?? node.innererror;
  }
  return info;
}

/** The delta token can no longer be used: Graph wants a full read (syncStateNotFound, resyncRequired). */
export function isResyncError(status: number, info: GraphErrorInfo): boolean {
  if (status === 410) return true;
  return info.codes.some((c) => /^(syncStateNotFound|resyncRequired|syncStateInvalid)$/i.test(c));
}

export function describeGraphError(status: number, info: GraphErrorInfo): string {
  const code = info.codes[0];
  const parts = [`HTTP ${status}`];
  if (code) parts.push(code);
  let text = parts.join(' ');
  if (info.message) text += `: ${info.message}`;
  if (info.requestId) text += ` (request-id ${info.requestId})`;
  return text;
}

/** The error a Graph answer that cannot be retried becomes. */
export function graphFailure(status: number, info: GraphErrorInfo, what: string, host: string): DwbError {
  const seen = describeGraphError(status, info);
  if (status === 401) {
    return new DwbError(
      'DWB_ENTRA_AUTH_FAILED',
      `Microsoft Graph at ${host} refused the access token for ${what} (${seen}).`,
      {
        fix: 'Check the app registration: entra.tenantId must be its tenant, entra.clientId its application (client) id, and the client secret or certificate must be current (not expired) and belong to that app.',
      },
    );
  }
  if (status === 403) {
    return new DwbError('DWB_ENTRA_FORBIDDEN', `Microsoft Graph at ${host} denied ${what} (${seen}).`, {
      fix: 'Grant the app registration the Microsoft Graph application permissions Device.Read.All and User.Read.All (API permissions > Add a permission > Microsoft Graph > Application permissions), then "Grant admin consent" for the tenant.',
    });
  }
  if (status === 429 || status === 503) {
    return new DwbError('DWB_ENTRA_THROTTLED', `Microsoft Graph at ${host} kept refusing ${what} (${seen}).`);
  }
  return new DwbError('DWB_ENTRA_BAD_RESPONSE', `Microsoft Graph at ${host} failed ${what} (${seen}).`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
