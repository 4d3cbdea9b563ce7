/**
 * The API's error catalog (docs/errors.md, API_*): each code has exactly one HTTP status. Every error
 * leaves the server as `{ "error": { "code", "message" } }`; stack traces never do.
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
  API_UNAUTHENTICATED: 401,
  API_FORBIDDEN: 403,
  API_NOT_FOUND: 404,
  API_USER_NOT_FOUND: 404,
  API_USER_ERASED: 410,
  API_UNAVAILABLE: 503,
  API_INTERNAL: 500,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ApiErrorCode;
  readonly status: number;
  constructor(code: ApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = API_ERRORS[code];
  }
}

/** JSON body of every error response. */
export const errorBody = (code: ApiErrorCode, message: string) => ({ error: { code, message } });
