export { type AlertsConfig, alertsSpec, loadAlertsConfig } from './config.ts';
export { backoffMs, WebhookDispatcher } from './delivery.ts';
export { ALERTS_ERRORS, type AlertsErrorCode } from './errors.ts';
export { type EvalRecord, evaluateBatch } from './evaluator.ts';
export { type Alerts, type StartAlertsOptions, startAlerts } from './service.ts';
