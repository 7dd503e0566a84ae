// Fault injection and request statistics, for tests and demos: the next N matching requests can be
// throttled (429 with Retry-After, fractional seconds allowed), fail with 503 or any status, or be
// delayed; the counters let a test assert how many calls a client really made.
import { z } from 'zod';

export const faultRuleSchema = z
  .object({
    /** HTTP status to answer with (429, 503, 500, …); omit for a pure delay. */
    status: z.number().int().min(400).max(599).optional(),
    /** Seconds for the Retry-After header (429/503); fractional values are sent as given. */
    retryAfter: z.number().min(0).optional(),
    /** Milliseconds to wait before handling the request. */
    latencyMs: z.number().int().min(0).max(120_000).optional(),
    /** How many matching requests the rule applies to (default 1); 0 means until cleared. */
    count: z.number().int().min(0).optional(),
    /** Only requests whose path starts with this (default `/v1.0/`; `/` includes the token endpoint). */
    path: z.string().startsWith('/').optional(),
    /** Only this HTTP method. */
    method: z.string().optional(),
    /** The Graph `error.code` to answer with (defaults per status). */
    code: z.string().optional(),
  })
  .strict();

export type FaultRuleInput = z.infer<typeof faultRuleSchema>;

export interface FaultRule extends FaultRuleInput {
  id: number;
  /** Matching requests still to affect; null = until cleared. */
  remaining: number | null;
  applied: number;
}

/** Body of `POST /_emulator/faults`: one rule, a list of rules, and/or token expiries. */
export const faultRequestSchema = faultRuleSchema
  .extend({
    rules: z.array(faultRuleSchema).optional(),
    expireDeltaTokens: z.boolean().optional(),
    expireAccessTokens: z.boolean().optional(),
  })
  .strict();

export type FaultRequest = z.infer<typeof faultRequestSchema>;

/** What the matching rules decided for one request. */
export interface FaultDecision {
  latencyMs: number;
  failure?: { status: number; code: string; message: string; retryAfter?: number };
}

const defaultCodes: Record<number, [string, string]> = {
  429: ['TooManyRequests', 'Too many requests. Please retry after the time given in the Retry-After header.'],
  500: ['generalException', 'An unspecified error has occurred.'],
  502: ['badGateway', 'Bad gateway.'],
  503: [
    'serviceNotAvailable',
    'The service is temporarily unavailable. Please retry after the time given in the Retry-After header.',
  ],
  504: ['gatewayTimeout', 'The gateway timed out.'],
};

export class FaultInjector {
  private rules: FaultRule[] = [];
  private nextId = 1;

  add(input: FaultRuleInput): FaultRule {
    const rule: FaultRule = {
      ...input,
      id: this.nextId++,
      remaining: input.count === 0 ? null : (input.count ?? 1),
      applied: 0,
    };
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    return this.rules.map((r) => ({ ...r }));
  }

  clear(): void {
    this.rules = [];
  }

  /** Consumes the rules that match this request and says what to do. */
  decide(method: string, path: string): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0 };
    for (const rule of this.rules) {
      if (!path.startsWith(rule.path ?? '/v1.0/')) continue;
      // A batch is judged by its inner requests, unless a rule names $batch itself.
      if (path === '/v1.0/$batch' && !rule.path?.startsWith('/v1.0/$batch')) continue;
      if (rule.method && rule.method.toUpperCase() !== method.toUpperCase()) continue;
      if (rule.status !== undefined && decision.failure) continue;
      rule.applied++;
      if (rule.remaining !== null) rule.remaining--;
      decision.latencyMs += rule.latencyMs ?? 0;
      if (rule.status !== undefined) {
        const [code, message] = defaultCodes[rule.status] ?? [
          'generalException',
          `Injected failure (${rule.status}).`,
        ];
        decision.failure = {
          status: rule.status,
          code: rule.code ?? code,
          message,
          retryAfter: rule.retryAfter ?? (rule.status === 429 || rule.status === 503 ? 1 : undefined),
        };
      }
    }
    this.rules = this.rules.filter((r) => r.remaining === null || r.remaining > 0);
    return decision;
  }
}

/** Request counters, read by tests through `GET /_emulator/stats` or the programmatic API. */
export class RequestStats {
  total = 0;
  byRoute: Record<string, number> = {};
  byStatus: Record<string, number> = {};
  faultsInjected = 0;

  record(route: string, status: number): void {
    this.total++;
    this.byRoute[route] = (this.byRoute[route] ?? 0) + 1;
    this.byStatus[String(status)] = (this.byStatus[String(status)] ?? 0) + 1;
  }

  reset(): void {
    this.total = 0;
    this.byRoute = {};
    this.byStatus = {};
    this.faultsInjected = 0;
  }

  snapshot(): {
    total: number;
    byRoute: Record<string, number>;
    byStatus: Record<string, number>;
    faultsInjected: number;
  } {
    return {
      total: this.total,
      byRoute: { ...this.byRoute },
      byStatus: { ...this.byStatus },
      faultsInjected: this.faultsInjected,
    };
  }
}
