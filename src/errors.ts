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
    fix: 'Another sync or run is using this state store. Stop it first, or give this one its own state.sqlite.',
  },
  DWB_STATE_UNAVAILABLE: {
    exit: ExitCode.failure,
    fix: 'Check that the directory of state.sqlite exists and is writable by this user.',
  },
  DWB_STATE_VERSION: {
    exit: ExitCode.failure,
    fix: 'Run the newer device-writeback that wrote this store, or move the store aside (it can always be rebuilt: AD holds the anchors, Graph the devices) and run `device-writeback sync --full`.',
  },
  DWB_STATE_CORRUPT: {
    exit: ExitCode.failure,
    fix: 'Move the store aside (keep it for analysis) and run `device-writeback sync --full`: it rebuilds the state from AD and Entra ID with no duplicate and no loss.',
  },
  DWB_WEB_TOKEN_REQUIRED: {
    exit: ExitCode.usage,
    fix: 'Set web.token (as { env: NAME } or { file: PATH }) or listen on a loopback address such as 127.0.0.1.',
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
