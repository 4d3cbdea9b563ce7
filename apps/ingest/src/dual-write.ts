// Dual-write to the next generation of the ingestion topic while its partition count changes
// (docs/operations.md "Changing the partition count of ingestion"): every accepted ping goes to both
// topics, keyed by its region in both, partitioned over each topic's own partition count. An upload is
// acknowledged only once both copies are acknowledged; a retry after an ambiguous failure may write
// either copy twice, which the processors deduplicate by ping id as for any retry.
import { javaPartition } from '@footfall/kafka';
import type { IngestConfig } from './config.ts';
import type { OutgoingRecord } from './producer.ts';

/** The next generation's topic, or undefined when TOPIC_INGESTION_NEXT is `-`. */
export function nextIngestionTopic(config: Pick<IngestConfig, 'topicIngestionNext'>): string | undefined {
  const topic = config.topicIngestionNext.trim();
  return topic === '' || topic === '-' ? undefined : topic;
}

/** Region key → partition of the next topic, per key buffer (the router reuses one buffer per region). */
export class NextGenerationRouter {
  readonly topic: string;
  #partitions = 0;
  readonly #byKey = new Map<Buffer, number>();

  constructor(topic: string) {
    this.topic = topic;
  }

  /** `records` followed by their copies for the next topic (same key, value and timestamp). */
  withCopies(records: readonly OutgoingRecord[], partitions: number): OutgoingRecord[] {
    if (partitions !== this.#partitions) {
      this.#byKey.clear();
      this.#partitions = partitions;
    }
    const out = records.slice();
    for (const r of records) {
      let partition = this.#byKey.get(r.key);
      if (partition === undefined) {
        partition = javaPartition(r.key, partitions);
        // Bounded like the region router's cache: regions are few.
        if (this.#byKey.size >= 100_000) this.#byKey.clear();
        this.#byKey.set(r.key, partition);
      }
      out.push({ topic: this.topic, key: r.key, value: r.value, partition, timestamp: r.timestamp });
    }
    return out;
  }
}
