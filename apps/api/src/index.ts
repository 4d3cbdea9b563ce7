export { assertMayAccess, createAuthenticator, type Principal } from './auth.ts';
export { type ApiConfig, apiSpec, loadApiConfig, USER_TOKEN } from './config.ts';
export { API_ERRORS, ApiError, type ApiErrorCode, isDatabaseUnavailable, toApiError } from './errors.ts';
export { LIVE_SQL, type LiveChange, LiveHub } from './live.ts';
export { type Api, type StartApiOptions, startApi } from './server.ts';
