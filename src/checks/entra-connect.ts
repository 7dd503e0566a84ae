// entra.connect: a token is obtained from the identity platform and GET /v1.0/devices?$top=1
// succeeds. The connector and the outcome are cached in the check context, so that entra.owners
// reuses the signed-in connector and is skipped when this check failed.
import type { EntraConfig } from '../config/load.js';
import type { EntraConnector, ProbeResult } from '../entra/connector.js';
import { CheckSkipped, pass, skip } from './support.js';
import type { Check, CheckContext } from './types.js';

/** The connector of this check run, created once (and loaded on demand: status and the AD checks do not need it). */
export async function entraConnector(ctx: CheckContext, entra: EntraConfig): Promise<EntraConnector> {
  let connector = ctx.cache.get('entra.connector') as EntraConnector | undefined;
  if (!connector) {
    const { EntraConnector } = await import('../entra/connector.js');
    connector = ctx.cache.get('entra.connector') as EntraConnector | undefined;
    if (!connector) {
      connector = new EntraConnector(entra);
      ctx.cache.set('entra.connector', connector);
    }
  }
  return connector;
}

/** Token + GET /v1.0/devices?$top=1, run once per check run and shared. */
export function entraProbe(ctx: CheckContext, entra: EntraConfig): Promise<ProbeResult> {
  let probe = ctx.cache.get('entra.probe') as Promise<ProbeResult> | undefined;
  if (!probe) {
    probe = entraConnector(ctx, entra).then((connector) => connector.probe(1));
    probe.catch(() => undefined); // reported by whoever awaits it
    ctx.cache.set('entra.probe', probe);
  }
  return probe;
}

/** For checks that need Graph: skipped when entra.connect failed. */
export async function requireEntraConnection(ctx: CheckContext, entra: EntraConfig): Promise<EntraConnector> {
  try {
    await entraProbe(ctx, entra);
  } catch {
    throw new CheckSkipped('no connection to Microsoft Graph (see entra.connect)');
  }
  return await entraConnector(ctx, entra);
}

export const entraConnect: Check = {
  id: 'entra.connect',
  title: 'Microsoft Graph: token obtained and GET /v1.0/devices?$top=1 succeeds',
  async run(ctx) {
    const entra = ctx.config.entra;
    if (!entra) return skip('Entra connector not configured (no entra section in the configuration)');
    // A DwbError (DWB_ENTRA_AUTH_FAILED, _FORBIDDEN, _UNREACHABLE, ...) reaches the runner, which
    // reports it as a failure with its message (the cause) and its fix.
    const { devices } = await entraProbe(ctx, entra);
    const credential = entra.clientCertificate ? 'certificate' : 'client secret';
    const signedIn = `token for client ${entra.clientId} in tenant ${entra.tenantId} (${credential}) from ${entra.authorityHost}`;
    const first = devices[0];
    if (!first)
      return pass(
        `${signedIn}; GET ${entra.graphUrl}/v1.0/devices?$top=1 answered: no device in the tenant yet`,
      );
    const name = first.displayName ?? first.deviceId ?? first.id;
    return pass(`${signedIn}; GET ${entra.graphUrl}/v1.0/devices?$top=1 answered (${name})`);
  },
};
