import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import { type KafkaConnectionConfig, kafkaClientOptions } from './connection.ts';

/** The few log calls the reader makes (pino's signature). */
export interface CompactedTableLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CompactedTopicReaderOptions {
  connection: KafkaConnectionConfig;
  topic: string;
  /** Kafka client id (shows in broker logs/quotas). */
  clientId: string;
  logger?: CompactedTableLogger;
  /**
   * Longest a fetch waits at the broker for new records, ms; default 250. The broker answers as soon as a
   * record arrives, so this bounds idle polling cost, not how fast a change is seen.
   */
  pollWaitMs?: number;
  /**
   * Called for every record in offset order per partition (a tombstone has `value === null`). Runs
   * synchronously inside the reader's fetch loop; it must not throw.
   */
  onRecord: (key: Buffer | null, value: Buffer | null, partition: number, offset: bigint) => void;
  /** Called once per fetch round in which records were applied (after the last `onRecord`). */
  onBatch?: () => void;
}

/** Thrown when the topic does not exist, or the reader was closed/aborted while starting. */
export class CompactedTopicError extends Error {
  override name = 'CompactedTopicError';
  readonly code: 'TOPIC_MISSING' | 'CLOSED';
  constructor(code: 'TOPIC_MISSING' | 'CLOSED', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

interface PartitionCursor {
  partition: number;
  position: bigint;
  /** Log end offset when `start()` began: loaded once every position reached it. */
  startEnd: bigint;
}

type FetchedBatches = NonNullable<
  Awaited<ReturnType<Consumer['fetch']>>['responses'][number]['partitions'][number]['records']
>;

/**
 * Reads a whole compacted topic and then follows it (a Kafka Streams GlobalKTable's reader): not a
 * consumer-group member, every instance reads every partition from the earliest retained offset with
 * `read_committed`, and commits nothing. The caller keeps the table (`onRecord`); this class owns the
 * positions, the "loaded" moment (every partition read up to its end offset as of `start()`) and the
 * retry loop. Used by the erasure log (packages/erasure) and the places topic (docs/places.md).
 */
export class CompactedTopicReader {
  readonly topic: string;
  readonly #consumer: Consumer;
  readonly #options: CompactedTopicReaderOptions;
  readonly #pollWaitMs: number;
  readonly #abort = new AbortController();
  #cursors: PartitionCursor[] = [];
  #topicId = '';
  #loop: Promise<void> | undefined;
  #caughtUp = false;
  readonly #loaded = Promise.withResolvers<void>();
  #healthy = false;
  #closed: Promise<void> | undefined;

  constructor(options: CompactedTopicReaderOptions) {
    this.topic = options.topic;
    this.#options = options;
    this.#pollWaitMs = options.pollWaitMs ?? 250;
    this.#consumer = new Consumer({
      ...kafkaClientOptions(options.connection, options.clientId),
      // Required by the client's constructor; never joined (no group, no commits).
      groupId: `${options.clientId}-unused`,
      retries: 3,
      retryDelay: 250,
    });
    this.#consumer.on('error', (error: unknown) =>
      options.logger?.warn({ err: error, topic: this.topic }, 'compacted topic reader client'),
    );
  }

  /** True once the topic was read up to its end as of start(). */
  get loaded(): boolean {
    return this.#caughtUp;
  }

  /** Loaded, and the last fetch succeeded. */
  get healthy(): boolean {
    return this.#caughtUp && this.#healthy;
  }

  /** Resolves once `loaded`; never rejects. */
  whenLoaded(): Promise<void> {
    return this.#loaded.promise;
  }

  get aborted(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Reads the whole topic (up to its end offset when called) before resolving, then follows it. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#loop !== undefined) throw new Error(`CompactedTopicReader(${this.topic}).start() called twice`);
    const missing = (cause?: unknown) =>
      new CompactedTopicError('TOPIC_MISSING', `topic "${this.topic}" does not exist`, { cause });
    const metadata = await this.#consumer
      .metadata({ topics: [this.topic], autocreateTopics: false })
      .catch((error: unknown) => {
        // The client reports an unknown topic as a UserError ("Unknown topic …"), not a Kafka error code.
        throw /unknown topic/i.test(String((error as Error).message)) ? missing(error) : error;
      });
    const topic = metadata.topics.get(this.topic);
    if (topic === undefined) throw missing();
    this.#topicId = topic.id;
    const partitions = Array.from({ length: topic.partitionsCount }, (_, i) => i);
    const offsets = async (timestamp: bigint) =>
      (await this.#consumer.listOffsets({ topics: [this.topic], timestamp })).get(this.topic) ?? [];
    const earliest = await offsets(ListOffsetTimestamps.EARLIEST);
    const latest = await offsets(ListOffsetTimestamps.LATEST);
    this.#cursors = partitions.map((partition) => ({
      partition,
      position: earliest[partition] ?? 0n,
      startEnd: latest[partition] ?? 0n,
    }));
    const checkCaughtUp = () => {
      if (!this.#caughtUp && this.#cursors.every((c) => c.position >= c.startEnd)) {
        this.#caughtUp = true;
        this.#loaded.resolve();
      }
    };
    checkCaughtUp();
    this.#loop = this.#run(checkCaughtUp);
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () =>
        reject(new CompactedTopicError('CLOSED', 'start aborted', { cause: signal?.reason }));
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    await Promise.race([this.#loaded.promise, aborted]);
  }

  async #run(onProgress: () => void): Promise<void> {
    const signal = this.#abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.#fetchOnce();
        this.#healthy = true;
        failures = 0;
        onProgress();
      } catch (error) {
        if (signal.aborted) break;
        this.#healthy = false;
        failures++;
        this.#options.logger?.warn({ err: error, topic: this.topic, failures }, 'fetch failed; retrying');
        await sleep(Math.min(100 * 2 ** Math.min(failures, 5), 3_000), undefined, { signal }).catch(() => {});
      }
    }
  }

  async #fetchOnce(): Promise<void> {
    const metadata = await this.#consumer.metadata({ topics: [this.topic] });
    const topic = metadata.topics.get(this.topic);
    if (topic === undefined) throw new CompactedTopicError('TOPIC_MISSING', `topic "${this.topic}" vanished`);
    this.#topicId = topic.id; // a recreated topic has a new id
    const byLeader = new Map<number, PartitionCursor[]>();
    for (const cursor of this.#cursors) {
      const leader = topic.partitions[cursor.partition]?.leader ?? -1;
      if (leader < 0) continue;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), cursor]);
    }
    let applied = false;
    await Promise.all(
      [...byLeader].map(async ([node, cursors]) => {
        const response = await this.#consumer.fetch({
          node,
          topics: [
            {
              topicId: this.#topicId,
              partitions: cursors.map((c) => ({
                partition: c.partition,
                fetchOffset: c.position,
                partitionMaxBytes: 1024 * 1024,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              })),
            },
          ],
          maxWaitTime: this.#caughtUp ? this.#pollWaitMs : 10,
          minBytes: 1,
          maxBytes: 4 * 1024 * 1024,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        });
        for (const t of response.responses) {
          for (const p of t.partitions) {
            const cursor = cursors.find((c) => c.partition === p.partitionIndex);
            if (cursor === undefined) continue;
            if (p.errorCode === 1) {
              // OFFSET_OUT_OF_RANGE: cannot happen on a compacted topic unless it was recreated.
              cursor.position = p.logStartOffset;
              continue;
            }
            if (p.errorCode !== 0)
              throw new Error(`fetch error ${p.errorCode} on partition ${p.partitionIndex}`);
            if (this.#apply(cursor, p.records ?? [])) applied = true;
            // Compaction leaves offset gaps at the end of the log: an empty answer at the high
            // watermark means we are at the end.
            if (cursor.position < p.highWatermark && (p.records ?? []).length === 0) {
              cursor.position = p.highWatermark;
            }
          }
        }
      }),
    );
    if (applied) this.#options.onBatch?.();
  }

  #apply(cursor: PartitionCursor, batches: FetchedBatches): boolean {
    let applied = false;
    for (const batch of batches) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      if (last < cursor.position) continue;
      // Control batches (transaction markers) carry no data.
      if ((batch.attributes & 0x20) === 0) {
        for (const record of batch.records) {
          const offset = batch.firstOffset + BigInt(record.offsetDelta);
          if (offset < cursor.position) continue;
          this.#options.onRecord(record.key ?? null, record.value ?? null, cursor.partition, offset);
          applied = true;
        }
      }
      cursor.position = last + 1n;
    }
    return applied;
  }

  /** Stops following the topic and closes the client. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      await this.#consumer.close(true).catch(() => {});
      await this.#loop?.catch(() => {});
    })();
    return this.#closed;
  }
}
