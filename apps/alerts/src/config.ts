import {
  assertGroupTimings,
  type ConfigOf,
  commonSpec,
  groupConsumerSpec,
  loadConfig,
  privacyModeSpec,
  topicSpec,
  v,
} from '@footfall/config';

/** Every setting of the alerts service, with its env variable, default and unit. */
export const alertsSpec = {
  ...commonSpec,
  ...topicSpec,
  databaseUrl: v.optionalString('DATABASE_URL', 'PostgreSQL URL; unset → embedded PGlite (dev only)'),
  ...groupConsumerSpec('footfall-alerts'),
  // dp: the service evaluates nothing (dp-idle.ts); read from the variables the API and processor share.
  privacyMode: privacyModeSpec.privacyMode,
  kAnonymity: v.int('K_ANONYMITY', 5, 'public counts below this are suppressed', 1, 1_000_000),
  maxBatchRecords: v.int(
    'ALERTS_MAX_BATCH_RECORDS',
    5_000,
    'aggregated records evaluated per DB transaction (max)',
    1,
    1_000_000,
  ),
  flushIntervalMs: v.int(
    'ALERTS_FLUSH_INTERVAL_MS',
    50,
    'longest a record waits before its batch is evaluated, ms',
    1,
  ),
  webhookAllowPrivate: v.bool(
    'ALERTS_WEBHOOK_ALLOW_PRIVATE',
    false,
    'allow webhook targets on loopback/private addresses (dev, tests); link-local/metadata never',
  ),
  webhookTimeoutMs: v.int(
    'ALERTS_WEBHOOK_TIMEOUT_MS',
    5_000,
    'one webhook attempt, connect to response, ms',
    100,
    120_000,
  ),
  webhookConcurrency: v.int('ALERTS_WEBHOOK_CONCURRENCY', 32, 'webhook requests in flight (max)', 1, 1_000),
  webhookMaxAttempts: v.int(
    'ALERTS_WEBHOOK_MAX_ATTEMPTS',
    8,
    'failed attempts after which a delivery is dead-lettered',
    1,
    100,
  ),
  webhookBackoffMs: v.int(
    'ALERTS_WEBHOOK_BACKOFF_MS',
    1_000,
    'first retry delay (doubles per attempt), ms',
    1,
  ),
  webhookMaxBackoffMs: v.int('ALERTS_WEBHOOK_MAX_BACKOFF_MS', 600_000, 'longest retry delay, ms', 1),
  deliveryPollMs: v.int(
    'ALERTS_DELIVERY_POLL_MS',
    500,
    'how often the outbox is scanned for due retries (new alerts are sent at once), ms',
    10,
  ),
  opsPort: v.int('OPS_PORT', 9105, 'ops HTTP port (/metrics, /healthz, /readyz); 0 = any', 0, 65_535),
  dbPoolSize: v.int(
    'DB_POOL_SIZE',
    8,
    'PostgreSQL connections (the evaluator holds one per batch; each delivery needs one briefly)',
    1,
    100,
  ),
};

export type AlertsConfig = ConfigOf<typeof alertsSpec>;

/** Reads the service's configuration from `env`; `overrides` win (tests, dev stack). */
export function loadAlertsConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof typeof alertsSpec, unknown>> = {},
): AlertsConfig {
  const config = loadConfig(alertsSpec, env, overrides);
  assertGroupTimings(config);
  return config;
}
