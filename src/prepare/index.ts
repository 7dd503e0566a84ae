// Forest preparation as one call (the equivalent of Initialize-ADSyncDeviceWriteback): survey the
// forest, plan, and apply the plan — or, for a dry run, only render it. Used by `init-ad` and by
// anything that prepares a forest in-process (the demo, tests).
import { AdConnection, type AdCredentials, type AdEndpoint } from '../ad/connection.js';
import { applyPlan } from './apply.js';
import type { CloudIssuerCertificate } from './cloud-issuer.js';
import { planToLdif } from './ldif.js';
import { planPreparation, type ChangeAction, type PlannedChange, type PreparationPlan } from './plan.js';
import { surveyForest } from './survey.js';

export type { ConnectorAccount } from './connector-account.js';
export { readCloudIssuerFiles, type CloudIssuerCertificate } from './cloud-issuer.js';
export type { ChangeAction, PlannedChange, PreparationPlan } from './plan.js';
export { deviceContainerGrants, registrationConfigurationGrants, DS_READ } from './rights.js';

export interface PrepareOptions {
  /** DNS name of the domain for CN=RegisteredDevices; default the forest root domain. */
  domain?: string;
  /** sAMAccountName, DOMAIN\name, UPN or DN of the connector account. */
  connectorAccount: string;
  /** Plan and render only; write nothing. */
  dryRun?: boolean;
  /** Cloud DRS issuer certificates to add to msDS-CloudIssuerPublicCertificates (--cloud-issuer). */
  cloudIssuers?: readonly CloudIssuerCertificate[];
  /** How the administrator is named in messages. */
  adminName?: string;
}

/** One line of `init-ad --json` (SPEC §3), with the ACEs of permission changes. */
export interface PreparationChange {
  action: ChangeAction;
  dn: string;
  detail: string;
  aces?: string[];
}

export interface PreparationReport {
  dryRun: boolean;
  changes: PreparationChange[];
  warnings: string[];
  /** The device container (CN=RegisteredDevices,<domain>). */
  containerDn: string;
  serviceDn: string;
  domain: string;
  connector: { dn: string; sid: string; displayName: string };
  /** The --cloud-issuer certificates, as judged (empty without the flag). */
  cloudIssuers: { file: string; subject: string; thumbprint: string; notAfter: string }[];
  /** LDIF and SDDL of the changes (always computed; printed by --dry-run). */
  ldif: string;
}

function toReport(
  plan: PreparationPlan,
  changes: PlannedChange[],
  dryRun: boolean,
  cloudIssuers: readonly CloudIssuerCertificate[],
): PreparationReport {
  return {
    dryRun,
    changes: changes.map((c) => ({
      action: c.action,
      dn: c.dn,
      detail: c.detail,
      ...(c.aces ? { aces: c.aces } : {}),
    })),
    warnings: plan.warnings,
    containerDn: plan.containerDn,
    serviceDn: plan.serviceDn,
    domain: plan.domain.dnsName,
    connector: { dn: plan.connector.dn, sid: plan.connector.sid, displayName: plan.connector.displayName },
    cloudIssuers: cloudIssuers.map((c) => ({
      file: c.file,
      subject: c.facts.subject,
      thumbprint: c.facts.thumbprint,
      notAfter: c.facts.notAfter.toISOString(),
    })),
    ldif: planToLdif(plan),
  };
}

/** Prepares the forest over an open administrator session. */
export async function prepareForestWith(
  conn: AdConnection,
  options: PrepareOptions,
): Promise<PreparationReport> {
  const { state } = await surveyForest(conn, {
    domain: options.domain,
    connectorAccount: options.connectorAccount,
  });
  const cloudIssuers = options.cloudIssuers ?? [];
  const plan = planPreparation(state, { cloudIssuers });
  if (options.dryRun) return toReport(plan, plan.changes, true, cloudIssuers);
  const changes = await applyPlan(conn, plan, options.adminName ?? 'the administrator account');
  return toReport(plan, changes, false, cloudIssuers);
}

/** Opens an administrator session, prepares the forest and closes the session. */
export async function prepareForest(
  endpoint: AdEndpoint,
  admin: AdCredentials,
  options: PrepareOptions,
): Promise<PreparationReport> {
  const conn = await AdConnection.open(endpoint, admin);
  try {
    return await prepareForestWith(conn, { adminName: admin.user, ...options });
  } finally {
    await conn.close();
  }
}
