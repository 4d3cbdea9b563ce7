// Stored differentially private releases (PRIVACY_MODE=dp; migration 005, docs/privacy.md). A bucket is
// released exactly once, on the first question that needs it, by whichever API instance gets there
// first: under one advisory lock the release is re-checked, the budget charged (budget-ledger.ts), the
// raw counts read, noised and thresholded (@footfall/domain releaseCounts) and stored, in one
// transaction. Every later question is answered from the stored rows.

import type { Database } from '@footfall/db';
import { type DpMechanism, type RandomSource, releaseCounts } from '@footfall/domain';
import { MS, TS } from '../sql-time.ts';
import { type Budget, type Charge, chargeBudget, periodOf } from './budget-ledger.ts';

/** Advisory lock serialising releases (and so ledger updates) across API instances: "FFDP". */
export const DP_RELEASE_LOCK_KEY = 0x46_46_44_50;

export interface ReleaseStoreOptions {
  readonly db: Database;
  readonly mechanism: DpMechanism;
  readonly budget: Budget;
  readonly bucketMs: number;
  /** CSPRNG in production; a seeded source only in tests. */
  readonly random: RandomSource;
}

export class ReleaseStore {
  readonly #o: ReleaseStoreOptions;
  /** Buckets known to be released (releases are immutable, so this never goes stale). */
  readonly #known = new Set<number>();

  constructor(options: ReleaseStoreOptions) {
    this.#o = options;
  }

  /**
   * Makes sure every bucket of `buckets` is released, charging `family` for the new ones. All or
   * nothing: if the budget cannot cover all new releases, none is made (API_PRIVACY_BUDGET_EXHAUSTED).
   */
  async ensureReleased(family: string, buckets: readonly number[]): Promise<void> {
    const wanted = [...new Set(buckets)].filter((b) => !this.#known.has(b));
    if (wanted.length === 0) return;
    const { db, mechanism: m } = this.#o;
    const missing = await this.#unreleased(db, wanted);
    if (missing.length === 0) return;
    await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [DP_RELEASE_LOCK_KEY]);
      const todo = await this.#unreleased(tx, missing);
      const perPeriod = new Map<string, number>();
      for (const b of todo) perPeriod.set(periodOf(b), (perPeriod.get(periodOf(b)) ?? 0) + 1);
      const charges: Charge[] = [...perPeriod].map(([period, releases]) => ({
        period,
        releases,
        epsilon: m.epsilon,
        delta: m.delta,
      }));
      await chargeBudget(tx, family, charges, this.#o.budget);
      for (const b of todo) await this.#release(tx, family, b);
    });
    // Bounded memory: ~1 440 buckets a day; forgetting only costs a lookup.
    if (this.#known.size > 100_000) this.#known.clear();
    for (const b of missing) this.#known.add(b);
  }

  async #unreleased(q: Pick<Database, 'query'>, buckets: readonly number[]): Promise<number[]> {
    const { rows } = await q.query<{ b: number }>(
      `SELECT ${MS('bucket_start')} AS b FROM dp_bucket_releases
        WHERE bucket_start = ANY(ARRAY(SELECT ${TS('x')} FROM unnest($1::bigint[]) AS x))`,
      [buckets],
    );
    const done = new Set(rows.map((r) => Number(r.b)));
    for (const b of done) this.#known.add(b);
    return buckets.filter((b) => !done.has(b));
  }

  async #release(tx: Pick<Database, 'query'>, family: string, b: number): Promise<void> {
    const m = this.#o.mechanism;
    const { rows } = await tx.query<{
      cell: string;
      region: string;
      lat: number;
      lon: number;
      devices: number;
    }>(
      `SELECT cell, region, lat, lon, devices FROM occupancy WHERE bucket_start = ${TS('$1')} AND devices > 0`,
      [b],
    );
    const noisy = releaseCounts(rows, m, this.#o.random);
    const where = new Map(rows.map((r) => [r.cell, r]));
    await tx.query(
      `INSERT INTO dp_bucket_releases (bucket_start, bucket_ms, period_start, family, epsilon, delta, threshold, cells)
       VALUES (${TS('$1')}, $2, $3::date, $4, $5::numeric, $6::numeric, $7, $8)`,
      [
        b,
        this.#o.bucketMs,
        periodOf(b),
        family,
        String(m.epsilon),
        String(m.delta),
        m.threshold,
        noisy.length,
      ],
    );
    if (noisy.length === 0) return;
    const info = noisy.map((n) => where.get(n.cell) as (typeof rows)[number]);
    await tx.query(
      `INSERT INTO dp_releases (bucket_start, cell, region, lat, lon, devices)
       SELECT ${TS('$1')}, c, r, la, lo, d
         FROM unnest($2::text[], $3::text[], $4::real[], $5::real[], $6::int[]) AS t(c, r, la, lo, d)`,
      [
        b,
        noisy.map((n) => n.cell),
        info.map((r) => r.region),
        info.map((r) => r.lat),
        info.map((r) => r.lon),
        noisy.map((n) => n.devices),
      ],
    );
  }

  /** Released noisy counts of (cell, bucket) keys; absent → not released (below threshold or empty). */
  async counts(keys: readonly { cell: string; b: number }[]): Promise<(number | null)[]> {
    if (keys.length === 0) return [];
    const { rows } = await this.#o.db.query<{ i: number; devices: number }>(
      `SELECT t.i::int AS i, r.devices
         FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS t(cell, b, i)
         JOIN dp_releases r ON r.cell = t.cell AND r.bucket_start = ${TS('t.b')}`,
      [keys.map((k) => k.cell), keys.map((k) => k.b)],
      { name: 'api_dp_counts' },
    );
    const found = new Map(rows.map((r) => [r.i, r.devices]));
    return keys.map((_, i) => found.get(i + 1) ?? null);
  }

  /** Peak released count of one cell per step over released buckets in [fromMs, toMs). */
  async series(q: {
    cell: string;
    fromMs: number;
    toMs: number;
    stepMs: number;
  }): Promise<Map<number, number>> {
    const { rows } = await this.#o.db.query<{ i: number; peak: number }>(
      `SELECT ((${MS('bucket_start')} - $2) / $4)::int AS i, max(devices)::int AS peak
         FROM dp_releases
        WHERE cell = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}
        GROUP BY 1`,
      [q.cell, q.fromMs, q.toMs, q.stepMs],
      { name: 'api_dp_series' },
    );
    return new Map(rows.map((r) => [r.i, r.peak]));
  }
}
