// The AD connector's own outcomes for a failed LDAP operation, so that the rest of the product
// judges "the object is already there", "no such object" or "the DC is not answering" without
// knowing ldapts, LDAP result codes or message texts. Only src/ad/ looks at ldapts' error classes.
import {
  AlreadyExistsError,
  BusyError,
  InsufficientAccessError,
  NoSuchAttributeError,
  NoSuchObjectError,
  ResultCodeError,
  UnavailableError,
} from 'ldapts';
import { DwbError, causeText } from '../errors.js';

export type AdOutcome =
  /** entryAlreadyExists: an add met an object at that DN. */
  | 'exists'
  /** noSuchObject: the DN (or its parent) does not exist, or the account may not see it. */
  | 'no-such-object'
  /** noSuchAttribute: a delete of a value that is already gone. */
  | 'no-such-attribute'
  /** insufficientAccessRights. */
  | 'access-denied'
  /** The DC is busy or unavailable, or the connection broke: worth a retry on a new connection. */
  | 'transient'
  /** Any other refusal (constraint, syntax, unwilling to perform…): a verdict, not worth a retry. */
  | 'refused';

/** A failed LDAP operation, as the connector reports it. */
export class AdOperationError extends Error {
  constructor(
    readonly outcome: AdOutcome,
    message: string,
    /** The LDAP result code, when the DC answered with one. */
    readonly resultCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AdOperationError';
  }
}

const TRANSIENT_SOCKET_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The outcome of any error thrown by an LDAP operation. */
export function outcomeOf(err: unknown): AdOutcome {
  if (err instanceof AdOperationError) return err.outcome;
  if (err instanceof DwbError) {
    return err.code === 'DWB_AD_UNREACHABLE' || err.code === 'DWB_AD_TIMEOUT' ? 'transient' : 'refused';
  }
  if (err instanceof AlreadyExistsError) return 'exists';
  if (err instanceof NoSuchObjectError) return 'no-such-object';
  if (err instanceof NoSuchAttributeError) return 'no-such-attribute';
  if (err instanceof InsufficientAccessError) return 'access-denied';
  if (err instanceof BusyError || err instanceof UnavailableError) return 'transient';
  if (err instanceof ResultCodeError) {
    // unwillingToPerform and the rest are verdicts; 80 (other) is what Samba answers when it is
    // shutting down or its database is busy.
    return err.code === 80 ? 'transient' : 'refused';
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_SOCKET_CODES.has(code)) return 'transient';
  // ldapts reports a dropped or unusable connection as a plain Error with a text.
  if (/connection closed|socket|timeout|timed out|not connected|ECONNRESET|closed/i.test(causeText(err)))
    return 'transient';
  return 'refused';
}

/** The LDAP result code of an error, when the DC answered with one. */
export function resultCodeOf(err: unknown): number | undefined {
  if (err instanceof AdOperationError) return err.resultCode;
  if (err instanceof ResultCodeError) return err.code;
  return undefined;
}

/** Wraps any error of an LDAP operation in the connector's outcome (idempotent). */
export function toAdOperationError(err: unknown, what: string): AdOperationError {
  if (err instanceof AdOperationError) return err;
  const code = resultCodeOf(err);
  return new AdOperationError(
    outcomeOf(err),
    `${what} failed${code !== undefined ? ` (LDAP ${code})` : ''}: ${causeText(err)}`,
    code,
    { cause: err },
  );
}
