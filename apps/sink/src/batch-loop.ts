import type { Msg } from './subscription.ts';

/** What a {@link BatchLoop} needs from its service. */
export interface BatchLoopOptions {
  /** A batch is at most this many records; a full batch is processed at once and pauses fetching. */
  readonly maxBatchRecords: number;
  /** A partial batch waits at most this long (ms) for more records. */
  readonly flushIntervalMs: number;
  /**
   * Makes one batch durable (and commits its offsets). It retries on its own; it resolves when done or
   * when the service is closing.
   */
  processBatch(batch: Msg[]): Promise<void>;
  /** Stop fetching (the subscription's pause) while a full batch is written. */
  pause(): void;
  /** Fetch again (the subscription's resume) once the backlog is written. */
  resume(): void;
  /** Draining stops after a batch when this is true (closing while the database is down). */
  shouldStop(): boolean;
  /** The loop itself failed (a processBatch that threw). */
  onError(error: unknown): void;
}

/**
 * The batching consumer loop the sink and the alerts service share: records read from a
 * `SinkSubscription` collect into batches of `maxBatchRecords` (or whatever arrived within
 * `flushIntervalMs`), processed one at a time in order. A full batch pauses fetching until the backlog
 * is written (backpressure); after a stream failure the unwritten records are dropped (the new stream
 * reads them again from the committed offsets) once the batch in flight has finished.
 */
export class BatchLoop {
  readonly #o: BatchLoopOptions;
  #pending: Msg[] = [];
  #inFlight = 0;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(options: BatchLoopOptions) {
    this.#o = options;
  }

  /** Records read but not yet durable (waiting or in the batch being written): lag, for liveness. */
  get backlog(): number {
    return this.#pending.length + this.#inFlight;
  }

  /** A record of the current stream (SubscriptionHandlers.onMessage). */
  push(message: Msg): void {
    this.#pending.push(message);
    if (this.#pending.length >= this.#o.maxBatchRecords) {
      // Backpressure: stop fetching until the batch is durable.
      this.#o.pause();
      this.kick();
    } else if (!this.#timer && !this.#flushing)
      this.#timer = setTimeout(() => this.kick(), this.#o.flushIntervalMs);
  }

  /** Starts draining now, unless a drain is running (it picks the new records up). */
  kick(): void {
    this.#clearTimer();
    if (this.#flushing) return;
    this.#flushing = this.#drain()
      .catch((error: unknown) => this.#o.onError(error))
      .finally(() => {
        this.#flushing = undefined;
        if (this.#closing) return;
        this.#o.resume();
        if (this.#pending.length) this.kick();
      });
  }

  /**
   * Before a replacement stream reads (SubscriptionHandlers.beforeResubscribe): the batch in flight
   * finishes, so it can never overwrite newer values the new stream writes; the rest is dropped.
   */
  async resubscribe(): Promise<void> {
    this.#clearTimer();
    await this.#flushing;
    this.#pending = [];
  }

  /** Stops the timer and any new drain; the running one carries on (see {@link finish}). */
  stop(): void {
    this.#closing = true;
    this.#clearTimer();
  }

  /**
   * After {@link stop}: waits for the batch in flight, then, if `writeRest`, writes what was already
   * read so the next owner has less to re-read (best effort).
   */
  async finish(writeRest: () => boolean): Promise<void> {
    await this.#flushing;
    if (this.#pending.length && writeRest()) await this.#drain().catch(() => {});
  }

  async #drain(): Promise<void> {
    while (this.#pending.length) {
      const batch = this.#pending.slice(0, this.#o.maxBatchRecords);
      this.#pending = this.#pending.slice(batch.length);
      this.#inFlight = batch.length;
      await this.#o.processBatch(batch);
      this.#inFlight = 0;
      if (this.#closing && this.#o.shouldStop()) return;
    }
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
