/**
 * Connection-level database failures as one typed, retryable error. A terminated backend
 * (`pg_terminate_backend`, a server restart or fail-over), a reset socket or a refused connection says
 * nothing about the statement: the same work succeeds once the server is back, so callers retry it
 * (the sink, with backoff) or answer "unavailable, retry" (the API, 503). Everything else, e.g. a
 * constraint violation, is a bug or bad input and is passed through unchanged.
 */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  readonly code = 'DB_UNAVAILABLE' as const;
  /** Always true: retrying the whole unit of work (query or transaction) is safe and can succeed. */
  readonly retryable = true as const;
  /** The driver's code for the failure (e.g. `57P01`, `ECONNRESET`), for logs. */
  readonly reason: string;
  constructor(message: string, reason: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** True for a {@link DatabaseUnavailableError} (also one wrapped as an error's `cause`). */
export function isDatabaseUnavailable(error: unknown): error is DatabaseUnavailableError {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailableError) return true;
  }
  return false;
}

/*
 * SQLSTATEs that mean "this connection or server is gone or not accepting work", not "your statement
 * is wrong": class 08 (connection exception), 57P01 admin_shutdown (pg_terminate_backend, smart/fast
 * shutdown), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up / recovering), 53300
 * too_many_connections.
 */
const UNAVAILABLE_SQLSTATE = /^(08\w{3}|57P01|57P02|57P03|53300)$/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
// node-postgres reports a dropped socket, a client that is no longer usable and a pool connect timeout
// with plain Errors and these messages only.
const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect|Connection closed/;

/** The failure code when `error` is a connection-level failure, else undefined. */
export function unavailableReason(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code)))
    return code;
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const reason = unavailableReason(inner);
      if (reason) return reason;
    }
  }
  if (UNAVAILABLE_MESSAGE.test(error.message)) return 'CONNECTION_LOST';
  return undefined;
}

/** Wraps a connection-level failure in a {@link DatabaseUnavailableError}; returns anything else as is. */
export function toDatabaseError(error: unknown): unknown {
  if (isDatabaseUnavailable(error)) return error;
  const reason = unavailableReason(error);
  if (reason === undefined) return error;
  return new DatabaseUnavailableError(
    `database unavailable (${reason}): ${(error as Error).message}`,
    reason,
    { cause: error },
  );
}
