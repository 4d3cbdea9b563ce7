// Reporting-delay nowcast of occupancy (docs/insights.md, "Live edge"): the chain-ladder / reporting-
// triangle method of epidemiological nowcasting, on device counts, with the count split by how it is
// known. For each lag index i (0 = the bucket containing now, 1 = the one before, …) the model learns, per
// region and rolling, how the parts seen at lag i relate to the settled count of the same (cell, bucket):
//   x = (confirmed, carried from a long stay, carried from a short stay, silent, left recently)
//   settled ≈ β_i · x       (ridge least squares, prior β = (1, 1, 1, 0, 0): the development factors)
//   dispersion φ_i = Σ (settled − β_i·x)² / Σ β_i·x   (quasi-Poisson variance φ·mean)
// A device carried from a long stay has most likely stayed; one carried from a short stay (just arrived,
// or passing through) much less so: separate factors correct the carry's over- and under-counting.
// The last two parts are the not-yet-reported mass the carry cannot see: "silent" devices, whose latest
// ping in the cell is older than the presence gap (their later pings are most often still on the phone),
// and the cell's recent out-flow (devices that left it in the last minutes: in steady state as many have
// walked in whose pings have not arrived). Their prior factor is 0 (the carry rule alone), so they only
// count once settled buckets have shown how much of them turns out present.
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

/**
 * The parts of a count seen at some lag: confirmed, carried from a long stay, carried from a short one,
 * silent (latest ping in the cell older than the presence gap, within the silent window) and left
 * recently (the cell's out-flow). Missing trailing parts are 0.
 */
export type CountParts = readonly [
  confirmed: number,
  carriedLong: number,
  carriedShort: number,
  silent?: number,
  leftRecently?: number,
];

const D = 5;
/** Prior factors: the carry rule (confirmed and carried count once; silent and left devices not at all). */
const PRIOR: readonly number[] = [1, 1, 1, 0, 0];

export class NowcastModel {
  readonly options: NowcastModelOptions;
  /** Per lag: XᵀX (D×D, row-major), Xᵀy (D), Σ residual², Σ expected, samples. */
  readonly #xtx: Float64Array[];
  readonly #xty: Float64Array[];
  readonly #squares: Float64Array;
  readonly #expected: Float64Array;
  readonly #beta: (Float64Array | null)[];
  /** Settled (cell, bucket) samples per lag (diagnostics). */
  readonly samples: Float64Array;

  constructor(options: Partial<NowcastModelOptions> = {}) {
    const o = Object.freeze({ ...DEFAULT_NOWCAST_MODEL_OPTIONS, ...options });
    if (!(Number.isInteger(o.lags) && o.lags > 0)) throw new RangeError('lags must be a positive integer');
    if (!(o.decay > 0 && o.decay <= 1)) throw new RangeError('decay must be in (0, 1]');
    if (!(o.priorWeight > 0)) throw new RangeError('priorWeight must be > 0');
    this.options = o;
    this.#xtx = Array.from({ length: o.lags }, () => new Float64Array(D * D));
    this.#xty = Array.from({ length: o.lags }, () => new Float64Array(D));
    this.#squares = new Float64Array(o.lags);
    this.#expected = new Float64Array(o.lags);
    this.#beta = new Array(o.lags).fill(null);
    this.samples = new Float64Array(o.lags);
  }

  /** Starts a new settled bucket: older evidence decays. */
  decay(): void {
    const d = this.options.decay;
    for (const a of [...this.#xtx, ...this.#xty, this.#squares, this.#expected, this.samples]) {
      for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) * d;
    }
    this.#beta.fill(null);
  }

