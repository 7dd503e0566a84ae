// The configuration contract of SPEC §5, as a zod schema: unknown keys, missing keys and wrong types
// are refused with the key's path; defaults are the SPEC's. Each key's description lives here too:
// docs/configuration.md is generated from this schema (`npm run docs`).
import { z } from 'zod';

const secretRef = z.union(
  [
    z.strictObject({ env: z.string().min(1, 'the environment variable name is empty') }),
    z.strictObject({ file: z.string().min(1, 'the file path is empty') }),
  ],
  { error: 'expected a secret reference: { env: NAME } or { file: PATH }' },
);

/** A secret: a plain string is refused (see DWB_SECRET_PLAIN), only references are accepted. */
const secretValue = z.any().superRefine((value, ctx) => {
  if (typeof value === 'string') {
    ctx.addIssue({
      code: 'custom',
      message:
        'a secret written as plain text is refused: secrets must not live in the configuration file. Write { env: NAME } or { file: PATH } instead',
      params: { plainSecret: true },
    });
    return;
  }
  const parsed = secretRef.safeParse(value);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: 'expected a secret reference: { env: NAME } or { file: PATH }' });
  }
}) as unknown as typeof secretRef;
/** Named, so that docs/configuration.md shows every secret key with the type "secret". */
const secret = secretValue.meta({
  title: 'secret',
  description:
    'a secret reference: { env: NAME } or { file: PATH } (a regular file of at most 64 KiB); never empty',
});

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, such as 127.0.0.1:8080')
  .refine((listen) => Number(/:(\d+)$/.exec(listen)?.[1] ?? 0) <= 65535, {
    message: 'the port is not a TCP port: expected 0–65535 (0 picks a free one)',
  });

/**
 * The authority of an LDAP URL may carry neither credentials (a password there is a plain-text
 * secret: DWB_SECRET_PLAIN) nor a port outside 1–65535 (which would fail later as "not a URL").
 */
const ldapUrl = z
  .string()
  .regex(/^ldaps?:\/\/[^/\s]+\/?$/i, 'expected ldaps://host[:port] or ldap://host[:port]')
  .superRefine((url, ctx) => {
    const authority = url.replace(/^ldaps?:\/\//i, '').replace(/\/$/, '');
    const at = authority.lastIndexOf('@');
    if (at >= 0) {
      const password = authority.slice(0, at).includes(':');
      ctx.addIssue({
        code: 'custom',
        message: password
          ? 'a password written in the URL (ldaps://user:password@host) is refused like any plain-text secret: put the account in bindDn and its password in password as { env: NAME } or { file: PATH }'
          : 'the URL names an account (user@host): put the account in bindDn and give the URL as ldaps://host[:port]',
        ...(password ? { params: { plainSecret: true } } : {}),
      });
      return;
    }
    const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)?.[1];
    if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
      ctx.addIssue({
        code: 'custom',
        message: `the port ${port === '' ? '(empty)' : port} is not a TCP port: expected 1–65535 (636 for LDAPS, 389 for StartTLS)`,
      });
    }
  });

export const trustTypeValues = ['Workplace', 'AzureAd', 'ServerAd'] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The scope rules of SPEC §2: a device is written when it passes every rule that is set. */
const scopeSchema = z
  .strictObject({
    operatingSystems: z
      .array(z.string().trim().min(1, 'an empty operating system name'))
      .min(1, 'list at least one operating system, or leave the key out')
      .optional()
      .meta({
        description:
          'Only devices whose Graph `operatingSystem` is one of these (case-insensitive), such as `[Windows]` or `[Windows, macOS]`.',
      }),
    managedOnly: z.boolean().default(false).meta({
      description: 'Only devices managed by an MDM such as Intune (Graph `isManaged` true).',
    }),
    compliantOnly: z.boolean().default(false).meta({
      description: 'Only devices that comply with the MDM policies (Graph `isCompliant` true).',
    }),
    groups: z
      .array(
        z
          .string()
          .trim()
          .regex(
            GUID,
            "not a GUID: give the group's object id (Entra admin center > Groups > the group > Object ID)",
          )
          .transform((id) => id.toLowerCase()),
      )
      .min(1, 'list at least one group, or leave the key out')
      .max(500, 'at most 500 groups')
      .optional()
      .meta({
        description:
          'Only devices that are members of one of these Entra groups (object ids), directly or through nested groups. Membership is read incrementally (`groups/delta`); the app needs the Graph permission `GroupMember.Read.All`. `check` verifies each group (`entra.scope-groups`).',
      }),
    requireOnPremisesOwner: z.boolean().default(false).meta({
      description:
        "Only devices whose registered owner is a user synchronized from on-premises AD (has an `onPremisesSecurityIdentifier`), so that AD FS can tie the device to the user's account.",
    }),
  })
  .superRefine((scope, ctx) => {
    const seen = new Map<string, number>();
    scope.groups?.forEach((id, i) => {
      if (seen.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i],
          message: `the same group as groups[${seen.get(id)}]`,
        });
      else seen.set(id, i);
    });
  })
  .prefault({})
  .meta({
    description:
      'Which devices are written, on top of `trustTypes`: a device is written when it passes every rule that is set (see docs/scope.md). A device that leaves the scope is deleted from AD (counted toward `deleteThreshold`); a change of these rules is applied by the next pass, which is then a full one.',
  });

