import { type KafkaConnectionConfig, kafkaClientOptions } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { Producer } from '@platformatic/kafka';
import { IngestError } from './errors.ts';
import type { IngestMetrics } from './metrics.ts';
import { notWritten } from './produce-outcome.ts';

/**
 * One Kafka record, already keyed, partitioned and encoded, in the shape the Kafka client takes (so it
 * is handed over as is, not copied into another object per record).
 */
export interface OutgoingRecord {
  topic: string;
  key: Buffer;
  value: Buffer;
  partition: number;
  /** Kafka record timestamp, ms (the receive time). */
  timestamp: bigint;
}

export interface PingProducerOptions {
  /** Brokers and (optionally) SASL/TLS, see `kafkaAuthSpec`. */
  connection: KafkaConnectionConfig;
  topic: string;
  /** Next generation of the topic, written too while set (docs/operations.md, partition changes). */
  nextTopic?: string | undefined;
  clientId?: string;
  /** Upper bound on the Kafka client's own request time, ms; also the retry budget. */
  produceTimeoutMs: number;
  /** How long an upload waits for others to share its producer send, ms (0 = next tick). */
  lingerMs: number;
  /** Records per producer send (an upload is never split, so a send may exceed this by one upload). */
  maxRecords: number;
  /** Producer sends in flight at once; further uploads queue and coalesce. */
  maxConcurrentSends: number;
  /** Cap on admitted-but-unsettled records: beyond it uploads are refused instead of buffered. */
  maxInflight: number;
  logger: Logger;
  metrics: IngestMetrics;
}

/** The longest delay setTimeout honours (2^31-1 ms, ~24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

interface Pending {
  records: OutgoingRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Set once the records were handed to the Kafka client (they may be written from then on). */
  sending: boolean;
  /** The caller's deadline when given in ms; cleared when the send settles. */
  timer: NodeJS.Timeout | undefined;
}

/**
 * The ingest producer: an idempotent, acks=all @platformatic/kafka Producer behind a micro-batcher.
 *
 * Concurrent uploads are coalesced into one `producer.send` (up to `maxRecords`, waiting at most
 * `lingerMs`, and naturally while `maxConcurrentSends` sends are already in flight): Kafka's cost is
 * per request, not per record, so this is what makes 50-ping uploads cheap. Every upload's promise
 * settles only when the send carrying its records settles, so an upload is acknowledged only after
 * Kafka acked every one of its records.
 *
 * Memory is bounded by admission: `admit(n)` refuses once `maxInflight` records are admitted and not
 * yet settled; records are released when their send settles (not when the caller gives up waiting),
 * so a slow or dead Kafka makes the service refuse work rather than buffer it.
 */
