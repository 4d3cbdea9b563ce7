// The live edge of one partition (docs/insights.md, "Live edge"): presence carried to now, the upload-
// delay profile and the nowcast model, per region. Reads the aggregator, never changes it: the
// deterministic final counts and their exactly-once output do not depend on anything here.
import type { PartitionAggregator } from './aggregator.ts';
import { regionOf } from './cells.ts';
import { completenessAt, DelayProfile } from './delay-profile.ts';
import { NowcastModel, type NowcastModelOptions } from './nowcast.ts';

export interface LiveEdgeOptions {
  readonly bucketMs: number;
  /** A device whose latest ping is at most this old is carried to now (PRESENCE_MAX_GAP_MS). */
  readonly presenceMaxGapMs: number;
  /** Buckets younger than this (from their end) are provisional (NOWCAST_HORIZON_MS). */
  readonly horizonMs: number;
  /** A bucket this old (from its end) is settled and teaches the model (NOWCAST_SETTLE_MS). */
  readonly settleMs: number;
  /** Rolling window of the delay profile, ms (NOWCAST_DELAY_WINDOW_MS). */
  readonly delayWindowMs: number;
  /** Only (cell, bucket)s with a settled or observed count ≥ this teach the model (K_ANONYMITY). */
  readonly learnMinCount: number;
  /** H3 resolution of a cell's region (REGION_RESOLUTION, default 5). */
  readonly regionResolution?: number;
  readonly model?: Partial<NowcastModelOptions>;
}

/** Latest provisional value of one (cell, bucket); upsert by key, only changes are emitted. */
export interface LiveOccupancyUpdate {
  cell: string;
  region: string;
  bucketStartMs: number;
  /** Devices counted with presence carried to now (≥ confirmed). */
  observed: number;
  /** Devices established by pings already arrived (the deterministic count so far). */
  confirmed: number;
  /** Nowcast of the eventual count and its interval, rounded to whole devices. */
  estimate: number;
  lower: number;
  upper: number;
  /** Estimated fraction of the bucket's pings that have arrived (0–1, two decimals). */
  completeness: number;
  /** When the bucket stops being provisional: its end + horizon. */
  finalAtMs: number;
}

interface Track {
  region: string;
  /** Per lag index: sum and number of observed values (the mean teaches the model). */
  sums: Float64Array;
  counts: Uint16Array;
}

export class LiveEdge {
  readonly options: LiveEdgeOptions;
  readonly #lags: number;
  readonly #profiles = new Map<string, DelayProfile>();
  readonly #models = new Map<string, NowcastModel>();
  /** bucket → cell → observed values per lag, until the bucket settles. */
  readonly #tracks = new Map<number, Map<string, Track>>();
  /** `cell|bucket` → last emitted update. */
  #emitted = new Map<string, LiveOccupancyUpdate>();
  readonly #regions = new Map<string, string>();

  constructor(options: LiveEdgeOptions) {
    for (const k of ['bucketMs', 'presenceMaxGapMs', 'horizonMs', 'settleMs', 'delayWindowMs'] as const) {
      if (!(options[k] > 0)) throw new RangeError(`${k} must be > 0`);
    }
    if (options.settleMs < options.horizonMs) throw new RangeError('settleMs must be >= horizonMs');
    this.options = Object.freeze({ ...options });
    this.#lags = Math.ceil(options.horizonMs / options.bucketMs) + 1;
  }

  /** The region's delay profile (created on first use). */
  profile(region: string): DelayProfile {
    let p = this.#profiles.get(region);
    if (p === undefined) {
      p = new DelayProfile(this.options.delayWindowMs);
      this.#profiles.set(region, p);
    }
    return p;
  }

