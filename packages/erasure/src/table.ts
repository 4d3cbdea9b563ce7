import { CompactedTopicError, CompactedTopicReader, type KafkaConnectionConfig } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
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
  readonly #reader: CompactedTopicReader;
  readonly #logger: Logger | undefined;
  readonly #abort = new AbortController();
  readonly #waiters = new Map<string, Set<() => void>>();

  constructor(options: ErasureTableOptions) {
    this.topic = options.topic ?? TOPIC_ERASURES;
    this.#logger = options.logger;
    // The generic compacted-topic reader (packages/kafka) owns positions, "loaded" and retries.
    this.#reader = new CompactedTopicReader({
      connection: options.connection,
      topic: this.topic,
      clientId: options.clientId ?? 'footfall-erasure-table',
      ...(options.logger ? { logger: options.logger } : {}),
      pollWaitMs: options.pollWaitMs ?? 250,
      onRecord: (key, value, partition, offset) => this.#apply(key, value, partition, offset),
    });
    void this.#reader
      .whenLoaded()
      .then(() =>
        this.#logger?.info({ topic: this.topic, erased: this.#erased.size }, 'erasure table loaded'),
      );
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
  }

  /** Number of erased devices known. */
  get size(): number {
    return this.#erased.size;
  }

  /** True once the log was read up to its end as of start(), and while fetches succeed. */
  get loaded(): boolean {
    return this.#reader.loaded;
  }

  /** Resolves once `loaded` (by start() or startInBackground()); never rejects. */
  whenLoaded(): Promise<void> {
    return this.#reader.whenLoaded();
  }

  get healthy(): boolean {
    return this.#reader.healthy;
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
    try {
      await this.#reader.start(signal);
    } catch (error) {
      if (error instanceof CompactedTopicError) {
        throw new ErasureError(
          error.code === 'TOPIC_MISSING' ? 'ERASURE_TOPIC_MISSING' : 'ERASURE_CLOSED',
          error.message,
          { cause: error.cause ?? error },
        );
      }
      throw error;
    }
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

  #apply(key: Buffer | null, value: Buffer | null, partition: number, offset: bigint): void {
    if (value === null && key !== null) {
      // A tombstone: never written by Footfall (erasure is final), honoured to mirror the log.
      this.#erased.delete(key.toString('utf8'));
      return;
    }
    const erasure = decodeErasure(key, value);
    if (erasure === undefined) {
      this.#logger?.error(
        { topic: this.topic, partition, offset: String(offset) },
        'unreadable erasure record skipped',
      );
      return;
    }
    this.#erased.set(erasure.deviceId, erasure.erasedAtMs);
    const waiters = this.#waiters.get(erasure.deviceId);
    if (waiters) {
      this.#waiters.delete(erasure.deviceId);
      for (const w of waiters) w();
    }
  }

  /** Stops following the log and closes the client. Idempotent. */
  close(): Promise<void> {
    this.#abort.abort();
    return this.#reader.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
