import { setTimeout as sleep } from 'node:timers/promises';
import { type KafkaConnectionConfig, kafkaClientOptions } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import pRetry from 'p-retry';
import { Gauge, type Registry } from 'prom-client';
import { ErasureError } from './errors.ts';
import { decodeErasure } from './record.ts';
import { TOPIC_ERASURES } from './topic.ts';

export interface ErasureTableOptions {
  connection: KafkaConnectionConfig;
  /** Topic of the erasure log; default `erasures`. */
  topic?: string;
  /** Kafka client id (shows in broker logs/quotas); default `footfall-erasure-table`. */
  clientId?: string;
  logger?: Logger;
  /**
   * Longest a fetch waits at the broker for new records, ms; default 250. The broker answers as soon as a
   * record arrives, so this bounds idle polling cost, not how fast a new erasure is seen.
   */
  pollWaitMs?: number;
  /** Registers `footfall_erased_devices` and `footfall_erasure_log_healthy` here when given. */
  registry?: Registry;
}

/** Read-only view of the erased devices (what the pipeline's hooks need). */
export interface ErasureView {
  has(deviceId: string): boolean;
  /** False until the whole log (as of start-up) was read: until then `has` cannot be trusted. */
  readonly loaded: boolean;
}

interface PartitionCursor {
  partition: number;
  position: bigint;
  /** Log end offset when `start()` began: the table is ready once every position reached it. */
  startEnd: bigint;
}

/**
 * Every erased device, held in memory: the erasure log read in full at start-up, then followed live (a
 * Kafka Streams GlobalKTable). Not a consumer-group member: every instance of every service reads every
 * partition, from the earliest retained offset, and commits nothing; so an instance knows each erasure
 * that was acknowledged before it started, and each later one within one fetch round trip.
 *
 * Size: a device id is ~25 bytes; a million erasures are ~100 MB of Set entries at worst.
 */
export class ErasureTable implements ErasureView {
  readonly topic: string;
  readonly #erased = new Map<string, number>();
  readonly #consumer: Consumer;
  readonly #logger: Logger | undefined;
  readonly #pollWaitMs: number;
  readonly #abort = new AbortController();
  readonly #waiters = new Map<string, Set<() => void>>();
  #cursors: PartitionCursor[] = [];
  #topicId = '';
  #loop: Promise<void> | undefined;
  #caughtUp = false;
  readonly #loaded = Promise.withResolvers<void>();
  #healthy = false;
  #closed: Promise<void> | undefined;

