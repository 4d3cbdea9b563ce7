import {
  assertGroupTimings,
  type ConfigOf,
  commonSpec,
  groupConsumerSpec,
  loadConfig,
  topicSpec,
  v,
} from '@footfall/config';

/** Every setting of the sink, with its env variable, default and unit. */
export const sinkSpec = {
  ...commonSpec,
  ...topicSpec,
  databaseUrl: v.optionalString('DATABASE_URL', 'PostgreSQL URL; unset → embedded PGlite (dev only)'),
  // GROUP_ID, INSTANCE_ID (static membership), KAFKA_SESSION_TIMEOUT_MS, KAFKA_HEARTBEAT_INTERVAL_MS,
  // CONSUMER_STALL_TIMEOUT_MS: one name for the same concept in every consuming service.
  ...groupConsumerSpec('footfall-sink'),
  maxBatchRecords: v.int(
    'SINK_MAX_BATCH_RECORDS',
    5_000,
    'records written per DB transaction (max)',
    1,
    1_000_000,
  ),
  flushIntervalMs: v.int(
    'SINK_FLUSH_INTERVAL_MS',
    200,
    'longest a record waits before its batch is written, ms',
    1,
  ),
  retentionDays: v.int(
    'RETENTION_DAYS',
    30,
    'days of occupancy/visits kept (whole daily partitions dropped)',
    1,
  ),
  partitionsAheadDays: v.int(
    'SINK_PARTITIONS_AHEAD_DAYS',
    2,
    'daily partitions created ahead of today',
    0,
    60,
  ),
  retentionIntervalMs: v.int(
    'SINK_RETENTION_INTERVAL_MS',
    3_600_000,
    'how often the retention job runs, ms',
    1_000,
  ),
  opsPort: v.int('OPS_PORT', 9103, 'ops HTTP port (/metrics, /healthz, /readyz); 0 = any', 0, 65_535),
  dbPoolSize: v.int('DB_POOL_SIZE', 4, 'PostgreSQL connections', 1, 100),
};

export type SinkConfig = ConfigOf<typeof sinkSpec>;

/** Reads the sink's configuration from `env`; `overrides` win (tests, dev stack). */
export function loadSinkConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof typeof sinkSpec, unknown>> = {},
): SinkConfig {
  const config = loadConfig(sinkSpec, env, overrides);
  assertGroupTimings(config);
  return config;
}
