import { type KafkaConnectionConfig, kafkaClientOptions } from '@footfall/kafka';
import { Admin, ConfigResourceTypes } from '@platformatic/kafka';

/** How long a topic keeps a record, as the broker says (not as we hope). */
export interface TopicRetention {
  topic: string;
  /** `retention.ms`; null = kept forever (-1). */
  retentionMs: number | null;
  /** `segment.ms`: deletion and compaction work on whole closed segments, so a record can outlive retention by this. */
  segmentMs: number;
  /** `cleanup.policy`, e.g. `delete`, `compact`, `compact,delete`. */
  cleanupPolicy: string;
}

/**
 * Broker default of `log.retention.check.interval.ms`: how often the broker looks for expired segments,
 * i.e. the last part of the delay between a segment expiring and its files being deleted.
 */
export const RETENTION_CHECK_INTERVAL_MS = 300_000;

/**
 * When a record appended at `appendedAtMs` is gone at the latest, by retention: a segment is deleted once
 * its newest record is older than `retention.ms`, and a segment is closed at most `segment.ms` after it
 * was opened; the broker checks every RETENTION_CHECK_INTERVAL_MS. Null when the topic keeps records
 * forever (`retention.ms=-1` or compaction only).
 */
export function deletedByMs(r: TopicRetention, appendedAtMs: number): number | null {
  if (r.retentionMs === null || !r.cleanupPolicy.includes('delete')) return null;
  return appendedAtMs + r.segmentMs + r.retentionMs + RETENTION_CHECK_INTERVAL_MS;
}

/** Reads the effective retention settings of `topics` from the broker (topic overrides or broker defaults). */
export async function describeRetention(
  connection: KafkaConnectionConfig,
  topics: readonly string[],
): Promise<Map<string, TopicRetention>> {
  const admin = new Admin({ ...kafkaClientOptions(connection, 'footfall-erasure-retention'), retries: 1 });
  try {
    const described = await admin.describeConfigs({
      resources: topics.map((resourceName) => ({
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName,
        configurationKeys: ['retention.ms', 'segment.ms', 'cleanup.policy'],
      })),
    });
    const out = new Map<string, TopicRetention>();
    for (const resource of described) {
      const values = new Map(resource.configs.map((c) => [c.name, c.value]));
      const retention = Number(values.get('retention.ms') ?? Number.NaN);
      const segment = Number(values.get('segment.ms') ?? Number.NaN);
      if (!Number.isFinite(segment)) continue;
      out.set(resource.resourceName, {
        topic: resource.resourceName,
        retentionMs: Number.isFinite(retention) && retention >= 0 ? retention : null,
        segmentMs: segment,
        cleanupPolicy: values.get('cleanup.policy') ?? 'delete',
      });
    }
    return out;
  } finally {
    await admin.close().catch(() => {});
  }
}
