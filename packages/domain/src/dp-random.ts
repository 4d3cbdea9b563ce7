// Sources of uniform random integers for the differential-privacy samplers (dp-noise.ts). The samplers
// only ever ask for "a uniform integer in [0, n)", so their exactness rests on this one primitive: no
// floating point is involved anywhere (floating-point noise leaks through the low bits: Mironov 2012,
// "On significance of the least significant bits for differential privacy").

import { createHash, randomBytes } from 'node:crypto';

/** Uniform integers; `below(n)` is uniform on [0, n) for any n >= 1. */
export interface RandomSource {
  below(n: bigint): bigint;
}

/**
 * Uniform on [0, n) by rejection from whole bytes: draw ceil(bits/8) bytes, mask to the bit length of
 * n − 1, retry when >= n (expected < 2 draws). `bytes(k)` must return k uniform bytes.
 */
function rejectionBelow(n: bigint, bytes: (k: number) => Uint8Array): bigint {
  if (n <= 0n) throw new RangeError(`below(n) needs n >= 1, got ${n}`);
  if (n === 1n) return 0n;
  const bits = (n - 1n).toString(2).length;
  const k = Math.ceil(bits / 8);
  const mask = (1n << BigInt(bits)) - 1n;
  for (;;) {
    const buf = bytes(k);
    let x = 0n;
    for (const b of buf) x = (x << 8n) | BigInt(b);
    x &= mask;
    if (x < n) return x;
  }
}

/**
 * The production source: node:crypto's CSPRNG (the OS generator). Bytes are fetched in blocks of
 * `poolBytes` to amortise the call; never Math.random.
 */
export function cryptoRandomSource(poolBytes = 4096): RandomSource {
  let pool = randomBytes(poolBytes);
  let at = 0;
  const bytes = (k: number): Uint8Array => {
    if (at + k > pool.length) {
      pool = randomBytes(Math.max(poolBytes, k));
      at = 0;
    }
    const out = pool.subarray(at, at + k);
    at += k;
    return out;
  };
  return { below: (n) => rejectionBelow(n, bytes) };
}

/**
 * A deterministic source for tests and benchmarks: SHA-256 in counter mode over `seed`. Reproducible
 * (same seed, same stream) and statistically uniform; NOT for releases (the seed is the secret).
 */
export function seededRandomSource(seed: number | string): RandomSource {
  let counter = 0;
  let block = new Uint8Array(0);
  let at = 0;
  const bytes = (k: number): Uint8Array => {
    const out = new Uint8Array(k);
    for (let i = 0; i < k; i++) {
      if (at >= block.length) {
        block = createHash('sha256').update(`${seed}:${counter++}`).digest();
        at = 0;
      }
      out[i] = block[at++] as number;
    }
    return out;
  };
  return { below: (n) => rejectionBelow(n, bytes) };
}