/** An `ad:` block: one forest's domain controller and connector account. */
const adBlock = z
  .strictObject({
    url: ldapUrl.meta({
      description:
        'A domain controller: `ldaps://host[:port]`, or `ldap://host[:port]` with `startTls`; a host name or an IP address (the certificate is checked against it) and a port from 1 to 65535, never an account or a password (`DWB_SECRET_PLAIN`).',
    }),
    startTls: z.boolean().default(false).meta({
      description:
        'Upgrade an `ldap://` connection with StartTLS. Required with `ldap://`: plain LDAP is refused (`DWB_AD_TLS_REQUIRED`).',
    }),
    bindDn: z.string().min(1).meta({
      description:
        'The connector account that writes the devices (DN, UPN or `DOMAIN\\name`); `init-ad` grants it its rights.',
    }),
    password: secret.meta({
      description: "The connector account's password; an empty one is refused (`DWB_SECRET_EMPTY`).",
    }),
    caFile: z.string().min(1).optional().meta({
      description:
        "The CA (PEM) that issued the domain controller's certificate; the system CAs when absent. The certificate is always verified. A file that holds no PEM certificate is a configuration error. Relative to the configuration file.",
    }),
    insecureSkipVerify: z.boolean().default(false).meta({
      description:
        "Do not verify the domain controller's certificate: for labs only; prints a warning at every start.",
    }),
    domain: z.string().min(1).optional().meta({
      description:
        "DNS name of the domain where `CN=RegisteredDevices` lives. When absent: the domain of the forest's `msDS-DeviceLocation`, else the connector's domain. `init-ad` takes it as the default of `--domain`.",
    }),
    timeoutSeconds: z.number().positive().max(300).default(10).meta({
      description: 'Connect and operation timeout, in seconds.',
    }),
  })
  .meta({
    description:
      'The AD connector: a domain controller of the forest and the connector account that writes the devices (see docs/prepare-forest.md).',
  });

/** A forest's label: used by --forest, JSON, metrics, the console and the state store. */
const forestName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/,
    'expected a label of letters, digits, - and _ (at most 32), such as corp',
  )
  .meta({
    description: "The forest's label: `--forest`, JSON, metrics, the console and the state store use it.",
  });

