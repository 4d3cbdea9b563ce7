import { LRUCache } from 'lru-cache';

/**
 * Per-key token buckets (pings per second with a burst), bounded to `maxKeys` buckets: the least
 * recently used bucket is dropped first (a dropped device simply starts again with a full bucket).
 * Pure: time is passed in.
 */
export class TokenBucketLimiter {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #buckets: LRUCache<string, { tokens: number; atMs: number }>;

  constructor(options: { ratePerSec: number; burst: number; maxKeys: number }) {
    this.#ratePerMs = options.ratePerSec / 1000;
    this.#burst = options.burst;
    this.#buckets = new LRUCache({ max: options.maxKeys });
  }

  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes `n` tokens for `key`. Returns 0 when granted, otherwise the ms to wait until `n` tokens are
   * available (Infinity when `n` exceeds the burst). A refused request takes nothing.
   */
  take(key: string, n: number, nowMs: number): number {
    let bucket = this.#buckets.get(key); // marks it most recently used
    if (bucket) {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (nowMs - bucket.atMs) * this.#ratePerMs);
      bucket.atMs = nowMs;
    } else {
      bucket = { tokens: this.#burst, atMs: nowMs };
      this.#buckets.set(key, bucket);
    }
    if (n > this.#burst) return Number.POSITIVE_INFINITY;
    if (bucket.tokens >= n) {
      bucket.tokens -= n;
      return 0;
    }
    return Math.ceil((n - bucket.tokens) / this.#ratePerMs);
  }
}
