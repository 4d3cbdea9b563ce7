/** What {@link ConsumerLiveness.check} found. */
export interface LivenessStatus {
  alive: boolean;
  /** Why it is not alive: `loop_dead` (the consumer loop stopped) or `stalled` (lag but no progress). */
  reason?: 'loop_dead' | 'stalled';
  /** Records behind the end of the log at the last lag sample; undefined when unknown. */
  lag: number | undefined;
  /** Time since the consumer last advanced, or since it fell behind if that is later, ms. */
  stalledForMs: number;
  detail?: string;
}

export interface ConsumerLivenessOptions {
  /**
   * How long a consumer may go without advancing while it has lag before it counts as stuck, ms.
   * Pick it above the longest legitimate pause (a rebalance plus a restore, a dependency retry).
   */
  stallTimeoutMs: number;
  /**
   * Samples the lag: records between the consumer's position and the end of its assigned partitions
   * (0 = caught up); undefined or a throw = unknown right now (e.g. the broker is unreachable).
   */
  lag?: () => Promise<number | undefined> | number | undefined;
  /** How often `lag` is sampled, ms. Default: a quarter of `stallTimeoutMs`, at most 10 s. */
  lagIntervalMs?: number;
  now?: () => number;
}

/**
 * Liveness of one consumer loop, for `/healthz` (a restart is the remedy): not alive when the loop has
 * died, or when it has not advanced for `stallTimeoutMs` while its lag was above zero. A consumer that
 * is caught up is alive however long it has been idle; while the lag is unknown (broker unreachable)
 * no stall is declared, since restarting the process cannot bring a broker back.
 *
 * The loop reports `progressed()` whenever its position moves (records written, transaction committed)
 * and `died(error)` when it gives up; the lag is sampled in the background.
 */
export class ConsumerLiveness {
  readonly #options: ConsumerLivenessOptions;
  readonly #now: () => number;
  #lastProgressAt: number;
  #behindSince: number | undefined;
  #lag: number | undefined;
  #dead: unknown;
  #timer: NodeJS.Timeout | undefined;
  #sampling = false;

  constructor(options: ConsumerLivenessOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#lastProgressAt = this.#now();
  }

  /** Starts sampling the lag in the background (no-op without a `lag` function). */
  start(): this {
    if (!this.#options.lag || this.#timer) return this;
    const interval = this.#options.lagIntervalMs ?? Math.min(10_000, this.#options.stallTimeoutMs / 4);
    this.#timer = setInterval(() => void this.sample(), Math.max(50, interval));
    this.#timer.unref();
    return this;
  }

  /** Samples the lag now (also what the background timer calls). */
  async sample(): Promise<void> {
    if (!this.#options.lag || this.#sampling) return;
    this.#sampling = true;
    try {
      this.reportLag(await this.#options.lag());
    } catch {
      this.reportLag(undefined);
    } finally {
      this.#sampling = false;
    }
  }

  /** Records a lag sample (for loops that compute it themselves). */
  reportLag(lag: number | undefined): void {
    // The stall clock runs only while the lag is known and above zero: time the broker was unreachable
    // does not count (a restart would not help), and an idle consumer that falls behind gets the
    // full timeout from the moment it does.
    if (lag === undefined || lag <= 0) this.#behindSince = undefined;
    else this.#behindSince ??= this.#now();
    this.#lag = lag;
  }

  /** The consumer's position moved (records durably handled). */
  progressed(): void {
    this.#lastProgressAt = this.#now();
    this.#dead = undefined;
  }

  /** The loop stopped for good: liveness fails from now on (until `progressed()`). */
  died(error: unknown): void {
    this.#dead = error ?? new Error('consumer loop stopped');
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  check(): LivenessStatus {
    const now = this.#now();
    const behindSince = this.#behindSince;
    const stalledForMs = behindSince === undefined ? 0 : now - Math.max(this.#lastProgressAt, behindSince);
    if (this.#dead !== undefined) {
      const detail = this.#dead instanceof Error ? this.#dead.message : String(this.#dead);
      return { alive: false, reason: 'loop_dead', lag: this.#lag, stalledForMs, detail };
    }
    if (stalledForMs > this.#options.stallTimeoutMs) {
      return { alive: false, reason: 'stalled', lag: this.#lag, stalledForMs };
    }
    return { alive: true, lag: this.#lag, stalledForMs };
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
