// One differentially private release of a bucket's occupancy (docs/privacy.md, "Differential privacy"):
// every non-empty cell gets discrete Laplace noise, and only cells whose NOISY count reaches a threshold
// τ are released. Pure: the caller supplies the raw counts and the random source.
//
// Guarantee per release, for two inputs differing in one device (which, after contribution bounding,
// adds or removes 1 in at most C cells of the bucket):
//   • cells non-empty in both: L1 sensitivity C, noise scale C/ε → ε-DP (Laplace mechanism);
//   • cells that exist only with the device (count 1 vs absent): released with probability
//     P(1 + L >= τ) = q^(τ−1) / (1 + q), q = exp(−ε/C); over at most C such cells this is ≤ δ.
// So a release is (ε, δ)-DP, and an empty cell (never noised, never released) is indistinguishable
// from a cell with few devices whose noisy count fell below τ (the "partition selection" of Korolova et
// al. 2009, "Releasing search queries and clicks privately", and Wilson et al. 2020, "Differentially
// private SQL with bounded user contribution").

import { type Rational, rationalOf, sampleDiscreteLaplace } from './dp-noise.ts';
import type { RandomSource } from './dp-random.ts';

export interface DpReleaseParams {
  /** ε of one bucket release (> 0). */
  readonly epsilon: number;
  /** δ of one bucket release (0 < δ < 1): bounds the chance that a (near-)empty cell shows up. */
  readonly delta: number;
  /** C, the contribution bound: most cells one device counts in per bucket. */
  readonly maxCellsPerBucket: number;
}

export interface DpMechanism extends DpReleaseParams {
  /** Discrete Laplace scale C/ε as an exact rational. */
  readonly scale: Rational;
  /** Released only if the noisy count is >= this. */
  readonly threshold: number;
}

/** The mechanism for `p`: noise scale C/ε and the smallest τ with C·q^(τ−1)/(1+q) <= δ. */
export function dpMechanism(p: DpReleaseParams): DpMechanism {
  if (!(p.epsilon > 0 && Number.isFinite(p.epsilon))) throw new RangeError('epsilon must be > 0');
  if (!(p.delta > 0 && p.delta < 1)) throw new RangeError('delta must be in (0, 1)');
  if (!(Number.isInteger(p.maxCellsPerBucket) && p.maxCellsPerBucket >= 1)) {
    throw new RangeError('maxCellsPerBucket must be an integer >= 1');
  }
  const eps = rationalOf(p.epsilon);
  const c = BigInt(p.maxCellsPerBucket);
  // scale = C/ε = C·den/num
  const scale = { num: c * eps.den, den: eps.num };
  const perCell = Number(eps.num) / Number(eps.den) / p.maxCellsPerBucket; // ε/C
  const q = Math.exp(-perCell);
  const leak = (tau: number) => (p.maxCellsPerBucket * q ** (tau - 1)) / (1 + q);
  let threshold = Math.max(1, 1 + Math.ceil(Math.log(p.maxCellsPerBucket / (p.delta * (1 + q))) / perCell));
  // Guard against rounding in the logarithm: step until the bound really holds.
  while (leak(threshold) > p.delta) threshold++;
  return { ...p, scale, threshold };
}

/** A released (noisy) count of one cell. */
export interface NoisyCount {
  readonly cell: string;
  readonly devices: number;
}

/**
 * Noises every cell with a positive raw count and keeps those reaching the threshold. Cells with 0 (or
 * no row) are never looked at, so they are never released; below-threshold cells are dropped and
 * indistinguishable from them.
 */
export function releaseCounts(
  raw: Iterable<{ cell: string; devices: number }>,
  m: DpMechanism,
  rng: RandomSource,
): NoisyCount[] {
  const out: NoisyCount[] = [];
  for (const r of raw) {
    if (!(r.devices > 0)) continue;
    const noisy = r.devices + sampleDiscreteLaplace(m.scale, rng);
    if (noisy >= m.threshold) out.push({ cell: r.cell, devices: noisy });
  }
  return out;
}
