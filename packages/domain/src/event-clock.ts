// Event time of one partition's aggregation: max event time, watermark (max − lateness, or an idle
// advance, watermark.ts) and when the next eviction is due (every bucket of watermark progress).

export class EventClock {
  readonly #latenessMs: number;
  readonly #bucketMs: number;
  /** Largest event time of a ping that was neither late nor a duplicate (ms); -Infinity before the first. */
  maxEventMs = Number.NEGATIVE_INFINITY;
  /** Current watermark (ms); -Infinity before the first ping. */
  watermarkMs = Number.NEGATIVE_INFINITY;
  /** Watermark at the last eviction. */
  lastEvictMs = Number.NEGATIVE_INFINITY;

  constructor(latenessMs: number, bucketMs: number) {
    this.#latenessMs = latenessMs;
    this.#bucketMs = bucketMs;
  }

  /** True if a ping at event time `t` is behind the watermark (NaN counts as late). */
  isLate(t: number): boolean {
    return !(t >= this.watermarkMs);
  }

  /** Takes in the event time of an admitted ping. */
  observe(t: number): void {
    if (t > this.maxEventMs) {
      this.maxEventMs = t;
      // max(): an idle advance may already be ahead of the data.
      if (t - this.#latenessMs > this.watermarkMs) this.watermarkMs = t - this.#latenessMs;
    }
  }

  /** Raises the watermark (no-op if not higher); the max event time is left alone. */
  advance(watermarkMs: number): boolean {
    if (!(watermarkMs > this.watermarkMs)) return false;
    this.watermarkMs = watermarkMs;
    return true;
  }

  /** True once the watermark has moved a bucket since the last eviction. */
  evictionDue(): boolean {
    return this.watermarkMs - this.lastEvictMs >= this.#bucketMs;
  }
}
