import type { TopicSpec } from '@footfall/kafka';

/** Default name of the erasure log (TOPIC_ERASURES). */
export const TOPIC_ERASURES = 'erasures';

/**
 * The erasure log: one record per erased device (key = device id), compacted so the latest record per
 * device is kept forever and a reader that starts from the beginning sees every erasure ever made.
 * Erasures are few (one per user request), so one partition is plenty and gives one total order.
 * `min.compaction.lag.ms` is irrelevant here (records are never superseded except by a re-erasure).
 */
export function erasuresTopicSpec(name: string = TOPIC_ERASURES): TopicSpec {
  return { name, partitions: 1, configs: { 'cleanup.policy': 'compact' } };
}
