// Reporting-delay nowcast of occupancy (docs/insights.md, "Live edge"): the chain-ladder / reporting-
// triangle method of epidemiological nowcasting, on device counts. For each lag index i (0 = the bucket
// containing now, 1 = the one before, …) the model learns, per region and rolling, how the count seen at
// lag i (presence carried to now included) relates to the settled count of the same (cell, bucket):
//   factor f_i = Σ settled / Σ observed_i            (the expected eventual count is f_i × observed)
//   dispersion φ_i = Σ (settled − f_i·observed_i)² / Σ f_i·observed_i   (quasi-Poisson variance φ·mean)
// Pure; sums decay geometrically per settled bucket so the model follows changing upload behaviour.

/** Options of a {@link NowcastModel}. */
export interface NowcastModelOptions {
  /** Lag indices learned: 0 … lags − 1. */
  readonly lags: number;
  /** Each settled bucket multiplies the old sums by this (0.97: ~23 buckets half-life). */
  readonly decay: number;
  /** Prior weight (device counts) pulling f toward 1 and φ toward 1 (Poisson) while little is learned. */
  readonly priorWeight: number;
  /** z of the interval (1.645: a central 90 % interval under a normal approximation). */
  readonly z: number;
}

export const DEFAULT_NOWCAST_MODEL_OPTIONS: NowcastModelOptions = Object.freeze({
  lags: 16,
  decay: 0.97,
  priorWeight: 20,
  z: 1.645,
});

/** A nowcast of one (cell, bucket). */
export interface NowcastEstimate {
  /** Expected eventual count (not rounded). */
  estimate: number;
  /** Interval bounds (not rounded); lower ≥ the confirmed count. */
  lower: number;
  upper: number;
}

export class NowcastModel {
  readonly options: NowcastModelOptions;
  readonly #settled: Float64Array;
  readonly #observed: Float64Array;
  readonly #squares: Float64Array;
  readonly #expected: Float64Array;
  /** Settled (cell, bucket) samples per lag (diagnostics). */
  readonly samples: Float64Array;

  constructor(options: Partial<NowcastModelOptions> = {}) {
    const o = Object.freeze({ ...DEFAULT_NOWCAST_MODEL_OPTIONS, ...options });
    if (!(Number.isInteger(o.lags) && o.lags > 0)) throw new RangeError('lags must be a positive integer');
    if (!(o.decay > 0 && o.decay <= 1)) throw new RangeError('decay must be in (0, 1]');
    if (!(o.priorWeight > 0)) throw new RangeError('priorWeight must be > 0');
    this.options = o;
    this.#settled = new Float64Array(o.lags);
    this.#observed = new Float64Array(o.lags);
    this.#squares = new Float64Array(o.lags);
    this.#expected = new Float64Array(o.lags);
    this.samples = new Float64Array(o.lags);
  }

  /** Starts a new settled bucket: older evidence decays. */
  decay(): void {
    const d = this.options.decay;
    for (const a of [this.#settled, this.#observed, this.#squares, this.#expected, this.samples]) {
      for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) * d;
    }
  }

  /** One (cell, bucket) settled at `settled` devices, seen as `observed` (mean) at lag index `lag`. */
  learn(lag: number, observed: number, settled: number): void {
    if (!(lag >= 0 && lag < this.options.lags)) return;
    const mean = this.factor(lag) * observed;
    this.#settled[lag] = (this.#settled[lag] as number) + settled;
    this.#observed[lag] = (this.#observed[lag] as number) + observed;
    this.#squares[lag] = (this.#squares[lag] as number) + (settled - mean) ** 2;
    this.#expected[lag] = (this.#expected[lag] as number) + Math.max(mean, 1);
    this.samples[lag] = (this.samples[lag] as number) + 1;
  }

  /** f_i (1 beyond the learned lags: the count is as good as settled). */
  factor(lag: number): number {
    if (!(lag >= 0 && lag < this.options.lags)) return 1;
    const w = this.options.priorWeight;
    return ((this.#settled[lag] as number) + w) / ((this.#observed[lag] as number) + w);
  }

  /** φ_i (1 = Poisson before anything is learned). */
  dispersion(lag: number): number {
    if (!(lag >= 0 && lag < this.options.lags)) return 0;
    const w = this.options.priorWeight;
    return ((this.#squares[lag] as number) + w) / ((this.#expected[lag] as number) + w);
  }

  /**
   * Nowcast of a count seen as `observed` (carried presence included) at lag index `lag`, of which
   * `confirmed` devices are established by pings already arrived (the interval never goes below them).
   */
  estimate(lag: number, observed: number, confirmed: number): NowcastEstimate {
    const estimate = this.factor(lag) * observed;
    const half = this.options.z * Math.sqrt(this.dispersion(lag) * Math.max(estimate, 1));
    return {
      estimate,
      lower: Math.max(confirmed, estimate - half, 0),
      upper: Math.max(estimate + half, confirmed),
    };
  }
}
