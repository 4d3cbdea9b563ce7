import { kafkaClientOptions } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';
import pRetry from 'p-retry';
import type { SinkConfig } from './config.ts';

export type Msg = Message<Buffer, Buffer, Buffer, Buffer>;
type Stream = MessagesStream<Buffer, Buffer, Buffer, Buffer>;

export interface SubscriptionHandlers {
  /** A record of the current stream (records of a stream that has failed are never delivered). */
  onMessage(message: Msg): void;
  /**
   * Called after a stream failed and before its replacement reads anything: finish or drop the
   * in-flight work of the old stream. Its uncommitted records are read again by the new one.
   */
  beforeResubscribe(): Promise<void>;
  /** A failure that retrying cannot fix (authentication, authorization): the process should exit. */
  onFatal(error: unknown): void;
  /** Each failed (re)subscription attempt, for metrics. */
  onRetry?(error: unknown, attempt: number): void;
}

/**
 * Errors that a new consumer would meet again: wrong credentials or missing ACLs. Everything else a
 * stream dies of (broker restart, "fetch failed N times", a failed rejoin, a coordinator move) is
 * transient and answered by re-subscribing.
 */
export function isFatalKafkaError(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 6) return false;
  const e = error as { code?: unknown; apiId?: unknown; errors?: unknown[]; cause?: unknown };
  if (e.code === 'PLT_KFK_AUTHENTICATION') return true;
  if (typeof e.apiId === 'string' && /AUTHORIZATION_FAILED|SASL_AUTHENTICATION/.test(e.apiId)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isFatalKafkaError(inner, depth + 1))) return true;
  return isFatalKafkaError(e.cause, depth + 1);
}

/**
 * The sink's membership of its consumer group and its message stream, kept alive across broker
 * outages. @platformatic/kafka destroys a MessagesStream on a fetch error it has exhausted its retries
 * for (e.g. `fetch failed 4 times` while the broker restarts) and never reads again; a consumer group
 * error can leave the consumer out of the group. Either way this class throws the consumer away and
 * subscribes a fresh one with exponential backoff (p-retry, 0.5 s doubling to 30 s, until closed),
 * which resumes from the committed offsets. With a stable INSTANCE_ID the new member takes over the
 * old one's static membership without waiting for a session timeout.
 */
export class SinkSubscription {
  readonly #config: SinkConfig;
  readonly #logger: Logger;
  readonly #handlers: SubscriptionHandlers;
  readonly #abort = new AbortController();
  #consumer: Consumer | undefined;
  #stream: Stream | undefined;
  #recovering: Promise<void> | undefined;
  #subscriptions = 0;

  constructor(config: SinkConfig, logger: Logger, handlers: SubscriptionHandlers) {
    this.#config = config;
    this.#logger = logger;
    this.#handlers = handlers;
  }

  /** Subscribes once (a failure at start-up is the caller's: the process exits and is restarted). */
  async start(): Promise<void> {
    await this.#subscribe();
  }

  /** Streams subscribed so far (1 + re-subscriptions). */
  get subscriptions(): number {
    return this.#subscriptions;
  }

  /** True while a stream is reading (false during a re-subscription and after close). */
  get active(): boolean {
    return (
      this.#recovering === undefined &&
      this.#stream !== undefined &&
      !this.#stream.destroyed &&
      this.#consumer?.isConnected() === true &&
      this.#stream.isActive()
    );
  }

