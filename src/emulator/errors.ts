// Error bodies exactly as Microsoft Graph and the Microsoft identity platform write them, so that a
// client's error handling can be tested against the emulator.
import { randomUUID } from 'node:crypto';

/** A Graph error: HTTP status plus the `error.code` Graph documents for it. */
export class GraphError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'GraphError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function notFound(id: string): GraphError {
  return new GraphError(
    404,
    'Request_ResourceNotFound',
    `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
  );
}

export function badRequest(message: string, code = 'Request_BadRequest'): GraphError {
  return new GraphError(400, code, message);
}

/** `2025-06-01T12:00:00` (Graph's innerError date has no fraction and no zone). */
export function graphDate(now = new Date()): string {
  return now.toISOString().slice(0, 19);
}

/** `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`. */
export function graphErrorBody(error: GraphError, requestId: string, clientRequestId: string): unknown {
  return {
    error: {
      code: error.code,
      message: error.message,
      innerError: { date: graphDate(), 'request-id': requestId, 'client-request-id': clientRequestId },
    },
  };
}

/** An identity platform (token endpoint) error: `error`, an AADSTS code and the usual trace fields. */
export class IdentityError extends Error {
  readonly status: number;
  readonly error: string;
  readonly aadsts: number;

  constructor(status: number, error: string, aadsts: number, description: string) {
    super(description);
    this.name = 'IdentityError';
    this.status = status;
    this.error = error;
    this.aadsts = aadsts;
  }
}

export function identityErrorBody(err: IdentityError, origin: string): Record<string, unknown> {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z';
  return {
    error: err.error,
    error_description: `AADSTS${err.aadsts}: ${err.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [err.aadsts],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${origin}/error?code=${err.aadsts}`,
  };
}
