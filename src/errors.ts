// The one registry of user-facing errors: every error a user can see has a stable code, says what
// went wrong and what to do, and maps to one of the exit codes of SPEC §3.

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  quarantined: 3,
  deleteThreshold: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface ErrorDefinition {
  exit: ExitCode;
  /** What to do about it; appended to every message with this code. */
  fix: string;
}

export const errorCatalog = {
  DWB_CONFIG_NOT_FOUND: {
    exit: ExitCode.usage,
    fix: 'Create the file (see docs/configuration.md) or point --config / DWB_CONFIG at it.',
  },
  DWB_CONFIG_PARSE: { exit: ExitCode.usage, fix: 'Fix the YAML syntax at the position shown.' },
  DWB_CONFIG_INVALID: {
    exit: ExitCode.usage,
    fix: 'Correct the key named above; docs/configuration.md lists every key with its type and default.',
  },
  DWB_SECRET_PLAIN: {
    exit: ExitCode.usage,
    fix: 'Write secrets as { env: NAME } or { file: PATH } so that they never sit in the configuration file.',
  },
  DWB_SECRET_MISSING: {
    exit: ExitCode.usage,
    fix: 'Set the environment variable or create the file that the secret reference names.',
  },
  DWB_SECRET_EMPTY: {
    exit: ExitCode.usage,
    fix: 'Put the secret in the file or the environment variable that the reference names. An empty password is never sent: to a domain controller it would be an unauthenticated bind, which some accept without checking anything.',
  },
  DWB_SECRET_FILE_INVALID: {
    exit: ExitCode.usage,
    fix: 'A { file: PATH } secret must name a regular file of at most 64 KiB (not a device, a pipe or a folder) holding only the secret.',
  },
  DWB_USAGE: { exit: ExitCode.usage, fix: 'Run the command with --help to see its options.' },
  DWB_AD_TLS_REQUIRED: {
    exit: ExitCode.usage,
    fix: 'Use an ldaps:// URL, or keep ldap:// and set ad.startTls: true. Active Directory refuses simple binds over clear text, and so does device-writeback.',
  },
  DWB_AD_URL_INVALID: {
    exit: ExitCode.usage,
    fix: 'ad.url must look like ldaps://dc1.corp.example.test or ldap://dc1.corp.example.test:389 (with startTls).',
  },
  DWB_AD_UNREACHABLE: {
    exit: ExitCode.failure,
    fix: 'Check that the domain controller is running, that the host name resolves and that the port (636 for LDAPS, 389 for StartTLS) is open from this machine.',
  },
  DWB_AD_TLS_FAILED: {
    exit: ExitCode.failure,
    fix: 'Point ad.caFile at the PEM file of the CA that issued the domain controller certificate, and make sure the host name in ad.url matches the certificate. (ad.insecureSkipVerify is for labs only.)',
  },
  DWB_AD_BIND_FAILED: {
    exit: ExitCode.failure,
    fix: 'Check ad.bindDn and the password that ad.password refers to; the account must not be disabled, locked or expired.',
  },
  DWB_AD_TIMEOUT: {
    exit: ExitCode.failure,
    fix: 'The domain controller did not answer in time; check its load and the network path.',
  },
  DWB_AD_OPERATION_FAILED: {
    exit: ExitCode.failure,
    fix: 'See the LDAP result above; run `device-writeback check` for the prerequisites.',
  },
  DWB_AD_INSUFFICIENT_RIGHTS: {
    exit: ExitCode.failure,
    fix: 'Run init-ad as an enterprise admin (a member of Enterprise Admins in the forest root domain): it writes to the configuration partition, where a domain admin has no rights.',
  },
  DWB_AD_SCHEMA_TOO_OLD: {
    exit: ExitCode.failure,
    fix: 'Extend the forest schema to Windows Server 2012 R2 or later (adprep /forestprep from 2012 R2 media) and run again.',
  },
  DWB_AD_DOMAIN_UNKNOWN: {
    exit: ExitCode.usage,
    fix: 'Pass --domain with one of the domains of the forest listed above.',
  },
  DWB_AD_ACCOUNT_NOT_FOUND: {
    exit: ExitCode.usage,
    fix: 'Give the connector account as sAMAccountName, DOMAIN\\name, UPN or DN of an existing account.',
  },
  DWB_AD_ACCOUNT_AMBIGUOUS: {
    exit: ExitCode.usage,
    fix: 'Give the connector account as a DN or UPN so that it names exactly one account.',
  },
  DWB_AD_DRS_ELSEWHERE: {
    exit: ExitCode.failure,
    fix: 'A forest holds one device registration configuration. Use --domain matching the existing msDS-DeviceLocation, or delete the existing DeviceRegistrationService object first if it is stale.',
  },
  DWB_AD_DRS_BROKEN: {
    exit: ExitCode.failure,
    fix: 'msDS-DeviceLocation is a system-only attribute: it can be set only when the DeviceRegistrationService object is created. Delete that object as an enterprise admin (note any AD FS device registration settings on it first), then run init-ad again: it recreates it pointing at the device container.',
  },
  DWB_AD_OBJECT_CONFLICT: {
    exit: ExitCode.failure,
    fix: 'An object that init-ad needs to create already exists with another class. Rename or delete it (after checking what uses it), then run init-ad again.',
  },
  DWB_AD_DOMAIN_NOT_ON_DC: {
    exit: ExitCode.usage,
    fix: 'Point ad.url at a domain controller of the domain named by --domain, or choose a domain this domain controller holds.',
  },
  DWB_AD_DRS_MISSING: {
    exit: ExitCode.failure,
    fix: 'Run `device-writeback init-ad` as an enterprise admin: it creates the Device Registration Service object and the device container.',
  },
  DWB_AD_DRS_DUPLICATE: {
    exit: ExitCode.failure,
    fix: 'A forest holds one device registration configuration: keep the object whose msDS-DeviceLocation names the device container and delete the others, as an enterprise admin (`device-writeback check` prints the command).',
  },
  DWB_AD_DEVICE_LOCATION_MISMATCH: {
    exit: ExitCode.usage,
    fix: 'Devices go where msDS-DeviceLocation says (that is where AD FS looks); set ad.domain to the domain of that container, or remove ad.domain.',
  },
  DWB_AD_SCHEMA_PARTIAL: {
    exit: ExitCode.failure,
    fix: 'Nothing is required: the attributes the schema lacks are not written. To write them too, extend the schema to Windows Server 2016 or later.',
  },
  DWB_AD_CONNECTOR_RIGHTS: {
    exit: ExitCode.failure,
    fix: 'The connector account lacks rights on the device container or the Device Registration Configuration: run `device-writeback init-ad` as an enterprise admin (`device-writeback check` prints the exact command); it grants them.',
  },
  DWB_AD_TLS_UNVERIFIED: {
    exit: ExitCode.failure,
    fix: 'ad.insecureSkipVerify is for labs only: set ad.caFile to the CA that issued the domain controller certificate and remove ad.insecureSkipVerify.',
  },
  DWB_AD_CLOUD_ISSUER_MISSING: {
    exit: ExitCode.failure,
    fix: 'AD FS refuses every device certificate until the Device Registration Service names the tenant\'s cloud DRS issuer: export the issuer certificate (MS-Organization-Access; docs/prepare-forest.md, "The cloud DRS issuer", says how) and run `device-writeback init-ad --cloud-issuer <issuer.pem>` as an enterprise admin; it also sets msDS-CloudIsEnabled to TRUE.',
  },
  DWB_AD_CLOUD_ISSUER_EXPIRING: {
    exit: ExitCode.failure,
    fix: "Add the tenant's next issuer certificate before the current one expires: export it from the chain of a recently registered device and run `device-writeback init-ad --cloud-issuer <issuer.pem>` as an enterprise admin (the issuers already there are kept).",
  },
  DWB_AD_CLOUD_ISSUER_UNREADABLE: {
    exit: ExitCode.failure,
    fix: 'A value of msDS-CloudIssuerPublicCertificates is not a DER X.509 certificate: look at the values with ldapsearch and remove that one with ldapmodify, as an enterprise admin (init-ad never removes values).',
  },
  DWB_AD_STALE_CLEANUP: {
    exit: ExitCode.failure,
    fix: "Run `device-writeback init-ad` as an enterprise admin: it sets msDS-MaximumRegistrationInactivityPeriod to 0, so that AD FS's stale-device cleanup does not delete written devices (on an AD FS server, Set-AdfsDeviceRegistration -MaximumInactiveDays 0 does the same).",
  },
  DWB_CLOUD_ISSUER_INVALID: {
    exit: ExitCode.usage,
    fix: "Give --cloud-issuer the PEM (or DER) file of the tenant's cloud Device Registration Service issuer certificate (MS-Organization-Access); docs/prepare-forest.md says how to export it from a registered device or from a forest Azure AD Connect prepared.",
  },
  DWB_CLOUD_ISSUER_NOT_CA: {
    exit: ExitCode.usage,
    fix: 'Give the certificate of the issuer (the MS-Organization-Access CA that signed the device certificates), not a device certificate: it must be a CA certificate (basicConstraints CA, keyUsage keyCertSign).',
  },
  DWB_CLOUD_ISSUER_EXPIRED: {
    exit: ExitCode.usage,
    fix: "Export the tenant's current issuer certificate (from the chain of a recently registered device) and give that file to --cloud-issuer.",
  },
  DWB_AD_CONTAINER_MISSING: {
    exit: ExitCode.failure,
    fix: 'Run `device-writeback init-ad` to create the device container, then run again.',
  },
  DWB_ADMIN_PASSWORD_MISSING: {
    exit: ExitCode.usage,
    fix: 'Set DWB_ADMIN_PASSWORD, or run init-ad on a terminal to be prompted for it.',
  },
  DWB_ENTRA_AUTH_FAILED: {
    exit: ExitCode.failure,
    fix: 'Check entra.tenantId, entra.clientId and the client secret or certificate of the app registration (it may have expired).',
  },
  DWB_ENTRA_FORBIDDEN: {
    exit: ExitCode.failure,
    fix: 'Grant the app registration the Microsoft Graph application permissions Device.Read.All and User.Read.All, with admin consent.',
  },
  DWB_ENTRA_UNREACHABLE: {
    exit: ExitCode.failure,
    fix: 'Check entra.graphUrl / entra.authorityHost, the network path and (for the emulator) entra.caFile.',
  },
  DWB_ENTRA_OWNER_NO_SID: {
    exit: ExitCode.failure,
    fix: 'Synchronize these users from on-premises Active Directory (Entra Connect or Cloud Sync) so that they carry their AD SID; devices of cloud-only users are still written, without msDS-RegisteredOwner.',
  },
  DWB_ENTRA_THROTTLED: {
    exit: ExitCode.failure,
    fix: 'Microsoft Graph kept throttling after several retries; the next cycle will try again.',
  },
  DWB_ENTRA_BAD_RESPONSE: {
    exit: ExitCode.failure,
    fix: 'Microsoft Graph answered something unexpected; run with --log-level debug and report it.',
  },
  DWB_SCOPE_GROUP_NOT_FOUND: {
    exit: ExitCode.failure,
    fix: 'Check the group object ids in writeback.scope.groups (`device-writeback check` verifies each one, entra.scope-groups): correct the id, restore the deleted group in Entra ID (deleted groups can be restored for 30 days), or remove it from the list. The pass stops rather than delete every device of a group that cannot be found.',
  },
  DWB_STATE_LOCKED: {
    exit: ExitCode.failure,
    fix: 'Another sync or run is using this state store. Stop it first, or give this one its own state.sqlite. With state.postgres, `run` instances share the store (one leads, the others stand by); a one-shot sync waits for no leader: use the console of the leader (Run a cycle now) or stop the group first.',
  },
  DWB_STATE_UNAVAILABLE: {
    exit: ExitCode.failure,
    fix: 'Check that the directory of state.sqlite exists and is writable by this user; with state.postgres, that the database server answers at the address of the URL and accepts this role and password.',
  },
  DWB_FOREST_OVERLAP: {
    exit: ExitCode.usage,
    fix: 'Each domain belongs to one forest: check the forests: list (two entries may point at DCs of the same forest) and keep one entry per forest.',
  },
  DWB_STATE_VERSION: {
    exit: ExitCode.failure,
    fix: 'Run the newer device-writeback that wrote this store, or move the store aside (it can always be rebuilt: AD holds the anchors, Graph the devices) and run `device-writeback sync --full`.',
  },
  DWB_STATE_FENCED: {
    exit: ExitCode.failure,
    fix: 'Another instance of the group now leads (its lease began after this one could no longer renew): this one stopped writing, and nothing is lost. Nothing to do when another instance leads; if this happens often, check the network path and latency to the database.',
  },
  DWB_STATE_CORRUPT: {
    exit: ExitCode.failure,
    fix: 'Move the store aside (keep it for analysis) and run `device-writeback sync --full`: it rebuilds the state from AD and Entra ID with no duplicate and no loss.',
  },
  DWB_WEB_TOKEN_REQUIRED: {
    exit: ExitCode.usage,
    fix: 'Set web.token (as { env: NAME } or { file: PATH }) or listen on a loopback address such as 127.0.0.1.',
  },
  DWB_WEB_TOKEN_WEAK: {
    exit: ExitCode.usage,
    fix: 'Give web.token at least 16 characters, best a random value such as the output of `openssl rand -base64 24`, kept in the environment variable or file it refers to.',
  },
  DWB_WEB_LISTEN_FAILED: {
    exit: ExitCode.failure,
    fix: 'Choose another address or port with --listen (or web.listen), or stop the process that uses it.',
  },
  DWB_PREREQ_MISSING: {
    exit: ExitCode.failure,
    fix: 'Install the missing packages listed above, then run again.',
  },
  DWB_EMULATOR_DATA: {
    exit: ExitCode.failure,
    fix: 'Move the file (and its .journal) aside and start again: the emulator then starts an empty directory, or seeds a new one with --devices. Files of another version are not converted.',
  },
  DWB_NOT_FOUND: { exit: ExitCode.failure, fix: 'Check the identifier and try again.' },
  DWB_INTERNAL: {
    exit: ExitCode.failure,
    fix: 'This is a bug; run again with --log-level debug and report the output.',
  },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof errorCatalog;

/** An error meant for the user: a stable code, what happened, what to do. */
export class DwbError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly fix: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; fix?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DwbError';
    this.code = code;
    this.exitCode = errorCatalog[code].exit;
    this.fix = options?.fix ?? errorCatalog[code].fix;
  }

  /** The one-paragraph text shown to the user. */
  describe(): string {
    return `${this.code}: ${this.message}\n  What to do: ${this.fix}`;
  }
}

export function isDwbError(err: unknown): err is DwbError {
  return err instanceof DwbError;
}

/** Best short description of any thrown value, without a stack. */
export function causeText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