  constructor(options: ErasureTableOptions) {
    this.topic = options.topic ?? TOPIC_ERASURES;
    this.#logger = options.logger;
    this.#pollWaitMs = options.pollWaitMs ?? 250;
    this.#consumer = new Consumer({
      ...kafkaClientOptions(options.connection, options.clientId ?? 'footfall-erasure-table'),
      // Required by the client's constructor; never joined (no group, no commits).
      groupId: 'footfall-erasure-table-unused',
      retries: 3,
      retryDelay: 250,
    });
    if (options.registry) {
      const table = this;
      const registers = [options.registry];
      new Gauge({
        name: 'footfall_erased_devices',
        help: 'Erased devices known from the erasure log (their uploads are refused, their pings skipped)',
        registers,
        collect() {
          this.set(table.size);
        },
      });
      new Gauge({
        name: 'footfall_erasure_log_healthy',
        help: '1 when the erasure log was read to its end at start-up and the last fetch succeeded',
        registers,
        collect() {
          this.set(table.healthy ? 1 : 0);
        },
      });
    }
    this.#consumer.on('error', (error: unknown) =>
      this.#logger?.warn({ err: error }, 'erasure table client'),
    );
  }

  /** Number of erased devices known. */
  get size(): number {
    return this.#erased.size;
  }

  /** True once the log was read up to its end as of start(), and while fetches succeed. */
  get loaded(): boolean {
    return this.#caughtUp;
  }

  /** Resolves once `loaded` (by start() or startInBackground()); never rejects. */
  whenLoaded(): Promise<void> {
    return this.#loaded.promise;
  }

  get healthy(): boolean {
    return this.#caughtUp && this.#healthy;
  }

  has(deviceId: string): boolean {
    return this.#erased.has(deviceId);
  }

  /** When the device was erased (ms), or undefined. */
  erasedAtMs(deviceId: string): number | undefined {
    return this.#erased.get(deviceId);
  }

  /**
   * Reads the whole log (up to its end offset when called) before resolving, then keeps following it in
   * the background. A service must not accept work for a device before this resolved: until then it
   * cannot know whether that device was erased.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#loop !== undefined) throw new Error('ErasureTable.start() called twice');
    const missing = (cause?: unknown) =>
      new ErasureError('ERASURE_TOPIC_MISSING', `topic "${this.topic}" does not exist`, { cause });
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
    const ready = this.#loaded.promise;
    const checkCaughtUp = () => {
      if (!this.#caughtUp && this.#cursors.every((c) => c.position >= c.startEnd)) {
        this.#caughtUp = true;
        this.#logger?.info({ topic: this.topic, erased: this.#erased.size }, 'erasure table loaded');
        this.#loaded.resolve();
      }
    };
    checkCaughtUp();
    this.#loop = this.#run(checkCaughtUp);
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () =>
        reject(new ErasureError('ERASURE_CLOSED', 'start aborted', { cause: signal?.reason }));
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    await Promise.race([ready, aborted]);
  }

  /**
   * For services that must start while Kafka is down (ingest): retries start() with backoff in the
   * background until the log is loaded or `signal` aborts; meanwhile `loaded` is false and the caller
   * refuses work (fail closed).
   */
  startInBackground(signal?: AbortSignal): void {
    const stop = signal ? AbortSignal.any([signal, this.#abort.signal]) : this.#abort.signal;
    pRetry(() => this.start(signal), {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: 500,
      maxTimeout: 5_000,
      factor: 2,
      signal: stop,
      onFailedAttempt: ({ error, attemptNumber }) => {
        if (stop.aborted) return;
        this.#logger?.warn(
          { err: error, topic: this.topic, attempt: attemptNumber },
          'erasure log not loaded yet; retrying',
        );
      },
    }).catch(() => {}); // only ends by `stop` (closed): nothing to report
  }

  /** Resolves once `deviceId` is known to be erased (immediately if it already is). */
  waitFor(deviceId: string, signal?: AbortSignal): Promise<void> {
    if (this.#erased.has(deviceId)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const set = this.#waiters.get(deviceId) ?? new Set();
      this.#waiters.set(deviceId, set);
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        set.delete(done);
        reject(signal?.reason);
      };
      set.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
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
        this.#logger?.warn({ err: error, topic: this.topic, failures }, 'erasure log fetch failed; retrying');
        await sleep(Math.min(100 * 2 ** Math.min(failures, 5), 3_000), undefined, { signal }).catch(() => {});
      }
    }
  }

  async #fetchOnce(): Promise<void> {
    const metadata = await this.#consumer.metadata({ topics: [this.topic] });
    const topic = metadata.topics.get(this.topic);
    if (topic === undefined)
      throw new ErasureError('ERASURE_TOPIC_MISSING', `topic "${this.topic}" vanished`);
    this.#topicId = topic.id; // a recreated topic has a new id
    // One fetch per leader; with the usual single partition this is one request.
    const byLeader = new Map<number, PartitionCursor[]>();
    for (const cursor of this.#cursors) {
      const leader = topic.partitions[cursor.partition]?.leader ?? -1;
      if (leader < 0) continue;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), cursor]);
    }
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
            this.#apply(cursor, p.records ?? []);
            // Compaction leaves offset gaps at the end of the log: an empty answer at the high
            // watermark means we are at the end.
            if (cursor.position < p.highWatermark && (p.records ?? []).length === 0) {
              cursor.position = p.highWatermark;
            }
          }
        }
      }),
    );
  }

  #apply(
    cursor: PartitionCursor,
    batches: NonNullable<
      Awaited<ReturnType<Consumer['fetch']>>['responses'][number]['partitions'][number]['records']
    >,
  ): void {
    for (const batch of batches) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      if (last < cursor.position) continue;
      // Control batches (transaction markers) carry no erasures.
      if ((batch.attributes & 0x20) === 0) {
        for (const record of batch.records) {
          if (batch.firstOffset + BigInt(record.offsetDelta) < cursor.position) continue;
          if (record.value === null && record.key !== null) {
            // A tombstone: never written by Footfall (erasure is final), honoured to mirror the log.
            this.#erased.delete(record.key.toString('utf8'));
            continue;
          }
          const erasure = decodeErasure(record.key, record.value);
          if (erasure === undefined) {
            this.#logger?.error(
              {
                topic: this.topic,
                partition: cursor.partition,
                offset: String(batch.firstOffset + BigInt(record.offsetDelta)),
              },
              'unreadable erasure record skipped',
            );
            continue;
          }
          this.#erased.set(erasure.deviceId, erasure.erasedAtMs);
          const waiters = this.#waiters.get(erasure.deviceId);
          if (waiters) {
            this.#waiters.delete(erasure.deviceId);
            for (const w of waiters) w();
          }
        }
      }
      cursor.position = last + 1n;
    }
  }

  /** Stops following the log and closes the client. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort();
      await this.#consumer.close(true).catch(() => {});
      await this.#loop?.catch(() => {});
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
