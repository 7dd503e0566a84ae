// ad.connect: a TLS connection to ad.url with the certificate verified, and a simple bind as the
// connector account (ad.bindDn with ad.password).
import { functionalLevelName } from '../ad/discovery.js';
import { causeText, isDwbError } from '../errors.js';
import { openConnectorSession } from './ad-context.js';
import { fail, pass, warn } from './support.js';
import type { Check } from './types.js';

export const adConnect: Check = {
  id: 'ad.connect',
  title: 'TLS connection to the domain controller and bind as the connector account',
  async run(ctx) {
    const { ad } = ctx.forest;
    const trust = ad.insecureSkipVerify
      ? 'certificate NOT verified (ad.insecureSkipVerify)'
      : `certificate verified against ${ad.caFile ?? 'the system CAs'}`;
    try {
      const { conn, rootDse } = await openConnectorSession(ctx);
      const transport = ad.startTls ? 'LDAP with StartTLS' : 'LDAPS';
      const detail = `connected to ${conn.where} (${transport}, ${trust}) and bound as ${ad.bindDn}; domain controller ${
        rootDse.dnsHostName ?? 'unknown'
      }, forest functional level ${functionalLevelName(rootDse.forestFunctionality)}`;
      if (ad.insecureSkipVerify) {
        return warn(
          detail,
          'Set ad.caFile to the CA that issued the domain controller certificate and remove ad.insecureSkipVerify.',
          'DWB_AD_TLS_UNVERIFIED',
        );
      }
      return pass(detail);
    } catch (err) {
      if (isDwbError(err)) return fail(`${ad.url}: ${err.message}`, err.fix, err.code);
      return fail(
        `${ad.url}: ${causeText(err)}`,
        'Check ad.url and that the domain controller answers LDAPS.',
        'DWB_AD_UNREACHABLE',
      );
    }
  },
};
