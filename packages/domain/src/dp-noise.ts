// Exact samplers of the discrete Laplace and discrete Gaussian distributions, after Canonne, Kamath and
// Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020, arXiv:2004.00010), Section 5:
// Algorithm 1 (Bernoulli(exp(−γ))), Algorithm 2 (discrete Laplace) and Algorithm 3 (discrete Gaussian).
// Every step uses integer arithmetic (BigInt) and uniform integers from a RandomSource: no floating
// point, so the output distribution is exactly the one the privacy analysis assumes.
//
// No maintained npm package implements these (searched the registry list for differential privacy,
// discrete Laplace/Gaussian: only continuous floating-point Laplace generators exist), hence this file.

import type { RandomSource } from './dp-random.ts';

/** A positive rational number num/den (both > 0 unless stated). */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

/** Bernoulli(num/den), 0 <= num <= den. */
function bernoulli(num: bigint, den: bigint, rng: RandomSource): boolean {
  return rng.below(den) < num;
}

/** CKS Algorithm 1: Bernoulli(exp(−num/den)) for num >= 0, den >= 1. */
export function bernoulliExp(num: bigint, den: bigint, rng: RandomSource): boolean {
  if (num < 0n || den < 1n) throw new RangeError('bernoulliExp needs num >= 0 and den >= 1');
  if (num <= den) {
    // γ ∈ [0, 1]: K = first k with A_k = 0, A_k ~ Bernoulli(γ/k); P(K odd) = exp(−γ).
    let k = 1n;
    while (bernoulli(num, den * k, rng)) k++;
    return k % 2n === 1n;
  }
  // γ > 1: exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)).
  for (let i = num / den; i > 0n; i--) if (!bernoulliExp(1n, 1n, rng)) return false;
  return bernoulliExp(num % den, den, rng);
}

/**
 * CKS Algorithm 2: the discrete Laplace distribution with scale `scale` = t/s, P(x) ∝ exp(−|x|/scale)
 * on the integers. Mean 0, variance 2q/(1−q)² with q = exp(−1/scale).
 */
export function sampleDiscreteLaplace(scale: Rational, rng: RandomSource): number {
  const t = scale.num;
  const s = scale.den;
  if (t < 1n || s < 1n) throw new RangeError('discrete Laplace scale must be a positive rational');
  for (;;) {
    const u = rng.below(t);
    if (!bernoulliExp(u, t, rng)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, rng)) v++;
    const y = (u + t * v) / s;
    const negative = bernoulli(1n, 2n, rng);
    if (negative && y === 0n) continue; // 0 would otherwise be drawn twice as often
    return Number(negative ? -y : y);
  }
}

/** ⌊√n⌋ for n >= 0 (Newton's method on BigInt). */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

/**
 * CKS Algorithm 3: the discrete Gaussian N_Z(0, σ²) with σ² = `sigma2` (rational), P(x) ∝
 * exp(−x²/(2σ²)) on the integers: rejection sampling from a discrete Laplace of scale t = ⌊σ⌋ + 1.
 * Mean 0, variance slightly below σ² (CKS Corollary 9).
 */
export function sampleDiscreteGaussian(sigma2: Rational, rng: RandomSource): number {
  const a = sigma2.num;
  const b = sigma2.den;
  if (a < 1n || b < 1n) throw new RangeError('discrete Gaussian variance must be a positive rational');
  const t = isqrt(a / b) + 1n;
  for (;;) {
    const y = sampleDiscreteLaplace({ num: t, den: 1n }, rng);
    const ay = BigInt(Math.abs(y));
    // γ = (|y| − σ²/t)² / (2σ²) = (|y|·b·t − a)² / (2·a·b·t²)
    const d = ay * b * t - a;
    if (bernoulliExp(d * d, 2n * a * b * t * t, rng)) return y;
  }
}

/** A non-negative decimal as an exact rational with denominator 10^6 (config values like ε = 0.5). */
export function rationalOf(x: number): Rational {
  if (!(Number.isFinite(x) && x > 0)) throw new RangeError(`expected a positive number, got ${x}`);
  const num = BigInt(Math.round(x * 1e6));
  if (num < 1n) throw new RangeError(`${x} is below the resolution 1e-6`);
  return { num, den: 1_000_000n };
}

/** Variance of the discrete Laplace of scale `scale`: 2q/(1−q)², q = exp(−1/scale). */
export function discreteLaplaceVariance(scale: number): number {
  const q = Math.exp(-1 / scale);
  return (2 * q) / (1 - q) ** 2;
}

/** Exact variance of N_Z(0, σ²), by summing the probability mass function (tails below 1e-300). */
export function discreteGaussianVariance(sigma2: number): number {
  let z = 1;
  let m2 = 0;
  for (let x = 1; ; x++) {
    const p = Math.exp((-x * x) / (2 * sigma2));
    if (p < 1e-300) break;
    z += 2 * p;
    m2 += 2 * x * x * p;
  }
  return m2 / z;
}