export const configSchema = z
  .strictObject({
    entra: z
      .strictObject({
        tenantId: z.string().min(1).meta({
          description:
            'Directory (tenant) ID: the tenant GUID, or a verified domain such as `contoso.onmicrosoft.com`.',
        }),
        clientId: z.string().min(1).meta({ description: 'Application (client) ID of the app registration.' }),
        clientSecret: secret.optional().meta({
          description:
            "The app registration's client secret (its Value, not its Secret ID). Give exactly one of `clientSecret` or `clientCertificate`.",
        }),
        clientCertificate: secret.optional().meta({
          description:
            "A PEM file holding the app registration's certificate and its unencrypted private key, instead of `clientSecret`.",
        }),
        graphUrl: z.url().default('https://graph.microsoft.com').meta({
          description: "Microsoft Graph; the emulator's URL for local use.",
        }),
        authorityHost: z.url().default('https://login.microsoftonline.com').meta({
          description:
            "The identity platform that issues the tokens (the emulator's URL for local use); any other host than the default turns instance discovery off.",
        }),
        caFile: z.string().min(1).optional().meta({
          description:
            "An extra CA (PEM) to trust, such as the emulator's, added to the system CAs for the token and the Graph requests; TLS is always verified. A file that holds no PEM certificate is a configuration error. Relative to the configuration file.",
        }),
        pageSize: z.number().int().min(1).max(999).default(999).meta({
          description: 'Devices per Graph delta page.',
        }),
      })
      .superRefine((e, ctx) => {
        if (!e.clientSecret && !e.clientCertificate) {
          ctx.addIssue({
            code: 'custom',
            path: ['clientSecret'],
            message: 'one of clientSecret or clientCertificate is required',
          });
        }
        if (e.clientSecret && e.clientCertificate) {
          ctx.addIssue({
            code: 'custom',
            path: ['clientCertificate'],
            message: 'give either clientSecret or clientCertificate, not both',
          });
        }
      })
      .optional()
      .meta({
        description:
          'The Entra connector: the app registration that reads devices from Microsoft Graph (see docs/entra.md). Without it, `check` skips the `entra.*` checks, and `sync` and `run` cannot start.',
      }),
    ad: adBlock.optional(),
    forests: z
      .array(z.strictObject({ name: forestName, ad: adBlock }))
      .min(1)
      .optional()
      .meta({
        description:
          'Several user forests (see docs/several-forests.md), instead of `ad:`: each with a `name` and the keys of an `ad:` block. Each device is written to the forest of its registered owner.',
      }),
    writeback: z
      .strictObject({
        intervalSeconds: z.number().positive().default(5).meta({
          description: 'Seconds between the delta cycles of `run`.',
        }),
        fullEverySeconds: z.number().positive().default(86400).meta({
          description: 'Seconds between the full reconciles of `run` (which also repair drift).',
        }),
        deleteThreshold: z.number().int().min(0).default(500).meta({
          description:
            'The most objects deleted within `deleteWindowSeconds`: deletions that would go over it are held (none is made, the watermark waits, `sync` exits 4, `run` keeps running with /healthz at 503) until `approve-deletes` or `sync --allow-deletes`.',
        }),
        deleteWindowSeconds: z.number().int().min(1).default(3600).meta({
          description:
            'The sliding window over which deletions are counted against `deleteThreshold`, across passes (600 deletions spread over short `run` cycles are held like 600 in one pass).',
        }),
        trustTypes: z
          .array(z.enum(trustTypeValues))
          .min(1)
          .default([...trustTypeValues])
          .meta({
            description:
              'Which devices are written back, by their Graph `trustType`: `Workplace` (registered), `AzureAd` (Entra joined), `ServerAd` (hybrid joined).',
          }),
        scope: scopeSchema,
        concurrency: z.number().int().min(1).max(32).default(2).meta({
          description:
            'LDAP operations the export keeps in flight to each forest, pipelined on one LDAPS session.',
        }),
        defaultForest: forestName.optional().meta({
          description:
            'Several forests only: where a device goes whose registered owner is in none of the forests (a cloud-only owner, or none). Without it such a device is not written and is listed as unrouted.',
        }),
      })
      .prefault({})
      .meta({ description: 'What is written back, and how often (see docs/how-sync-works.md).' }),
    state: z
      .strictObject({
        sqlite: z.string().min(1).optional().meta({
          description:
            'The SQLite state store; `device-writeback.db` next to the configuration file when absent. Relative to the configuration file.',
        }),
        postgres: secret.optional().meta({
          description:
            'PostgreSQL state instead of SQLite: a secret holding a `postgres://user:password@host:port/database` URL. Several `run` instances pointed at the same database form an active/passive group (see docs/high-availability.md). TLS per `sslmode` as in libpq (`disable`, `require`, `verify-ca`, `verify-full`; the default is `verify-full`; `prefer` and `allow` are refused), the server verified against `sslrootcert=<PEM file>` or the system CAs. The tables live in the schema `device_writeback`, created and migrated by the product.',
        }),
      })
      .prefault({})
      .meta({
        description:
          'Where the engine keeps its state: the watermark, the objects it wrote, the quarantine and the run history.',
      }),
    web: z
      .strictObject({
        listen: hostPort.default('127.0.0.1:8080').meta({
          description:
            'Where `run` serves the console, `/metrics` and `/healthz`, as `host:port` (`[::1]:8080` for IPv6); `run --listen` overrides it.',
        }),
        token: secret.optional().meta({
          description:
            'The token that every page, `/metrics` and every action then require (`/healthz` stays open): at least 16 characters (`DWB_WEB_TOKEN_WEAK`). Required when `listen` is not a loopback address.',
        }),
      })
      .prefault({})
      .meta({ description: 'The web console, `/metrics` and `/healthz` of `run` (see docs/operating.md).' }),
  })
  .superRefine((c, ctx) => {
    if (!c.ad && !c.forests) {
      ctx.addIssue({
        code: 'custom',
        path: ['ad'],
        message: 'missing required key: give the ad: block (one forest) or the forests: list (several)',
      });
    }
    if (c.ad && c.forests) {
      ctx.addIssue({
        code: 'custom',
        path: ['forests'],
        message: 'give either ad: (one forest) or forests: (several), not both',
      });
    }
    const names = new Map<string, number>();
    c.forests?.forEach((f, i) => {
      const first = names.get(f.name.toLowerCase());
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['forests', i, 'name'],
          message: `the name ${f.name} is already the name of forests[${first}]: each forest needs its own`,
        });
      } else names.set(f.name.toLowerCase(), i);
    });
    const fallback = c.writeback.defaultForest;
    if (fallback !== undefined) {
      if (!c.forests) {
        ctx.addIssue({
          code: 'custom',
          path: ['writeback', 'defaultForest'],
          message:
            'applies to several forests only (the forests: list); with one ad: block every device goes there',
        });
      } else if (!names.has(fallback.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: ['writeback', 'defaultForest'],
          message: `names no forest of the forests: list (${c.forests.map((f) => f.name).join(', ')})`,
        });
      }
    }
  });

export type RawConfig = z.infer<typeof configSchema>;