  /** One (cell, bucket) settled at `settled` devices, seen as `x` (means) at lag index `lag`. */
  learn(lag: number, parts: CountParts, settled: number): void {
    if (!(lag >= 0 && lag < this.options.lags)) return;
    const x = full(parts);
    const mean = this.#predict(lag, x);
    const xtx = this.#xtx[lag] as Float64Array;
    const xty = this.#xty[lag] as Float64Array;
    for (let r = 0; r < D; r++) {
      xty[r] = (xty[r] as number) + (x[r] as number) * settled;
      for (let c = 0; c < D; c++)
        xtx[r * D + c] = (xtx[r * D + c] as number) + (x[r] as number) * (x[c] as number);
    }
    this.#squares[lag] = (this.#squares[lag] as number) + (settled - mean) ** 2;
    this.#expected[lag] = (this.#expected[lag] as number) + Math.max(mean, 1);
    this.samples[lag] = (this.samples[lag] as number) + 1;
    this.#beta[lag] = null;
  }

  /** β_i: the factors of the {@link CountParts}; the prior (1, 1, 1, 0, 0) beyond the learned lags. */
  factors(lag: number): ArrayLike<number> {
    if (!(lag >= 0 && lag < this.options.lags)) return PRIOR;
    let beta = this.#beta[lag];
    if (beta === null || beta === undefined) {
      beta = solveRidge(
        this.#xtx[lag] as Float64Array,
        this.#xty[lag] as Float64Array,
        this.options.priorWeight,
      );
      this.#beta[lag] = beta;
    }
    return beta;
  }

  /** φ_i (1 = Poisson before anything is learned). */
  dispersion(lag: number): number {
    if (!(lag >= 0 && lag < this.options.lags)) return 0;
    const w = this.options.priorWeight;
    return ((this.#squares[lag] as number) + w) / ((this.#expected[lag] as number) + w);
  }

  /** Nowcast of a count seen as `x` at lag index `lag`; the interval never goes below x's confirmed part. */
  estimate(lag: number, parts: CountParts): NowcastEstimate {
    const confirmed = parts[0];
    const estimate = Math.max(this.#predict(lag, full(parts)), confirmed);
    const half = this.options.z * Math.sqrt(this.dispersion(lag) * Math.max(estimate, 1));
    return {
      estimate,
      lower: Math.max(confirmed, estimate - half, 0),
      upper: Math.max(estimate + half, confirmed),
    };
  }

  #predict(lag: number, x: readonly number[]): number {
    const b = this.factors(lag);
    let sum = 0;
    for (let r = 0; r < D; r++) sum += (b[r] as number) * (x[r] as number);
    return Math.max(0, sum);
  }
}

function full(parts: CountParts): number[] {
  return Array.from({ length: D }, (_, r) => parts[r] ?? 0);
}

/**
 * argmin ‖y − Xβ‖² + w‖β − prior‖², i.e. (XᵀX + wI) β = Xᵀy + w·prior, by Gaussian elimination with partial
 * pivoting; each factor clamped to [0, 3] (a factor outside that is noise, not a delay correction).
 */
function solveRidge(xtx: Float64Array, xty: Float64Array, w: number): Float64Array {
  const a = Array.from({ length: D }, (_, r) => [
    ...Array.from({ length: D }, (_, c) => (xtx[r * D + c] as number) + (r === c ? w : 0)),
    (xty[r] as number) + w * (PRIOR[r] as number),
  ]);
  for (let col = 0; col < D; col++) {
    let pivot = col;
    for (let r = col + 1; r < D; r++)
      if (Math.abs(a[r]?.[col] as number) > Math.abs(a[pivot]?.[col] as number)) pivot = r;
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    const row = a[col] as number[];
    for (let r = 0; r < D; r++) {
      if (r === col) continue;
      const other = a[r] as number[];
      const f = (other[col] as number) / (row[col] as number);
      for (let c = col; c <= D; c++) other[c] = (other[c] as number) - f * (row[c] as number);
    }
  }
  const beta = new Float64Array(D);
  for (let r = 0; r < D; r++) {
    const row = a[r] as number[];
    beta[r] = Math.min(3, Math.max(0, (row[D] as number) / (row[r] as number)));
  }
  return beta;
}
