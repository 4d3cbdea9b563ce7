// The live edge of one partition (docs/insights.md, "Live edge"): presence carried to now, the upload-
// delay profile and the nowcast model, per region. Reads the aggregator, never changes it: the
// deterministic final counts and their exactly-once output do not depend on anything here.
import type { PartitionAggregator } from './aggregator.ts';
import { regionOf } from './cells.ts';
import { completenessAt, DelayProfile } from './delay-profile.ts';
import { type CountParts, NowcastModel, type NowcastModelOptions } from './nowcast.ts';

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
  /** A carried device whose stay had lasted this long at its latest ping is "long-stay" (default 5 min). */
  readonly longStayMs?: number;
  /**
   * A device whose latest ping is older than the presence gap by at most this is "silent" in its cell
   * (a model input, not carried; default `horizonMs`: the delay a provisional bucket still waits for).
   */
  readonly silentMs?: number;
  /** Devices that left a cell within this before a bucket are its recent out-flow (default 5 min). */
  readonly flowWindowMs?: number;
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

/** The provisional numbers of one count (a cell's or a place's) near now. */
export type LiveNowcast = Omit<LiveOccupancyUpdate, 'cell' | 'region' | 'bucketStartMs'>;

/** Lag steps per bucket (see #lags). */
const LAG_STEPS = 3;

/** Parts of a count ({@link CountParts}). */
const P = 5;

interface Track {
  region: string;
  /** Per lag index × P parts: sums; and observation counts. */
  sums: Float64Array;
  counts: Uint16Array;
}

interface Parts {
  region: string;
  n: number;
  long: number;
  short: number;
  silent: number;
  left: number;
}

