// The AD connection settings derived from the configuration, in one place: where the DC is and how
// to reach it (URL, TLS, CA, timeout), and the connector account that binds.
import type { AdConfig } from '../config/load.js';
import { AdConnection, type AdCredentials, type AdEndpoint } from './connection.js';

/** How to reach the DC of an `ad:` block (everything but the account). */
export function adEndpoint(ad: Omit<AdConfig, 'bindDn' | 'password'>): AdEndpoint {
  return {
    url: ad.url,
    startTls: ad.startTls,
    caFile: ad.caFile,
    insecureSkipVerify: ad.insecureSkipVerify,
    timeoutSeconds: ad.timeoutSeconds,
  };
}

/** The connector account of an `ad:` block; resolves the password secret. */
export function connectorCredentials(ad: Pick<AdConfig, 'bindDn' | 'password'>): AdCredentials {
  return { user: ad.bindDn, password: ad.password.reveal() };
}

/** One session bound as the connector account. */
export function openConnectorSession(ad: AdConfig): Promise<AdConnection> {
  return AdConnection.open(adEndpoint(ad), connectorCredentials(ad));
}
