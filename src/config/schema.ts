// The configuration contract of SPEC §5, as a zod schema: unknown keys, missing keys and wrong types
// are refused with the key's path; defaults are the SPEC's.
import { z } from 'zod';

const secretRef = z.union(
  [
    z.strictObject({ env: z.string().min(1, 'the environment variable name is empty') }),
    z.strictObject({ file: z.string().min(1, 'the file path is empty') }),
  ],
  { error: 'expected a secret reference: { env: NAME } or { file: PATH }' },
);

/** A secret: a plain string is refused (see DWB_SECRET_PLAIN), only references are accepted. */
const secret = z.any().superRefine((value, ctx) => {
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

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, such as 127.0.0.1:8080');

export const trustTypeValues = ['Workplace', 'AzureAd', 'ServerAd'] as const;

export const configSchema = z.strictObject({
  entra: z
    .strictObject({
      tenantId: z.string().min(1),
      clientId: z.string().min(1),
      clientSecret: secret.optional(),
      clientCertificate: secret.optional(),
      graphUrl: z.url().default('https://graph.microsoft.com'),
      authorityHost: z.url().default('https://login.microsoftonline.com'),
      caFile: z.string().min(1).optional(),
      pageSize: z.number().int().min(1).max(999).default(999),
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
    .optional(),
  ad: z.strictObject({
    url: z.string().regex(/^ldaps?:\/\/[^/\s]+\/?$/i, 'expected ldaps://host[:port] or ldap://host[:port]'),
    startTls: z.boolean().default(false),
    bindDn: z.string().min(1),
    password: secret,
    caFile: z.string().min(1).optional(),
    insecureSkipVerify: z.boolean().default(false),
    domain: z.string().min(1).optional(),
    timeoutSeconds: z.number().positive().max(300).default(10),
  }),
  writeback: z
    .strictObject({
      intervalSeconds: z.number().positive().default(5),
      fullEverySeconds: z.number().positive().default(86400),
      deleteThreshold: z.number().int().min(0).default(500),
      trustTypes: z
        .array(z.enum(trustTypeValues))
        .min(1)
        .default([...trustTypeValues]),
      concurrency: z.number().int().min(1).max(32).default(2),
    })
    .prefault({}),
  state: z
    .strictObject({
      sqlite: z.string().min(1).optional(),
      postgres: secret.optional(),
    })
    .prefault({}),
  web: z
    .strictObject({
      listen: hostPort.default('127.0.0.1:8080'),
      token: secret.optional(),
    })
    .prefault({}),
});

export type RawConfig = z.infer<typeof configSchema>;
