import { hostname } from 'node:os';
import {
  assertGroupTimings,
  ConfigError,
  type ConfigOf,
  commonSpec,
  erasureTopicSpec,
  groupConsumerSpec,
  loadConfig,
  placesTopicSpec,
  privacyModeSpec,
  topicSpec,
  v,
} from '@footfall/config';

/** Every variable of the processor, with its default and unit (docs/processor.md has the table). */
export const processorSpec = {
  ...commonSpec,
  ...topicSpec,
  ...erasureTopicSpec,
  ...placesTopicSpec,
  ...privacyModeSpec,
  // GROUP_ID, INSTANCE_ID, KAFKA_SESSION_TIMEOUT_MS, KAFKA_HEARTBEAT_INTERVAL_MS, CONSUMER_STALL_TIMEOUT_MS:
  // the names and rules every consuming service shares (the processor's INSTANCE_ID also names its
  // transactional id, below).
  ...groupConsumerSpec('footfall-processor'),
  opsPort: v.int('OPS_PORT', 9102, 'ops HTTP port (/metrics /healthz /readyz); 0 = any free port', 0, 65_535),
  instanceId: v.string(
    'INSTANCE_ID',
    hostname(),
    'stable id of this instance; transactional id = footfall-processor-<INSTANCE_ID> (must be unique per live instance)',
  ),
  emitIntervalMs: v.int(
    'EMIT_INTERVAL_MS',
    500,
    'how often updates are committed in one transaction, ms',
    50,
    1_000,
  ),
  transactionTimeoutMs: v.int(
    'PROCESSOR_TRANSACTION_TIMEOUT_MS',
    5_000,
    'transaction timeout sent to the broker (and the producer request timeout), ms: how long a crashed incarnation with another INSTANCE_ID holds back read_committed readers',
    1_000,
    900_000,
  ),
  allowedLatenessMs: v.int('ALLOWED_LATENESS_MS', 3_600_000, 'watermark = max event time − this, ms', 1_000),
  presenceMaxGapMs: v.int('PRESENCE_MAX_GAP_MS', 600_000, 'max gap between pings of one stay, ms', 1_000),
  minVisitMs: v.int('MIN_VISIT_MS', 300_000, 'shortest reported visit, ms', 0),
  maxAccuracyM: v.number('MAX_ACCURACY_M', 100, 'pings with a larger accuracy radius (m) are ignored', 1),
  jitterRing: v.int('JITTER_RING', 1, 'H3 rings within which a ping stays attributed to its anchor', 0, 5),
  restoreMarginMs: v.int('RESTORE_MARGIN_MS', 300_000, 'extra replay before the restore horizon, ms', 0),
  idleTimeoutMs: v.int(
    'PROCESSOR_IDLE_TIMEOUT_MS',
    60_000,
    'a partition silent this long advances its watermark with the clock (Flink idleness), ms; 0 = never',
    0,
  ),
  // A processor generation's share of event time (docs/operations.md "Changing the partition count"):
  // two generations over differently partitioned input topics split the outputs at a bucket boundary.
  outputFromMs: v.int(
    'OUTPUT_FROM_MS',
    0,
    'emit only occupancy buckets and visits starting at or after this event time (Unix ms; 0 = no bound); a bucket boundary',
    0,
  ),
  outputUntilMs: v.int(
    'OUTPUT_UNTIL_MS',
    0,
    'emit only occupancy buckets and visits starting before this event time (Unix ms; 0 = no bound); a bucket boundary',
    0,
  ),
  // The previous generation's input topic, replayed (re-keyed) to warm a new generation's partitions
  // whose restore would otherwise start at the new topic's beginning (docs/operations.md).
  topicIngestionWarm: v.string(
    'TOPIC_INGESTION_WARM',
    '-',
    "previous generation's input topic: a partition whose rebuild reaches the start of TOPIC_INGESTION first replays this topic's retained records of its regions (outputs before OUTPUT_FROM_MS dropped); its partition count must divide TOPIC_INGESTION's; - = off",
  ),
  staticMembership: v.bool(
    'PROCESSOR_STATIC_MEMBERSHIP',
    false,
    'join as static member group.instance.id = INSTANCE_ID (needs INSTANCE_IDs stable across restarts, e.g. a StatefulSet)',
  ),
  maxGroupRejoinFailures: v.int(
    'PROCESSOR_MAX_REJOIN_FAILURES',
    10,
    'consecutive failed group rejoins (with backoff up to 30 s) before the process exits non-zero',
    1,
  ),
  nowcastIntervalMs: v.int(
    'NOWCAST_INTERVAL_MS',
    5_000,
    'how often each partition publishes its live edge (presence carried to now + nowcast), ms; 0 = off',
    0,
  ),
  nowcastHorizonMs: v.int(
    'NOWCAST_HORIZON_MS',
    900_000,
    'buckets are provisional until their end + this, ms (the nowcast covers them)',
    1_000,
  ),
  nowcastSettleMs: v.int(
    'NOWCAST_SETTLE_MS',
    1_800_000,
    'a bucket this old (from its end) is taken as settled and teaches the nowcast, ms (>= NOWCAST_HORIZON_MS)',
    1_000,
  ),
  nowcastDelayWindowMs: v.int(
    'NOWCAST_DELAY_WINDOW_MS',
    1_800_000,
    'rolling window of the upload-delay profile (arrival time), ms',
    60_000,
  ),
  nowcastLearnMinDevices: v.int(
    'NOWCAST_LEARN_MIN_DEVICES',
    5,
    'only (cell, bucket)s with at least this many devices teach the nowcast (K_ANONYMITY)',
    1,
  ),
};

export type ProcessorConfig = ConfigOf<typeof processorSpec>;

/** Reads and validates the processor's environment (throws ConfigError naming each bad variable). */
export function loadProcessorConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof typeof processorSpec, unknown>> = {},
): ProcessorConfig {
  const config = loadConfig(processorSpec, env, overrides);
  assertGroupTimings(config);
  if (config.nowcastSettleMs < config.nowcastHorizonMs) {
    throw new ConfigError(['NOWCAST_SETTLE_MS must be >= NOWCAST_HORIZON_MS']);
  }
  for (const [name, ms] of [
    ['OUTPUT_FROM_MS', config.outputFromMs],
    ['OUTPUT_UNTIL_MS', config.outputUntilMs],
  ] as const) {
    if (ms % config.bucketMs !== 0) {
      throw new ConfigError([`${name}: ${ms} is not a multiple of BUCKET_MS (${config.bucketMs})`]);
    }
  }
  if (config.outputUntilMs !== 0 && config.outputUntilMs <= config.outputFromMs) {
    throw new ConfigError([
      `OUTPUT_UNTIL_MS (${config.outputUntilMs}) must be after OUTPUT_FROM_MS (${config.outputFromMs})`,
    ]);
  }
  return config;
}

/** The warm topic of TOPIC_INGESTION_WARM, or undefined when it is `-` (off). */
export function warmTopic(config: Pick<ProcessorConfig, 'topicIngestionWarm'>): string | undefined {
  const topic = config.topicIngestionWarm.trim();
  return topic === '' || topic === '-' ? undefined : topic;
}

/**
 * Replay window before the committed offset, by record timestamp (docs/insights.md): the oldest mutable
 * bucket ends after `watermark − gap`, and stays carried into it start one gap earlier.
 */
export function restoreHorizonMs(config: ProcessorConfig): number {
  return config.allowedLatenessMs + 2 * config.presenceMaxGapMs + config.bucketMs + config.restoreMarginMs;
}
