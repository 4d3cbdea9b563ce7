import type { TopicSpec } from './local-broker.ts';

/** The pipeline's two topics. */
export const TOPIC_INGESTION = 'ingestion';
export const TOPIC_AGGREGATED = 'aggregated';

/**
 * Topic specs for a local/dev broker. Both topics have the same partition count because
 * `aggregated` partition p carries exactly the regions of `ingestion` partition p.
 * `aggregated` is latest-value-per-key, so compaction is safe there (and keeps it small).
 */
export function footfallTopics(partitions: number): TopicSpec[] {
  return [
    { name: TOPIC_INGESTION, partitions, configs: { 'retention.ms': String(24 * 3600_000) } },
    {
      name: TOPIC_AGGREGATED,
      partitions,
      configs: { 'cleanup.policy': 'compact,delete', 'retention.ms': String(7 * 24 * 3600_000) },
    },
  ];
}
