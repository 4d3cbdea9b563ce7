/** What {@link NonceCache.add} decided. */
export type NonceVerdict = 'new' | 'replayed' | 'full';

/**
 * Remembers (device, nonce) keys until their own expiry time, with a hard bound on how many.
 *
 * Each key carries its expiry (the caller passes `sent_at_ms + window + skew`, the last moment its
 * batch could still pass the freshness check), NOT "received + TTL": a batch signed with a clock
 * ahead of the server's stays fresh longer than a receive-time TTL, and was accepted a second time
 * once that TTL ran out (issue 15).
 *
 * Time-bucketed: keys are filed in buckets of `bucketMs` by expiry, so expiring is a walk over the
 * buckets whose time has passed (amortised O(1) per key, no per-key timers, no sorted structure).
 * Expiries are bounded by the freshness check (now + skew … now + 2·window + skew), so few buckets
 * exist at once.
 *
 * When `max` live keys are held, `add` answers 'full' rather than forgetting a live key early: a
 * forgotten key would let its batch be accepted twice. The caller refuses the upload with a retryable
 * status; memory stays bounded (about 120 bytes per key).
 */
export class NonceCache {
  readonly #expiry = new Map<string, number>();
  readonly #buckets = new Map<number, string[]>();
  readonly #max: number;
  readonly #bucketMs: number;
  /** No bucket index below this holds live keys. */
  #nextBucket = Number.POSITIVE_INFINITY;
  /** Uploads refused because the cache was full (a metric). */
  refusedFull = 0;

  constructor(options: { max: number; bucketMs?: number }) {
    this.#max = options.max;
    this.#bucketMs = options.bucketMs ?? 1_000;
  }

  get size(): number {
    return this.#expiry.size;
  }

  get max(): number {
    return this.#max;
  }

  /** Forgets every key whose expiry is before `nowMs`. */
  purge(nowMs: number): void {
    // Bucket b holds expiries in ((b-1)·bucketMs, b·bucketMs]: all are past once nowMs > b·bucketMs.
    const lastExpired = Math.ceil(nowMs / this.#bucketMs) - 1;
    if (this.#nextBucket > lastExpired) return;
    if (this.#buckets.size === 0) {
      this.#nextBucket = Number.POSITIVE_INFINITY;
      return;
    }
    // After a long idle spell, walking every bucket index would cost more than looking at the few
    // buckets that exist.
    const expired =
      lastExpired - this.#nextBucket < this.#buckets.size
        ? Array.from({ length: lastExpired - this.#nextBucket + 1 }, (_, i) => this.#nextBucket + i)
        : [...this.#buckets.keys()].filter((b) => b <= lastExpired);
    for (const b of expired) {
      const keys = this.#buckets.get(b);
      if (keys === undefined) continue;
      this.#buckets.delete(b);
      for (const key of keys) {
        // A key re-added with a later expiry (after it expired) lives in a later bucket too.
        const expires = this.#expiry.get(key);
        if (expires !== undefined && expires < nowMs) this.#expiry.delete(key);
      }
    }
    this.#nextBucket = lastExpired + 1;
  }

  /**
   * Remembers `key` until `expiresAtMs` (inclusive). 'replayed' if it is already remembered and not
   * expired at `nowMs`; 'full' if `max` live keys are held (nothing is remembered then).
   */
  add(key: string, expiresAtMs: number, nowMs: number): NonceVerdict {
    this.purge(nowMs);
    const known = this.#expiry.get(key);
    if (known !== undefined && known >= nowMs) return 'replayed';
    if (this.#expiry.size >= this.#max) {
      this.refusedFull++;
      return 'full';
    }
    this.#expiry.set(key, expiresAtMs);
    const b = Math.ceil(expiresAtMs / this.#bucketMs);
    const bucket = this.#buckets.get(b);
    if (bucket === undefined) this.#buckets.set(b, [key]);
    else bucket.push(key);
    if (b < this.#nextBucket) this.#nextBucket = b;
    return 'new';
  }
}
