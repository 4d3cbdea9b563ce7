// Upload-delay profile: the distribution of (ingest arrival − event time) of accepted pings, learned from
// the stream per region and rolling (docs/insights.md, "Live edge"). Pure and a function of the records
// only (arrival time is `received_at_ms` on the record), so a replay rebuilds the same profile.

/** Bin edges (ms, upper bounds): every 5 s up to 10 min, then every minute up to 1 h; beyond = last bin. */
export const DELAY_BIN_EDGES_MS: readonly number[] = Object.freeze([
  ...Array.from({ length: 120 }, (_, i) => (i + 1) * 5_000),
  ...Array.from({ length: 50 }, (_, i) => 600_000 + (i + 1) * 60_000),
]);

function binOf(delayMs: number): number {
  if (delayMs <= 600_000) return Math.max(0, Math.ceil(delayMs / 5_000) - 1);
  return Math.min(DELAY_BIN_EDGES_MS.length - 1, 119 + Math.ceil((delayMs - 600_000) / 60_000));
}

/**
 * Rolling histogram of upload delays of one region: two windows of `windowMs` of arrival time (the
 * current and the previous one), so the profile always covers between one and two windows of recent
 * arrivals and forgets older behaviour.
 */
export class DelayProfile {
  readonly windowMs: number;
  #current = new Float64Array(DELAY_BIN_EDGES_MS.length);
  #previous = new Float64Array(DELAY_BIN_EDGES_MS.length);
  #windowStartMs = Number.NEGATIVE_INFINITY;
  #cdf: Float64Array | null = null;

  constructor(windowMs = 1_800_000) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be > 0');
    this.windowMs = windowMs;
  }

  /** One accepted ping: event time and arrival time (ms). Negative delays (clock skew) count as 0. */
  observe(eventTimeMs: number, receivedAtMs: number): void {
    if (receivedAtMs >= this.#windowStartMs + this.windowMs) {
      const start = Math.floor(receivedAtMs / this.windowMs) * this.windowMs;
      // Rotate once per elapsed window; a gap of two or more windows forgets both.
      if (start - this.#windowStartMs === this.windowMs) {
        const recycled = this.#previous.fill(0);
        this.#previous = this.#current;
        this.#current = recycled;
      } else {
        this.#previous.fill(0);
        this.#current.fill(0);
      }
      this.#windowStartMs = start;
    }
    const bin = binOf(Math.max(0, receivedAtMs - eventTimeMs));
    this.#current[bin] = (this.#current[bin] as number) + 1;
    this.#cdf = null;
  }

  /** Pings in the profile. */
  get samples(): number {
    let n = 0;
    for (let i = 0; i < this.#current.length; i++)
      n += (this.#current[i] as number) + (this.#previous[i] as number);
    return n;
  }

  /** Cumulative fractions at {@link DELAY_BIN_EDGES_MS} (empty profile: all 1, i.e. no delay known). */
  cdf(): Float64Array {
    if (this.#cdf !== null) return this.#cdf;
    const out = new Float64Array(DELAY_BIN_EDGES_MS.length);
    const total = this.samples;
    let acc = 0;
    for (let i = 0; i < out.length; i++) {
      acc += (this.#current[i] as number) + (this.#previous[i] as number);
      out[i] = total > 0 ? acc / total : 1;
    }
    this.#cdf = out;
    return out;
  }
}

/** P(delay ≤ d) from a CDF at {@link DELAY_BIN_EDGES_MS}, linear inside a bin (0 at d ≤ 0). */
export function delayCdfAt(cdf: ArrayLike<number>, delayMs: number): number {
  if (!(delayMs > 0)) return 0;
  const i = binOf(delayMs);
  const hi = DELAY_BIN_EDGES_MS[i] as number;
  const lo = i === 0 ? 0 : (DELAY_BIN_EDGES_MS[i - 1] as number);
  const cLo = i === 0 ? 0 : (cdf[i - 1] as number);
  const cHi = cdf[i] as number;
  if (delayMs >= hi) return cHi;
  return cLo + ((cHi - cLo) * (delayMs - lo)) / (hi - lo);
}

/**
 * Completeness of the bucket [bucketStartMs, +bucketMs) at `nowMs`: the expected fraction of its pings
 * (event times spread evenly over the part of the bucket already past) that have arrived, = the mean
 * of P(delay ≤ now − t) over t. Midpoint rule over 12 sub-intervals.
 */
export function completenessAt(
  cdf: ArrayLike<number>,
  bucketStartMs: number,
  bucketMs: number,
  nowMs: number,
): number {
  const end = Math.min(bucketStartMs + bucketMs, nowMs);
  if (!(end > bucketStartMs)) return 0;
  const steps = 12;
  const w = (end - bucketStartMs) / steps;
  let sum = 0;
  for (let i = 0; i < steps; i++) sum += delayCdfAt(cdf, nowMs - (bucketStartMs + (i + 0.5) * w));
  return sum / steps;
}
