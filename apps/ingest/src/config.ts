import {
  ConfigError,
  type ConfigOf,
  commonSpec,
  erasureTopicSpec,
  loadConfig,
  topicSpec,
  v,
} from '@footfall/config';

/** Every variable the ingest service reads (docs/ingest.md has the same table). */
export const ingestSpec = {
  ...commonSpec,
  topicIngestion: topicSpec.topicIngestion,
  topicIngestionNext: v.string(
    'TOPIC_INGESTION_NEXT',
    '-',
    'next generation of the ingestion topic, written too (dual-write while its partition count changes, docs/operations.md); `-` = none',
  ),
  ...erasureTopicSpec,
  grpcHost: v.string('GRPC_HOST', '0.0.0.0', 'gRPC listen address'),
  grpcPort: v.int('GRPC_PORT', 50051, 'gRPC port (0 = pick a free one)', 0, 65_535),
  opsPort: v.int('OPS_PORT', 9101, 'ops HTTP port: /metrics /healthz /readyz (0 = free)', 0, 65_535),
  maxMessageBytes: v.int(
    'GRPC_MAX_MESSAGE_BYTES',
    512 * 1024,
    'max gRPC message size, bytes',
    1024,
    64 << 20,
  ),
  deviceKeySecret: v.string('DEVICE_KEY_SECRET', undefined, 'HMAC key deriving device secrets (>= 32 chars)'),
  deviceKeyVersion: v.string(
    'DEVICE_KEY_VERSION',
    'k1',
    'version tag of DEVICE_KEY_SECRET, prefix of new device ids',
  ),
  deviceKeysPrevious: v.list(
    'DEVICE_KEYS_PREVIOUS',
    ['-'],
    'older keys still accepted, `version:secret,…` (`-` = none)',
  ),
  revokedDeviceIds: v.list(
    'REVOKED_DEVICE_IDS',
    ['-'],
    'device ids refused with PERMISSION_DENIED (`-` = none)',
  ),
  userTokenSecret: v.string('USER_TOKEN_SECRET', undefined, 'HS256 key of user tokens (>= 32 chars)'),
  userTokenTtlS: v.int('USER_TOKEN_TTL_S', 30 * 86_400, 'user token lifetime, seconds', 60),
  allowDevAttestation: v.bool('ALLOW_DEV_ATTESTATION', false, 'accept platform "dev" without attestation'),
  replayWindowMs: v.int('REPLAY_WINDOW_MS', 5 * 60_000, 'accepted |server time - sent_at_ms|, ms', 1_000),
  nonceCacheMax: v.int(
    'NONCE_CACHE_MAX',
    500_000,
    'unexpired nonces kept per instance (~120 B each); when full, uploads get UNAVAILABLE',
    1,
  ),
  maxClockSkewMs: v.int(
    'MAX_CLOCK_SKEW_MS',
    60_000,
    'how far in the future an event time may be; also kept past the replay window for nonces, ms',
  ),
  maxPingAgeMs: v.int('MAX_PING_AGE_MS', 48 * 3_600_000, 'oldest accepted event time, ms before now', 1),
  maxBatchPings: v.int('MAX_BATCH_PINGS', 500, 'pings per upload', 1, 100_000),
  rateLimitPingsPerSec: v.number('RATE_LIMIT_PINGS_PER_SEC', 50, 'sustained pings/s per device', 0.001),
  rateLimitBurstPings: v.int(
    'RATE_LIMIT_BURST_PINGS',
    1_000,
    'token bucket size per device (>= MAX_BATCH_PINGS)',
    1,
  ),
  rateLimitMaxDevices: v.int('RATE_LIMIT_MAX_DEVICES', 200_000, 'buckets kept per instance (LRU)', 1),
  enrollPerMin: v.number(
    'INGEST_ENROLL_PER_MIN',
    30,
    'sustained Enroll calls per minute per source address',
    0.001,
  ),
  enrollBurst: v.int('INGEST_ENROLL_BURST', 60, 'Enroll calls a source address may make at once', 1),
  maxInflightPings: v.int('MAX_INFLIGHT_PINGS', 50_000, 'pings admitted but not yet acked by Kafka', 1),
  maxInflightUploads: v.int(
    'INGEST_MAX_INFLIGHT_UPLOADS',
    256,
    'Upload calls in progress per process; beyond it RESOURCE_EXHAUSTED before decoding or verifying',
    1,
  ),
  shedEventLoopDelayMs: v.int(
    'INGEST_SHED_EVENT_LOOP_DELAY_MS',
    0,
    'refuse uploads (RESOURCE_EXHAUSTED) while the mean event-loop delay exceeds this, ms (0 = off)',
    0,
  ),
  overloadRetryAfterMs: v.int(
    'INGEST_OVERLOAD_RETRY_AFTER_MS',
    1_000,
    'footfall-retry-after-ms sent with INGEST_OVERLOADED, ms',
    1,
  ),
  produceTimeoutMs: v.int('PRODUCE_TIMEOUT_MS', 5_000, 'max wait for Kafka acks before UNAVAILABLE, ms', 100),
  produceLingerMs: v.int(
    'PRODUCE_LINGER_MS',
    2,
    'micro-batch window for coalescing uploads, ms (0 = next tick)',
  ),
  produceMaxRecords: v.int('PRODUCE_MAX_RECORDS', 5_000, 'records per producer send', 1),
  produceMaxConcurrentSends: v.int('PRODUCE_MAX_CONCURRENT_SENDS', 4, 'producer sends in flight', 1, 64),
  workers: v.int(
    'INGEST_WORKERS',
    1,
    'gRPC worker processes behind one port (node:cluster; 0 = one per CPU), see docs/ingest.md',
    0,
    64,
  ),
  shutdownGraceMs: v.int('SHUTDOWN_GRACE_MS', 10_000, 'drain time for in-flight calls on SIGTERM, ms'),
};

export type IngestConfig = ConfigOf<typeof ingestSpec>;

/** Loads and cross-checks the config; a bad value fails with the variable's name. */
export function loadIngestConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof typeof ingestSpec, unknown>> = {},
): IngestConfig {
  const config = loadConfig(ingestSpec, env, overrides);
  const problems: string[] = [];
  if (config.deviceKeySecret.length < 32) problems.push('DEVICE_KEY_SECRET must be at least 32 characters');
  if (config.userTokenSecret.length < 32) problems.push('USER_TOKEN_SECRET must be at least 32 characters');
  if (config.rateLimitBurstPings < config.maxBatchPings) {
    problems.push('RATE_LIMIT_BURST_PINGS must be >= MAX_BATCH_PINGS (else a full batch can never pass)');
  }
  if (!/^[a-z0-9]{1,8}$/.test(config.deviceKeyVersion))
    problems.push('DEVICE_KEY_VERSION must match [a-z0-9]{1,8}');
  if (problems.length) throw new ConfigError(problems);
  return config;
}
