import type { TopicSpec } from './local-broker.ts';

/** The pipeline's topics. */
export const TOPIC_INGESTION = 'ingestion';
export const TOPIC_AGGREGATED = 'aggregated';
/** Compacted log of erased device ids (packages/erasure, docs/privacy.md). */
export const TOPIC_ERASURES = 'erasures';
/** Compacted log of named place definitions (key place id, tombstone on delete; docs/places.md). */
export const TOPIC_PLACES = 'places';

/**
 * `ingestion` retention: raw pings (device id, exact position) are deleted this long after they were
 * appended, plus up to one segment (INGESTION_SEGMENT_MS) and one broker retention check. It must cover
 * the processor's restore horizon (~1 h 26 min with the defaults) plus the processor outage to survive
 * without losing pings; docs/privacy.md weighs it.
 */
export const INGESTION_RETENTION_MS = 3 * 3600_000;
export const INGESTION_SEGMENT_MS = 15 * 60_000;

/**
 * Topic specs for a local/dev broker. Both topics have the same partition count because
 * `aggregated` partition p carries exactly the regions of `ingestion` partition p.
 * `aggregated` is latest-value-per-key, so compaction is safe there (and keeps it small).
 */
export function footfallTopics(partitions: number): TopicSpec[] {
  return [
    {
      name: TOPIC_INGESTION,
      partitions,
      configs: { 'retention.ms': String(INGESTION_RETENTION_MS), 'segment.ms': String(INGESTION_SEGMENT_MS) },
    },
    {
      name: TOPIC_AGGREGATED,
      partitions,
      configs: { 'cleanup.policy': 'compact,delete', 'retention.ms': String(7 * 24 * 3600_000) },
    },
    // Erasures are few: one partition, one total order; compaction keeps every device's latest record.
    { name: TOPIC_ERASURES, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    // Place definitions: few, read whole by every processor; compaction keeps each place's latest.
    { name: TOPIC_PLACES, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
  ];
}