  get consumer(): Consumer | undefined {
    return this.#consumer;
  }

  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    const stream = this.#stream;
    if (stream && !stream.destroyed && stream.isPaused()) stream.resume();
  }

  /**
   * Records between this member's fetch positions and the end (last stable offset) of its assigned
   * partitions; undefined while there is no live stream or the broker cannot answer.
   */
  async lag(): Promise<number | undefined> {
    const consumer = this.#consumer;
    const stream = this.#stream;
    if (!consumer || !stream || stream.destroyed || this.#recovering) return undefined;
    const topic = this.#config.topicAggregated;
    const assigned = (consumer.assignments ?? [])
      .filter((a) => a.topic === topic)
      .flatMap((a) => a.partitions);
    if (assigned.length === 0) return 0;
    const ends = await consumer.listOffsets({
      topics: [topic],
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
    const end = ends.get(topic) ?? [];
    let lag = 0n;
    for (const p of assigned) {
      const position = stream.offsetsToFetch.get(`${topic}:${p}`);
      const last = end[p];
      // No position yet (the first fetch has not answered): count the partition as not behind.
      if (position === undefined || last === undefined) continue;
      if (last > position) lag += last - position;
    }
    return Number(lag);
  }

  async #subscribe(): Promise<void> {
    const c = this.#config;
    const consumer = new Consumer({
      ...kafkaClientOptions(c, `footfall-sink-${c.instanceId}`),
      groupId: c.groupId,
      groupInstanceId: c.instanceId,
      autocommit: false,
      // The processor produces in transactions: never surface records of aborted or open ones.
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 500,
      sessionTimeout: c.sessionTimeoutMs,
      heartbeatInterval: c.heartbeatIntervalMs,
      rebalanceTimeout: c.sessionTimeoutMs + 5_000,
    });
    // Group errors (e.g. a failed rejoin) are 'error' events on the consumer: without a listener they
    // would be uncaught exceptions.
    consumer.on('error', (error: Error) => this.#failed(consumer, error));
    this.#consumer = consumer;
    let stream: Stream;
    try {
      stream = await consumer.consume({
        topics: [c.topicAggregated],
        mode: MessagesStreamModes.COMMITTED,
        fallbackMode: MessagesStreamFallbackModes.EARLIEST,
        autocommit: false,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
    } catch (error) {
      await consumer.close(true).catch(() => {});
      throw error;
    }
    this.#stream = stream;
    this.#subscriptions++;
    stream.on('data', (message: Msg) => {
      if (this.#stream === stream) this.#handlers.onMessage(message);
    });
    stream.on('error', (error: Error) => this.#failed(consumer, error));
    // A stream may also end without an error (closed under us): same remedy.
    stream.on('close', () => {
      if (this.#stream === stream && !this.#abort.signal.aborted) {
        this.#failed(consumer, new Error('message stream closed unexpectedly'));
      }
    });
  }

  #failed(consumer: Consumer, error: unknown): void {
    if (this.#abort.signal.aborted || consumer !== this.#consumer || this.#recovering) return;
    if (isFatalKafkaError(error)) {
      this.#logger.fatal({ err: error }, 'SINK_CONSUMER_FAILED: non-retryable Kafka error');
      this.#handlers.onFatal(error);
      return;
    }
    this.#logger.error({ err: error }, 'consumer stream failed; re-subscribing with backoff');
    this.#recovering = this.#recover().finally(() => {
      this.#recovering = undefined;
    });
  }

  async #recover(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      await pRetry(
        async () => {
          signal.throwIfAborted();
          await this.#dispose();
          await this.#handlers.beforeResubscribe();
          signal.throwIfAborted();
          await this.#subscribe();
        },
        {
          retries: Number.POSITIVE_INFINITY,
          minTimeout: 500,
          maxTimeout: 30_000,
          factor: 2,
          randomize: true,
          signal,
          shouldRetry: ({ error }) => !isFatalKafkaError(error),
          onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
            this.#handlers.onRetry?.(error, attemptNumber);
            this.#logger.warn({ err: error, attempt: attemptNumber, retryDelay }, 're-subscription failed');
          },
        },
      );
      this.#logger.info({ subscriptions: this.#subscriptions }, 'consumer re-subscribed');
    } catch (error) {
      if (signal.aborted) return;
      this.#logger.fatal({ err: error }, 'SINK_CONSUMER_FAILED: re-subscription gave up');
      this.#handlers.onFatal(error);
    }
  }

  /** Closes the current stream and consumer without waiting on a broker that may be gone. */
  async #dispose(): Promise<void> {
    const stream = this.#stream;
    const consumer = this.#consumer;
    this.#stream = undefined;
    if (stream && !stream.destroyed) await stream.close().catch(() => {});
    if (consumer && !consumer.closed) await consumer.close(true).catch(() => {});
  }

  /** Stops reading and leaves the group (best effort). */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#recovering?.catch(() => {});
    const stream = this.#stream;
    if (stream && !stream.destroyed) await stream.close().catch(() => {});
    await this.#consumer?.close(true).catch(() => {});
  }
}