export class PingProducer {
  readonly #options: PingProducerOptions;
  readonly #producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  #queue: Pending[] = [];
  #queuedRecords = 0;
  #timer: NodeJS.Timeout | undefined;
  #activeSends = 0;
  #inflight = 0;
  #partitions: number | undefined;
  #nextPartitions: number | undefined;
  #healthy = false;
  #probeTimer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(options: PingProducerOptions) {
    this.#options = options;
    this.#producer = new Producer({
      ...kafkaClientOptions(options.connection, options.clientId ?? 'footfall-ingest'),
      idempotent: true,
      acks: -1,
      // Bounded by PRODUCE_TIMEOUT_MS: a dead broker fails the send (→ UNAVAILABLE, client retries)
      // instead of holding records in memory indefinitely.
      timeout: options.produceTimeoutMs,
      connectTimeout: Math.min(options.produceTimeoutMs, 2_000),
      retries: 2,
      retryDelay: 200,
      metadataMaxAge: 30_000,
    });
  }

  /** Partition count of the topic (from metadata), or undefined before Kafka first answered. */
  get partitions(): number | undefined {
    return this.#partitions;
  }

  /** Partition count of the next topic generation (undefined when none is set or before Kafka answered). */
  get nextPartitions(): number | undefined {
    return this.#nextPartitions;
  }

  /** True when the last contact with Kafka (probe or send) succeeded. */
  get healthy(): boolean {
    return this.#healthy;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Starts the metadata probe; resolves after the first attempt (Kafka may still be down). */
  async start(): Promise<void> {
    await this.#probe();
  }

  async #probe(): Promise<void> {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    try {
      const { nextTopic } = this.#options;
      const metadata = await this.#producer.metadata({
        topics: nextTopic === undefined ? [this.#options.topic] : [this.#options.topic, nextTopic],
        forceUpdate: true,
        retries: 0,
      });
      const topic = metadata.topics.get(this.#options.topic);
      if (!topic) throw new Error(`topic ${this.#options.topic} does not exist`);
      if (nextTopic !== undefined) {
        const next = metadata.topics.get(nextTopic);
        if (!next) throw new Error(`topic ${nextTopic} does not exist`);
        this.#nextPartitions = next.partitionsCount;
      }
      if (this.#partitions !== undefined && this.#partitions !== topic.partitionsCount) {
        this.#options.logger.warn(
          { from: this.#partitions, to: topic.partitionsCount },
          'partition count changed',
        );
      }
      this.#partitions = topic.partitionsCount;
      this.#setHealthy(true);
    } catch (error) {
      if (this.#healthy) this.#options.logger.warn({ err: error }, 'kafka metadata probe failed');
      this.#setHealthy(false);
    } finally {
      this.#probing = false;
      if (!this.#closed) {
        // Poll faster while Kafka is down so readiness comes back within a second.
        this.#probeTimer = setTimeout(() => void this.#probe(), this.#healthy ? 5_000 : 1_000);
        this.#probeTimer.unref();
      }
    }
  }

  #setHealthy(up: boolean): void {
    if (up !== this.#healthy)
      this.#options.logger.info({ kafkaUp: up }, up ? 'kafka reachable' : 'kafka unreachable');
    this.#healthy = up;
    this.#options.metrics.kafkaUp.set(up ? 1 : 0);
  }

  /** Reserves room for `n` records; false when the in-flight cap would be exceeded. */
  admit(n: number): boolean {
    if (this.#inflight + n > this.#options.maxInflight) return false;
    this.#inflight += n;
    this.#options.metrics.inflightPings.set(this.#inflight);
    return true;
  }

  /** Gives back a reservation taken with `admit` that will not be sent. */
  release(n: number): void {
    this.#inflight -= n;
    this.#options.metrics.inflightPings.set(this.#inflight);
    if (this.#inflight === 0) for (const done of this.#idle.splice(0)) done();
  }

  /**
   * Sends admitted records (call `admit(records.length)` first); resolves once Kafka acked all of them.
   * The reservation is released when the send settles, whatever the caller does meanwhile.
   *
   * Rejects with INGEST_KAFKA_UNAVAILABLE only when none of the records was written, and with
   * INGEST_OUTCOME_UNKNOWN when they may have been (produce-outcome.ts). When the caller's time is up
   * (`timeout`: an AbortSignal, or a budget in ms, Infinity = none), records still queued here are
   * withdrawn (not written: UNAVAILABLE); records already handed to Kafka cannot be, so the caller is
   * answered OUTCOME_UNKNOWN and the send goes on.
   *
   * Prefer the budget in ms on the hot path: it costs one timer, cleared when the send settles, where
   * `AbortSignal.timeout` builds a signal per upload whose timer cannot be cleared and which, seconds
   * after the upload was answered, still fires and builds a DOMException (15 vs 0.2 µs per upload,
   * bench/ingest-hotpath.ts; 3-4 % of the service's profile at 50-ping uploads).
   */
  send(records: OutgoingRecord[], timeout?: AbortSignal | number): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    if (this.#closed) {
      this.release(records.length);
      reject(new IngestError('INGEST_DRAINING', 'producer closed'));
      return promise;
    }
    const pending: Pending = { records, resolve, reject, sending: false, timer: undefined };
    if (typeof timeout === 'number') {
      // setTimeout turns a delay beyond 2^31-1 ms (or NaN) into 1 ms: such budgets mean "no deadline".
      if (timeout <= MAX_TIMER_MS) {
        pending.timer = setTimeout(
          () => this.#timedOut(pending, new Error(`no ack within ${timeout} ms`)),
          timeout,
        ).unref();
      }
    } else if (timeout) {
      const signal = timeout;
      const onAbort = () => this.#timedOut(pending, signal.reason);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        promise.then(
          () => signal.removeEventListener('abort', onAbort),
          () => signal.removeEventListener('abort', onAbort),
        );
      }
      if (signal.aborted) return promise;
    }
    this.#queue.push(pending);
    this.#queuedRecords += records.length;
    if (this.#queuedRecords >= this.#options.maxRecords) this.#flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(), this.#options.lingerMs);
    }
    return promise;
  }

  /** The caller's time is up: withdraw the records if still queued, else answer "outcome unknown". */
  #timedOut(pending: Pending, cause: unknown): void {
    const { records, reject } = pending;
    const at = this.#queue.indexOf(pending);
    if (at >= 0) {
      this.#queue.splice(at, 1);
      this.#queuedRecords -= records.length;
      this.release(records.length);
      reject(
        new IngestError('INGEST_KAFKA_UNAVAILABLE', 'Kafka busy: the batch was not sent in time; retry', {
          cause,
        }),
      );
    } else if (pending.sending) {
      this.#options.metrics.outcomeUnknown.inc({ reason: 'timeout' });
      reject(
        new IngestError(
          'INGEST_OUTCOME_UNKNOWN',
          'Kafka did not acknowledge in time; the batch may be written: retry with the same ping ids',
          { cause },
        ),
      );
    }
  }

  #flush(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#queue.length > 0 && this.#activeSends < this.#options.maxConcurrentSends) {
      const batch: Pending[] = [];
      let count = 0;
      while (this.#queue.length > 0 && count < this.#options.maxRecords) {
        const next = this.#queue.shift() as Pending;
        batch.push(next);
        count += next.records.length;
      }
      this.#queuedRecords -= count;
      void this.#sendBatch(batch, count);
    }
  }

  async #sendBatch(batch: Pending[], count: number): Promise<void> {
    this.#activeSends++;
    for (const pending of batch) pending.sending = true;
    const messages: OutgoingRecord[] = batch.length === 1 ? (batch[0] as Pending).records : [];
    if (batch.length > 1) for (const pending of batch) for (const r of pending.records) messages.push(r);
    const started = performance.now();
    try {
      await this.#producer.send({ messages });
      this.#options.metrics.produceLatency.observe((performance.now() - started) / 1000);
      this.#options.metrics.produceSendRecords.observe(count);
      this.#setHealthy(true);
      for (const pending of batch) {
        clearTimeout(pending.timer);
        pending.resolve();
      }
    } catch (error) {
      const written = !notWritten(error);
      this.#options.logger.warn({ err: error, records: count, outcomeUnknown: written }, 'kafka send failed');
      this.#setHealthy(false);
      if (written) this.#options.metrics.outcomeUnknown.inc({ reason: 'send_failed' });
      const failure = written
        ? new IngestError(
            'INGEST_OUTCOME_UNKNOWN',
            'Kafka failed after the batch was sent; it may be written: retry with the same ping ids',
            { cause: error },
          )
        : new IngestError(
            'INGEST_KAFKA_UNAVAILABLE',
            'Kafka did not take the batch (nothing written); retry',
            {
              cause: error,
            },
          );
      for (const pending of batch) {
        clearTimeout(pending.timer);
        pending.reject(failure);
      }
    } finally {
      this.#activeSends--;
      this.release(count);
      // Whatever queued while this send was in flight goes out now, as one send.
      if (this.#queue.length > 0) this.#flush();
    }
  }

  /** Resolves when every admitted record has settled (sent or failed). */
  async drain(): Promise<void> {
    if (this.#timer || this.#queue.length) this.#flush();
    if (this.#inflight === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Flushes queued records, waits for in-flight sends, then closes the Kafka client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.drain();
    this.#closed = true;
    clearTimeout(this.#probeTimer);
    await this.#producer
      .close()
      .catch((error: unknown) => this.#options.logger.warn({ err: error }, 'producer close'));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
