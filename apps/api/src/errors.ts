import { isDatabaseUnavailable } from '@footfall/db';
import type { FastifyError } from 'fastify';

/**
 * The API's error catalog (docs/errors.md, API_*): each code has exactly one HTTP status. Every error
 * leaves the server as `{ "error": { "code", "message" } }`; stack traces never do, and messages name
 * the offending parameter without echoing what the client sent.
 */
export const API_ERRORS = {
  API_BAD_REQUEST: 400,
  API_INVALID_CELL: 400,
  API_INVALID_COORDINATES: 400,
  API_INVALID_TIME: 400,
  API_INVALID_RANGE: 400,
  API_RANGE_TOO_LARGE: 400,
  API_INVALID_STEP: 400,
  API_INVALID_BBOX: 400,
  API_INVALID_REGION: 400,
  API_INVALID_RESOLUTION: 400,
  API_INVALID_ALERT: 400,
  API_INVALID_WEBHOOK: 400,
  API_INVALID_GEOMETRY: 400,
  API_UNAUTHENTICATED: 401,
  API_FORBIDDEN: 403,
  API_NOT_FOUND: 404,
  API_USER_NOT_FOUND: 404,
  API_ALERT_NOT_FOUND: 404,
  API_PLACE_NOT_FOUND: 404,
  API_METHOD_NOT_ALLOWED: 405,
  API_REQUEST_TIMEOUT: 408,
  API_USER_ERASED: 410,
  API_PAYLOAD_TOO_LARGE: 413,
  API_URI_TOO_LONG: 414,
  API_BAD_MEDIA_TYPE: 415,
  API_PLACE_UNMAPPABLE: 422,
  API_PRIVACY_BUDGET_EXHAUSTED: 429,
  API_HEADERS_TOO_LARGE: 431,
  API_INTERNAL: 500,
  API_UNAVAILABLE_IN_DP_MODE: 501,
  API_UNAVAILABLE: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;
export type ApiErrorStatus = (typeof API_ERRORS)[ApiErrorCode];

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly status: ApiErrorStatus;
  constructor(code: ApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = API_ERRORS[code];
  }
}

/** JSON body of every error response. */
export const errorBody = (code: ApiErrorCode, message: string) => ({ error: { code, message } });

/**
 * Whether `error` means "the database is unavailable" (retry later), as opposed to a bug: the typed
 * retryable error that @footfall/db raises for a lost, reset or refused connection.
 */
export { isDatabaseUnavailable } from '@footfall/db';

/** Fastify's own 4xx errors by status; the messages are fixed (theirs can quote the request). */
const FRAMEWORK_4XX: Record<number, [ApiErrorCode, string]> = {
  404: ['API_NOT_FOUND', 'no such route'],
  408: ['API_REQUEST_TIMEOUT', 'the request took too long to arrive'],
  413: [
    'API_PAYLOAD_TOO_LARGE',
    'the request body is too large (place writes: 1 MiB at most; no other endpoint takes a body)',
  ],
  414: ['API_URI_TOO_LONG', 'a path parameter is too long'],
  415: [
    'API_BAD_MEDIA_TYPE',
    'unsupported Content-Type (place writes take application/json; no other endpoint takes a body)',
  ],
  431: ['API_HEADERS_TOO_LARGE', 'request headers too large (16 KiB at most)'],
};

/**
 * Every error thrown while serving a request → the catalog error it answers with (the single mapping
 * to HTTP). `internal` tells the caller to log the original: it is a bug (or an outage), not bad input.
 */
export function toApiError(error: unknown): { apiError: ApiError; internal: boolean } {
  // 501 is a refusal by design (PRIVACY_MODE=dp), not a failure: nothing to log.
  if (error instanceof ApiError)
    return { apiError: error, internal: error.status >= 500 && error.status !== 501 };
  const fe = error as Partial<FastifyError>;
  if (fe.validation) {
    // Ajv's messages name the field and the rule (`querystring/k must be <= 100`), never the value.
    const where = fe.validationContext ?? 'request';
    return {
      apiError: new ApiError('API_BAD_REQUEST', `${where} ${fe.message ?? 'is invalid'}`),
      internal: false,
    };
  }
  if (isDatabaseUnavailable(error)) {
    return {
      apiError: new ApiError('API_UNAVAILABLE', 'the database is unavailable; retry later', { cause: error }),
      internal: true,
    };
  }
  const status = fe.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const known = FRAMEWORK_4XX[status];
    if (known) return { apiError: new ApiError(known[0], known[1]), internal: false };
    const code = typeof fe.code === 'string' && /^FST_ERR_[A-Z_]+$/.test(fe.code) ? ` (${fe.code})` : '';
    return { apiError: new ApiError('API_BAD_REQUEST', `malformed request${code}`), internal: false };
  }
  return { apiError: new ApiError('API_INTERNAL', 'internal error', { cause: error }), internal: true };
}
