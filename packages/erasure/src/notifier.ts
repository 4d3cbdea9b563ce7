import type { KafkaConnectionConfig } from '@footfall/kafka';
import { INGESTION_RETENTION_MS, INGESTION_SEGMENT_MS } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { type NotErasedItem, notErasedReport } from './not-erased.ts';
import { ErasurePublisher } from './publisher.ts';
import { type ErasureRecordSource, reconcileErasures } from './reconcile.ts';
import { describeRetention, type TopicRetention } from './retention.ts';
import { ErasureTable } from './table.ts';

export interface ErasureNotifierOptions {
  connection: KafkaConnectionConfig;
  topics: { ingestion: string; aggregated: string; erasures: string };
  logger?: Logger;
  /** How long topic settings read from the broker are reused, ms; default 10 min. */
  retentionCacheMs?: number;
}

/**
 * The API's side of an erasure, after the database committed it: publishes it to the erasure log (so
 * ingest revokes the device and the processor skips its pings) and says what remains, from the broker's
 * actual retention settings. One object so the API's hook is one call.
 */
export class ErasureNotifier {
  readonly #publisher: ErasurePublisher;
  readonly #options: ErasureNotifierOptions;
  #retention: { at: number; value: Promise<Map<string, TopicRetention>> } | undefined;

  constructor(options: ErasureNotifierOptions) {
    this.#options = options;
    this.#publisher = new ErasurePublisher({
      connection: options.connection,
      topic: options.topics.erasures,
      clientId: 'footfall-api-erasures',
    });
  }

  /**
   * Publishes the erasure (acks=all) and returns what is not erased. Throws ErasureError
   * (ERASURE_PUBLISH_FAILED, retryable) when Kafka did not acknowledge: the caller must not report
   * success, since the device's uploads would still be accepted.
   */
  async announce(deviceId: string, erasedAtMs: number): Promise<NotErasedItem[]> {
    const retention = this.#retentions();
    await this.#publisher.publish([{ deviceId, erasedAtMs }]);
    const { ingestion, aggregated, erasures } = this.#options.topics;
    const known = await retention;
    return notErasedReport({
      erasedAtMs,
      erasuresTopic: erasures,
      // If the broker could not tell us, assume what footfallTopics / deploy/k8s/kafka configure.
      ingestion: known.get(ingestion) ?? {
        topic: ingestion,
        retentionMs: INGESTION_RETENTION_MS,
        segmentMs: INGESTION_SEGMENT_MS,
        cleanupPolicy: 'delete',
      },
      aggregated: known.get(aggregated) ?? {
        topic: aggregated,
        retentionMs: 7 * 86_400_000,
        segmentMs: 7 * 86_400_000,
        cleanupPolicy: 'compact,delete',
      },
    });
  }

  /**
   * Publishes the erasures recorded in `db` that the log lacks (see reconcileErasures); run once at
   * start-up, in the background. Resolves to how many were missing.
   */
  async reconcile(db: ErasureRecordSource, signal?: AbortSignal): Promise<number> {
    const table = new ErasureTable({
      connection: this.#options.connection,
      topic: this.#options.topics.erasures,
      clientId: 'footfall-api-erasures-reconcile',
    });
    try {
      await table.start(signal);
      signal?.throwIfAborted();
      const published = await reconcileErasures(db, table, this.#publisher);
      if (published > 0)
        this.#options.logger?.warn({ published }, 'erasures missing from the log republished');
      return published;
    } finally {
      await table.close();
    }
  }

  #retentions(): Promise<Map<string, TopicRetention>> {
    const now = Date.now();
    const maxAge = this.#options.retentionCacheMs ?? 600_000;
    if (this.#retention === undefined || now - this.#retention.at > maxAge) {
      const { ingestion, aggregated } = this.#options.topics;
      const value = describeRetention(this.#options.connection, [ingestion, aggregated]).catch(
        (error: unknown) => {
          this.#options.logger?.warn({ err: error }, 'could not read topic retention; using the defaults');
          this.#retention = undefined;
          return new Map<string, TopicRetention>();
        },
      );
      this.#retention = { at: now, value };
    }
    return this.#retention.value;
  }

  close(): Promise<void> {
    return this.#publisher.close();
  }
}