  /** The region's nowcast model (created on first use). */
  model(region: string): NowcastModel {
    let m = this.#models.get(region);
    if (m === undefined) {
      m = new NowcastModel({ ...this.options.model, lags: this.#lags });
      this.#models.set(region, m);
    }
    return m;
  }

  /** One accepted ping (its cell's region is looked up and cached). */
  observePing(cell: string, eventTimeMs: number, receivedAtMs: number): void {
    let region = this.#regions.get(cell);
    if (region === undefined) {
      try {
        region = regionOf(cell, this.options.regionResolution ?? 5);
      } catch {
        region = '';
      }
      if (this.#regions.size >= 100_000) this.#regions.clear();
      this.#regions.set(cell, region);
    }
    this.observeDelay(region, eventTimeMs, receivedAtMs);
  }

  /** One accepted ping's upload delay (live and on replay: the profile is a function of the records). */
  observeDelay(region: string, eventTimeMs: number, receivedAtMs: number): void {
    this.profile(region).observe(eventTimeMs, receivedAtMs);
  }

  /**
   * The provisional state at `nowMs` (ms, from the caller's clock): every (cell, bucket) of the last
   * `horizonMs` whose value changed since the previous snapshot. Also teaches the model with the
   * buckets that settled since.
   */
  snapshot(agg: PartitionAggregator, nowMs: number): LiveOccupancyUpdate[] {
    const { bucketMs, presenceMaxGapMs } = this.options;
    const nowBucket = Math.floor(nowMs / bucketMs) * bucketMs;
    const oldest = nowBucket - (this.#lags - 1) * bucketMs;
    this.#settle(agg, nowMs);
    // confirmed[b][cell], observed = confirmed + carried.
    const confirmed = new Map<number, Map<string, { region: string; n: number; carried: number }>>();
    for (let b = oldest; b <= nowBucket; b += bucketMs) {
      const m = new Map<string, { region: string; n: number; carried: number }>();
      agg.forEachCellOf(b, (cell, region, devices) => m.set(cell, { region, n: devices, carried: 0 }));
      confirmed.set(b, m);
    }
    agg.forEachLatestPresence((cell, region, t) => {
      if (!(nowMs - t <= presenceMaxGapMs) || t > nowMs) return;
      // The ping's own bucket already counts the device; carry it through every later one up to now.
      for (
        let b = Math.max(Math.floor(t / bucketMs) * bucketMs + bucketMs, oldest);
        b <= nowBucket;
        b += bucketMs
      ) {
        const m = confirmed.get(b) as Map<string, { region: string; n: number; carried: number }>;
        const e = m.get(cell);
        if (e === undefined) m.set(cell, { region, n: 0, carried: 1 });
        else e.carried++;
      }
    });
    const out: LiveOccupancyUpdate[] = [];
    const emitted = new Map<string, LiveOccupancyUpdate>();
    for (const [b, cells] of confirmed) {
      const lag = (nowBucket - b) / bucketMs;
      let tracks = this.#tracks.get(b);
      if (tracks === undefined) {
        tracks = new Map();
        this.#tracks.set(b, tracks);
      }
      for (const [cell, e] of cells) {
        const observed = e.n + e.carried;
        let track = tracks.get(cell);
        if (track === undefined) {
          track = {
            region: e.region,
            sums: new Float64Array(this.#lags),
            counts: new Uint16Array(this.#lags),
          };
          tracks.set(cell, track);
        }
        track.sums[lag] = (track.sums[lag] as number) + observed;
        track.counts[lag] = (track.counts[lag] as number) + 1;
        const u = this.#update(e.region, cell, b, lag, observed, e.n, nowMs);
        const key = `${cell}|${b}`;
        emitted.set(key, u);
        if (!sameValue(this.#emitted.get(key), u)) out.push(u);
      }
    }
    // A (cell, bucket) shown before that has nobody left (a carried device moved on): withdraw it.
    for (const [key, prev] of this.#emitted) {
      if (emitted.has(key) || prev.bucketStartMs < oldest || prev.observed === 0) continue;
      const u = this.#update(prev.region, prev.cell, prev.bucketStartMs, 0, 0, 0, nowMs);
      u.completeness = prev.completeness;
      emitted.set(key, u);
      out.push(u);
    }
    this.#emitted = emitted;
    return out;
  }

  #update(
    region: string,
    cell: string,
    b: number,
    lag: number,
    observed: number,
    confirmedCount: number,
    nowMs: number,
  ): LiveOccupancyUpdate {
    const { bucketMs, horizonMs } = this.options;
    const est = this.model(region).estimate(lag, observed, confirmedCount);
    const completeness = completenessAt(this.profile(region).cdf(), b, bucketMs, nowMs);
    const estimate = Math.max(Math.round(est.estimate), confirmedCount);
    return {
      cell,
      region,
      bucketStartMs: b,
      observed,
      confirmed: confirmedCount,
      estimate,
      lower: Math.min(Math.floor(est.lower), estimate),
      upper: Math.max(Math.ceil(est.upper), estimate),
      completeness: Math.round(completeness * 100) / 100,
      finalAtMs: b + bucketMs + horizonMs,
    };
  }

  /** Buckets whose end is `settleMs` in the past: their count now teaches each lag's factor. */
  #settle(agg: PartitionAggregator, nowMs: number): void {
    const { bucketMs, settleMs, learnMinCount } = this.options;
    const bySettled = [...this.#tracks.keys()]
      .filter((b) => b + bucketMs + settleMs <= nowMs)
      .sort((a, b) => a - b);
    for (const b of bySettled) {
      // Evicted by the watermark (an idle partition): the settled counts are gone, learn nothing.
      const evicted = b + bucketMs <= agg.watermarkMs - this.options.presenceMaxGapMs;
      const tracks = this.#tracks.get(b) as Map<string, Track>;
      this.#tracks.delete(b);
      if (evicted) continue;
      const touched = new Set<NowcastModel>();
      for (const [cell, t] of tracks) {
        const model = this.model(t.region);
        if (!touched.has(model)) {
          model.decay();
          touched.add(model);
        }
        const settled = agg.occupancyAt(cell, b) ?? 0;
        for (let lag = 0; lag < this.#lags; lag++) {
          const n = t.counts[lag] as number;
          if (n === 0) continue;
          const mean = (t.sums[lag] as number) / n;
          if (settled < learnMinCount && mean < learnMinCount) continue;
          model.learn(lag, mean, settled);
        }
      }
    }
  }
}

function sameValue(a: LiveOccupancyUpdate | undefined, b: LiveOccupancyUpdate): boolean {
  return (
    a !== undefined &&
    a.observed === b.observed &&
    a.confirmed === b.confirmed &&
    a.estimate === b.estimate &&
    a.lower === b.lower &&
    a.upper === b.upper &&
    a.completeness === b.completeness
  );
}
