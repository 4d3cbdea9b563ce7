export { assertMayAccess, createAuthenticator, type Principal } from './auth.ts';
export { type ApiConfig, apiSpec, loadApiConfig, USER_TOKEN } from './config.ts';
export { type DashboardOptions, dashboardCsp, registerDashboard } from './dashboard.ts';
export { API_ERRORS, ApiError, type ApiErrorCode, isDatabaseUnavailable, toApiError } from './errors.ts';
export { LIVE_SQL, type LiveChange, LiveHub } from './live.ts';
export { chargeBudget, ledgerOf, periodOf } from './privacy/budget-ledger.ts';
export {
  createGate,
  dpGate,
  kAnonymityGate,
  type PublicCountGate,
  type QueryFamily,
  type SeriesQuery,
} from './privacy/gate.ts';
export { DP_RELEASE_LOCK_KEY, ReleaseStore } from './privacy/release-store.ts';
export { type Api, type StartApiOptions, startApi } from './server.ts';