export class LiveEdge {
  readonly options: LiveEdgeOptions;
  /** Buckets in the provisional window (now's and the horizon's). */
  readonly #buckets: number;
  /**
   * Lag indices: (now − bucket start) in thirds of a bucket, so the factors also learn how far into the
   * current bucket now is (its later arrivals are not there yet).
   */
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
    this.#buckets = Math.ceil(options.horizonMs / options.bucketMs) + 1;
    this.#lags = LAG_STEPS * this.#buckets;
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
    const { bucketMs } = this.options;
    const nowBucket = Math.floor(nowMs / bucketMs) * bucketMs;
    const oldest = nowBucket - (this.#buckets - 1) * bucketMs;
    this.#settle(agg, nowMs);
    const parts = this.#parts(agg, nowMs, oldest, nowBucket);
    const out: LiveOccupancyUpdate[] = [];
    const emitted = new Map<string, LiveOccupancyUpdate>();
    for (const [b, cells] of parts) {
      const lag = this.lagOf(b, nowMs);
      let tracks = this.#tracks.get(b);
      if (tracks === undefined) {
        tracks = new Map();
        this.#tracks.set(b, tracks);
      }
      for (const [cell, e] of cells) {
        let track = tracks.get(cell);
        if (track === undefined) {
          track = {
            region: e.region,
            sums: new Float64Array(P * this.#lags),
            counts: new Uint16Array(this.#lags),
          };
          tracks.set(cell, track);
        }
        const x: CountParts = [e.n, e.long, e.short, e.silent, e.left];
        for (let p = 0; p < P; p++)
          track.sums[P * lag + p] = (track.sums[P * lag + p] as number) + (x[p] ?? 0);
        track.counts[lag] = (track.counts[lag] as number) + 1;
        const u = this.#update(e.region, cell, b, lag, x, nowMs);
        const key = `${cell}|${b}`;
        emitted.set(key, u);
        if (!sameNowcast(this.#emitted.get(key), u)) out.push(u);
      }
    }
    // A (cell, bucket) shown before that has nobody left (a carried device moved on): withdraw it.
    for (const [key, prev] of this.#emitted) {
      if (emitted.has(key) || prev.bucketStartMs < oldest || prev.observed === 0) continue;
      const u = this.#update(prev.region, prev.cell, prev.bucketStartMs, 0, [0, 0, 0], nowMs);
      u.completeness = prev.completeness;
      emitted.set(key, u);
      out.push(u);
    }
    this.#emitted = emitted;
    return out;
  }

  /**
   * The parts of every (cell, bucket) from `oldest` to now's bucket: confirmed (exact count so far),
   * carried to now from a long or a short stay, silent, and left recently (see nowcast.ts). Only cells
   * with a confirmed or carried device get an entry: silent and left devices inform an estimate, they
   * never make a cell appear.
   */
  #parts(
    agg: PartitionAggregator,
    nowMs: number,
    oldest: number,
    nowBucket: number,
  ): Map<number, Map<string, Parts>> {
    const { bucketMs, presenceMaxGapMs } = this.options;
    const longStayMs = this.options.longStayMs ?? 300_000;
    const silentMs = this.options.silentMs ?? this.options.horizonMs;
    const flowBuckets = Math.max(1, Math.round((this.options.flowWindowMs ?? 300_000) / bucketMs));
    const out = new Map<number, Map<string, Parts>>();
    for (let b = oldest; b <= nowBucket; b += bucketMs) {
      const m = new Map<string, Parts>();
      agg.forEachCellOf(b, (cell, region, devices) =>
        m.set(cell, { region, n: devices, long: 0, short: 0, silent: 0, left: 0 }),
      );
      out.set(b, m);
    }
    const latestCell = new Map<number, string>();
    const silent: [cell: string, t: number][] = [];
    agg.forEachLatestPresence((cell, region, t, stayStart, num) => {
      latestCell.set(num, cell);
      if (t > nowMs) return;
      if (nowMs - t > presenceMaxGapMs) {
        if (nowMs - t <= presenceMaxGapMs + silentMs) silent.push([cell, t]);
        return;
      }
      const long = t - stayStart >= longStayMs;
      // The ping's own bucket already counts the device; carry it through every later one up to now.
      for (let b = Math.max(floorTo(t, bucketMs) + bucketMs, oldest); b <= nowBucket; b += bucketMs) {
        const m = out.get(b) as Map<string, Parts>;
        let e = m.get(cell);
        if (e === undefined) {
          e = { region, n: 0, long: 0, short: 0, silent: 0, left: 0 };
          m.set(cell, e);
        }
        if (long) e.long++;
        else e.short++;
      }
    });
    // Silent: over the same buckets the carry would cover, where the cell has an entry.
    for (const [cell, t] of silent) {
      for (let b = Math.max(floorTo(t, bucketMs) + bucketMs, oldest); b <= nowBucket; b += bucketMs) {
        const e = out.get(b)?.get(cell);
        if (e !== undefined) e.silent++;
      }
    }
    // Out-flow: the last bucket each device was seen in a cell it is no longer in (latest presence).
    const lastSeen = new Map<string, Map<number, number>>();
    for (let b = oldest - flowBuckets * bucketMs; b < nowBucket; b += bucketMs) {
      agg.forEachCellOf(b, (cell) => {
        for (const num of agg.presentIn(cell, b)?.keys() ?? []) {
          if (latestCell.get(num) === cell) continue;
          let m = lastSeen.get(cell);
          if (m === undefined) {
            m = new Map();
            lastSeen.set(cell, m);
          }
          m.set(num, b); // ascending b: the last bucket wins
        }
      });
    }
    for (const [cell, m] of lastSeen) {
      for (const last of m.values()) {
        // Left after `last`: recent out-flow of the buckets in (last, last + flow window].
        const to = Math.min(last + flowBuckets * bucketMs, nowBucket);
        for (let b = Math.max(last + bucketMs, oldest); b <= to; b += bucketMs) {
          const e = out.get(b)?.get(cell);
          if (e !== undefined) e.left++;
        }
      }
    }
    return out;
  }

  /** Buckets in the provisional window ending with now's (the place live edge uses the same). */
  get windowBuckets(): number {
    return this.#buckets;
  }

  /** Lag index of bucket `b` at `nowMs` (see #lags). */
  lagOf(b: number, nowMs: number): number {
    return Math.min(this.#lags - 1, Math.floor(((nowMs - b) * LAG_STEPS) / this.options.bucketMs));
  }

  /**
   * The nowcast of a count seen as `parts` in bucket `b` of `region` at lag `lag`, with the region's
   * learned factors (cells teach them; live-place-edge.ts reuses them for places' distinct counts).
   */
  nowcast(region: string, b: number, lag: number, parts: CountParts, nowMs: number): LiveNowcast {
    const { bucketMs, horizonMs } = this.options;
    const confirmedCount = parts[0];
    const observed = parts[0] + parts[1] + parts[2];
    const est = this.model(region).estimate(lag, parts);
    const completeness = completenessAt(this.profile(region).cdf(), b, bucketMs, nowMs);
    const estimate = Math.max(Math.round(est.estimate), confirmedCount);
    return {
      observed,
      confirmed: confirmedCount,
      estimate,
      lower: Math.min(Math.floor(est.lower), estimate),
      upper: Math.max(Math.ceil(est.upper), estimate),
      completeness: Math.round(completeness * 100) / 100,
      finalAtMs: b + bucketMs + horizonMs,
    };
  }

  #update(
    region: string,
    cell: string,
    b: number,
    lag: number,
    parts: CountParts,
    nowMs: number,
  ): LiveOccupancyUpdate {
    return { cell, region, bucketStartMs: b, ...this.nowcast(region, b, lag, parts, nowMs) };
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
          const s = t.sums;
          const x: CountParts = [
            (s[P * lag] as number) / n,
            (s[P * lag + 1] as number) / n,
            (s[P * lag + 2] as number) / n,
            (s[P * lag + 3] as number) / n,
            (s[P * lag + 4] as number) / n,
          ];
          if (settled < learnMinCount && x[0] + x[1] + x[2] < learnMinCount) continue;
          model.learn(lag, x, settled);
        }
      }
    }
  }
}

function floorTo(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

/** Whether a provisional value is unchanged (so it is not published again); shared by cells and places. */
export function sameNowcast(a: LiveNowcast | undefined, b: LiveNowcast): boolean {
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
