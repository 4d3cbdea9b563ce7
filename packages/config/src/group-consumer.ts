import { hostname } from 'node:os';
import { ConfigError, v } from './env.ts';

/**
 * Settings of a Kafka consumer-group member, shared by every consuming service under the same names
 * (the sink spreads it; the processor can). Units are in the names.
 */
export function groupConsumerSpec(defaultGroupId: string) {
  return {
    groupId: v.string('GROUP_ID', defaultGroupId, 'Kafka consumer group'),
    instanceId: v.string(
      'INSTANCE_ID',
      hostname(),
      'stable id of this instance (static group membership, group.instance.id): unique per live instance, the same across its restarts',
    ),
    sessionTimeoutMs: v.int(
      'KAFKA_SESSION_TIMEOUT_MS',
      10_000,
      'consumer group session timeout: a member silent this long is replaced, ms',
      6_000,
      1_800_000,
    ),
    heartbeatIntervalMs: v.int(
      'KAFKA_HEARTBEAT_INTERVAL_MS',
      1_000,
      'consumer group heartbeat interval (at most a third of the session timeout), ms',
      100,
      600_000,
    ),
    stallTimeoutMs: v.int(
      'CONSUMER_STALL_TIMEOUT_MS',
      120_000,
      '/healthz fails when the consumer has lag but has not advanced for this long, ms',
      1_000,
    ),
  };
}

/** Checks the cross-field rule the broker would otherwise reject at join time. */
export function assertGroupTimings(config: { sessionTimeoutMs: number; heartbeatIntervalMs: number }): void {
  if (config.heartbeatIntervalMs * 3 > config.sessionTimeoutMs) {
    throw new ConfigError([
      `KAFKA_HEARTBEAT_INTERVAL_MS=${config.heartbeatIntervalMs} must be at most a third of KAFKA_SESSION_TIMEOUT_MS=${config.sessionTimeoutMs}`,
    ]);
  }
}
