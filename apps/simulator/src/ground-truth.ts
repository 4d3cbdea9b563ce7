import type { Ping } from '@footfall/contracts';
import {
  type AggregatorOptions,
  type CellCount,
  cellOf,
  compareVisits,
  DEFAULT_AGGREGATOR_OPTIONS,
  DEFAULT_CELL_RESOLUTION,
  mergeOverlappingVisits,
  PartitionAggregator,
  type PlaceIndex,
  PlaceTracker,
  regionOf,
  timeSpentMs,
  topK,
  type VisitInterval,
} from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import { type City, type Place, placeCells } from './city.ts';
import type { SimDevice } from './timeline.ts';

/** Options of {@link GroundTruth}. */
export interface GroundTruthOptions {
  /** Simulated window; physical truth is clipped to it (pings exist only inside it). */
  fromMs: number;
  toMs: number;
  /** Aggregation parameters, as the processor runs them (defaults: the domain's). */
  aggregator?: Partial<AggregatorOptions>;
  /** H3 resolution of a location (default 10). */
  cellResolution?: number;
  /**
   * Partitions of `ingestion`: one aggregator per partition, regions assigned with the Java partitioner,
   * as the processor does (watermarks are per partition). Default: one aggregator per region. Both give
   * the same answers unless pings arrive later than the allowed lateness.
   */
  partitions?: number;
  /** Run the exact-definition aggregation (default true; turn off for very large runs). */
  exact?: boolean;
  /**
   * Named places registered with the pipeline (docs/places.md): the exact expectation then also counts
   * distinct devices per (place, bucket), as the processor does.
   */
  places?: PlaceIndex;
}

/** Latest value of one expected visit (as the sink would hold it). */
export interface ExpectedVisit extends VisitInterval {
  region: string;
  closed: boolean;
}

/** Accuracy of measured answers against physical truth (see docs/simulator.md). */
export interface AccuracyReport {
  occupancy: {
    /** Place-buckets compared: true presence (stays + passers-by in the place's cells) >= minTruthDevices. */
    samples: number;
    /** Quantiles of |measured − truth| / truth. */
    medianRelError: number;
    p90RelError: number;
    /** Mean of (measured − truth) / truth: > 0 = over-counting (passers-by), < 0 = missing. */
    meanBias: number;
    /** Fraction of samples within the tolerance. */
    withinTolerance: number;
  };
  timeSpent: {
    /** (device, place) pairs compared (true time >= minTrueMs). */
    samples: number;
    medianAbsErrorMs: number;
    p90AbsErrorMs: number;
    /** Mean of measured − truth, ms. */
    meanBiasMs: number;
    withinTolerance: number;
  };
  /** Both fractions within tolerance reach the minimums of {@link Tolerances}. */
  passes: boolean;
}

/** Tolerances of {@link GroundTruth.compare}; see docs/simulator.md for how they were chosen. */
export interface Tolerances {
  /** Compare place-buckets whose true occupancy is at least this (default 5 = k-anonymity). */
  minTruthDevices: number;
  /** |measured − truth| <= max(occupancyAbs, occupancyRel × truth). Defaults 2 and 0.25. */
  occupancyAbs: number;
  occupancyRel: number;
  /** Compare (device, place) pairs with at least this much true time, ms (default 15 min). */
  minTrueMs: number;
  /** |measured − truth| <= timeAbsMs + timeRel × truth. Defaults 6 min and 0.1. */
  timeAbsMs: number;
  timeRel: number;
  /** {@link AccuracyReport.passes} needs at least these fractions within tolerance (defaults 0.95, 0.8). */
  minOccupancyFraction: number;
  minTimeFraction: number;
}

export const DEFAULT_TOLERANCES: Tolerances = Object.freeze({
  minTruthDevices: 5,
  occupancyAbs: 2,
  occupancyRel: 0.25,
  minTrueMs: 15 * 60_000,
  timeAbsMs: 6 * 60_000,
  timeRel: 0.1,
  minOccupancyFraction: 0.95,
  minTimeFraction: 0.8,
});

/** A source of measured answers: the pipeline's (via the API or database) or the exact expectation. */
export interface MeasuredAnswers {
  occupancy(cell: string, bucketStartMs: number): number;
  /** Time spent by the simulator device at any of `cells` over [fromMs, toMs), ms. */
  timeSpent(deviceId: string, cells: readonly string[], fromMs: number, toMs: number): number;
}

interface TrueStay {
  placeId: string;
  startMs: number;
  endMs: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/**
 * Expected answers of a run, two ways:
 * - **exact**: the domain's PartitionAggregator over exactly the accepted pings (duplicates included, it
 *   dedups them), keeping the latest value per key as the sink does. The pipeline must match this exactly.
 * - **physical**: where the devices really were (itineraries, no noise): true occupancy per place and
 *   bucket, true time spent per device and place. The pipeline should be within {@link Tolerances}.
 * Device ids are the simulator's ids (map server ids through the uploader when comparing).
 */
export class GroundTruth {
  readonly city: City;
  readonly fromMs: number;
  readonly toMs: number;
  readonly bucketMs: number;
  readonly cellResolution: number;
  readonly aggregatorOptions: AggregatorOptions;
  readonly exact: boolean;
  readonly #partitions: number | undefined;
  readonly #aggs = new Map<string | number, PartitionAggregator>();
  readonly #regionKey = new Map<string, string | number>();
  /** bucketStartMs → cell → devices (latest value; zero entries removed). */
  readonly #occ = new Map<number, Map<string, number>>();
  /** `${deviceId}\u0000${cell}\u0000${startMs}` → visit. */
  readonly #visits = new Map<string, ExpectedVisit>();
  readonly #stays = new Map<string, TrueStay[]>();
  /** placeId → bucketStartMs → devices truly there. */
  readonly #placeOcc = new Map<string, Map<number, number>>();
  /** placeId → bucketStartMs → devices truly inside the place's cells (stays and passers-by). */
  readonly #placePresence = new Map<string, Map<number, number>>();
  /** cell → placeId for every cell of {@link placeCells}. */
  readonly #cellPlace = new Map<string, string>();
  readonly #placeIndex: PlaceIndex | undefined;
  /** Registered place id → bucketStartMs → expected devices (latest value). */
  readonly #namedOcc = new Map<string, Map<number, number>>();
  #pendingAdds = 0;
  readonly counts = { accepted: 0, duplicate: 0, late: 0, inaccurate: 0 };

  constructor(city: City, options: GroundTruthOptions) {
    this.city = city;
    this.fromMs = options.fromMs;
    this.toMs = options.toMs;
    this.aggregatorOptions = Object.freeze({ ...DEFAULT_AGGREGATOR_OPTIONS, ...options.aggregator });
    this.bucketMs = this.aggregatorOptions.bucketMs;
    this.cellResolution = options.cellResolution ?? DEFAULT_CELL_RESOLUTION;
    this.exact = options.exact ?? true;
    this.#partitions = options.partitions;
    this.#placeIndex = options.places;
    for (const p of city.places) {
      for (const c of placeCells(p, this.aggregatorOptions.jitterRing)) this.#cellPlace.set(c, p.id);
    }
  }

  static #bump(m: Map<string, Map<number, number>>, placeId: string, b: number): void {
    let per = m.get(placeId);
    if (per === undefined) {
      per = new Map();
      m.set(placeId, per);
    }
    per.set(b, (per.get(b) ?? 0) + 1);
  }

  // ---- physical truth -----------------------------------------------------------------------------

  /**
   * Records a device's true stays (clipped to the window) and its true presence in places' cells: stays,
   * plus moves sampled every 5 s (a device walking past a café is inside its cells without visiting).
   */
  addDevice(device: SimDevice): void {
    const stays: TrueStay[] = [];
    const b = this.bucketMs;
    const lastStay = new Map<string, number>();
    const lastPresence = new Map<string, number>();
    const mark = (
      seen: Map<string, number>,
      m: Map<string, Map<number, number>>,
      placeId: string,
      k: number,
    ) => {
      if (k <= (seen.get(placeId) ?? Number.NEGATIVE_INFINITY)) return;
      GroundTruth.#bump(m, placeId, k);
      seen.set(placeId, k);
    };
    for (const s of device.segments) {
      const startMs = Math.max(s.startMs, this.fromMs);
      const endMs = Math.min(s.endMs, this.toMs);
      if (endMs < startMs) continue;
      if (s.kind === 'stay') {
        stays.push({ placeId: s.placeId, startMs, endMs });
        // Every bucket overlapping the closed interval, each device once per (place, bucket).
        for (let k = Math.floor(startMs / b) * b; k <= endMs; k += b) {
          mark(lastStay, this.#placeOcc, s.placeId, k);
          mark(lastPresence, this.#placePresence, s.placeId, k);
        }
      } else {
        const span = s.endMs - s.startMs;
        for (let t = startMs; t <= endMs; t += 5_000) {
          const f = span > 0 ? (t - s.startMs) / span : 1;
          const cell = cellOf(
            s.from.lat + (s.to.lat - s.from.lat) * f,
            s.from.lon + (s.to.lon - s.from.lon) * f,
            this.cellResolution,
          );
          const placeId = this.#cellPlace.get(cell);
          if (placeId !== undefined) mark(lastPresence, this.#placePresence, placeId, Math.floor(t / b) * b);
        }
      }
    }
    this.#stays.set(device.id, stays);
  }

  /**
   * Devices truly inside the cells of `placeId` (see {@link placeCells}) during the bucket, staying or
   * passing through: what occupancy measures, without noise.
   */
  truthPlacePresence(placeId: string, bucketStartMs: number): number {
    return this.#placePresence.get(placeId)?.get(bucketStartMs) ?? 0;
  }

  /** Devices truly at `placeId` during the bucket starting at `bucketStartMs` (stays only, not passers-by). */
  truthPlaceOccupancy(placeId: string, bucketStartMs: number): number {
    return this.#placeOcc.get(placeId)?.get(bucketStartMs) ?? 0;
  }

  /** True time (ms) `deviceId` spent at `placeId` over [fromMs, toMs) (clipped to the window). */
  truthTimeSpent(deviceId: string, placeId: string, fromMs = this.fromMs, toMs = this.toMs): number {
    const stays = (this.#stays.get(deviceId) ?? []).filter((s) => s.placeId === placeId);
    return timeSpentMs(stays, fromMs, toMs);
  }

  /** True stays of a device within the window. */
  truthStays(deviceId: string): readonly TrueStay[] {
    return this.#stays.get(deviceId) ?? [];
  }

  /** Places with their true peak occupancy over the window, descending. */
  truthPeaks(): { place: Place; peak: number; bucketStartMs: number }[] {
    const out: { place: Place; peak: number; bucketStartMs: number }[] = [];
    for (const [placeId, m] of this.#placeOcc) {
      let peak = 0;
      let at = 0;
      for (const [b, n] of m) if (n > peak || (n === peak && b < at)) [peak, at] = [n, b];
      const place = this.city.byId.get(placeId);
      if (place) out.push({ place, peak, bucketStartMs: at });
    }
    return out.sort((a, b) => b.peak - a.peak || (a.place.id < b.place.id ? -1 : 1));
  }

  // ---- exact expectation --------------------------------------------------------------------------

  /** Feeds pings the ingest service accepted for `deviceId` (retries included: dedup is the aggregator's). */
  addAccepted(deviceId: string, pings: readonly Ping[]): void {
    if (!this.exact) return;
    for (const p of pings) {
      // The simulator always sets both coordinates (optional in the contract only to detect absence).
      const cell = cellOf(p.latitude as number, p.longitude as number, this.cellResolution);
      const r = this.#aggregatorOf(cell).add({
        pingId: p.pingId,
        deviceId,
        eventTimeMs: p.eventTimeMs,
        cell,
        accuracyM: p.accuracyM,
      });
      this.counts[r]++;
    }
    this.#pendingAdds += pings.length;
    if (this.#pendingAdds >= 10_000) this.#drain();
  }

  #aggregatorOf(cell: string): PartitionAggregator {
    const region = regionOf(cell, this.aggregatorOptions.regionResolution);
    let key = this.#regionKey.get(region);
    if (key === undefined) {
      key = this.#partitions === undefined ? region : javaPartition(region, this.#partitions);
      this.#regionKey.set(region, key);
    }
    let agg = this.#aggs.get(key);
    if (agg === undefined) {
      agg = new PartitionAggregator(this.aggregatorOptions);
      if (this.#placeIndex) agg.observePlaces(new PlaceTracker(this.#placeIndex, agg));
      this.#aggs.set(key, agg);
    }
    return agg;
  }

  #drain(): void {
    this.#pendingAdds = 0;
    for (const agg of this.#aggs.values()) {
      const u = agg.drainUpdates();
      for (const o of u.occupancy) {
        let m = this.#occ.get(o.bucketStartMs);
        if (m === undefined) {
          m = new Map();
          this.#occ.set(o.bucketStartMs, m);
        }
        if (o.devices > 0) m.set(o.cell, o.devices);
        else m.delete(o.cell);
      }
      for (const p of u.places ?? []) {
        let m = this.#namedOcc.get(p.placeId);
        if (m === undefined) {
          m = new Map();
          this.#namedOcc.set(p.placeId, m);
        }
        m.set(p.bucketStartMs, p.devices);
      }
      for (const v of u.visits) {
        const key = `${v.deviceId}\u0000${v.cell}\u0000${v.startMs}`;
        if (v.retracted) this.#visits.delete(key);
        else {
          this.#visits.set(key, {
            deviceId: v.deviceId,
            cell: v.cell,
            region: v.region,
            startMs: v.startMs,
            endMs: v.endMs,
            pings: v.pings,
            closed: v.closed,
          });
        }
      }
    }
  }

  /** Applies every pending update (call after the last {@link addAccepted}; queries call it too). */
  flush(): void {
    this.#drain();
  }

  /** Expected occupancy(cell, bucket): distinct devices (0 if none). */
  expectedOccupancy(cell: string, bucketStartMs: number): number {
    this.#maybeDrain();
    return this.#occ.get(bucketStartMs)?.get(cell) ?? 0;
  }

  /** Expected distinct devices of a registered place (`places` option) in a bucket (0 if none). */
  expectedPlaceOccupancy(placeId: string, bucketStartMs: number): number {
    this.#maybeDrain();
    return this.#namedOcc.get(placeId)?.get(bucketStartMs) ?? 0;
  }

  /** Every non-zero (cell, devices) of a bucket. */
  expectedCells(bucketStartMs: number): CellCount[] {
    this.#maybeDrain();
    return [...(this.#occ.get(bucketStartMs) ?? new Map<string, number>())].map(([cell, devices]) => ({
      cell,
      devices,
    }));
  }

  /** Bucket starts with any occupancy, ascending. */
  expectedBuckets(): number[] {
    this.#maybeDrain();
    return [...this.#occ.keys()].filter((b) => (this.#occ.get(b)?.size ?? 0) > 0).sort((a, b) => a - b);
  }

  /** Top-K cells of a bucket (devices desc, cell id asc), raw counts (no k-anonymity). */
  expectedTopK(bucketStartMs: number, k: number): CellCount[] {
    return topK(this.expectedCells(bucketStartMs), k);
  }

  /** Latest expected visits (optionally of one device), sorted by device, cell, start. */
  expectedVisits(deviceId?: string): ExpectedVisit[] {
    this.#maybeDrain();
    const out: ExpectedVisit[] = [];
    for (const v of this.#visits.values()) if (deviceId === undefined || v.deviceId === deviceId) out.push(v);
    return out.sort(compareVisits);
  }

  /** Expected time spent (ms) by `deviceId` at `cell` (or any of several cells) over [fromMs, toMs). */
  expectedTimeSpent(
    deviceId: string,
    cell: string | readonly string[],
    fromMs: number,
    toMs: number,
  ): number {
    const cells = new Set(typeof cell === 'string' ? [cell] : cell);
    const visits = mergeOverlappingVisits(this.expectedVisits(deviceId).filter((v) => cells.has(v.cell)));
    return timeSpentMs(visits, fromMs, toMs);
  }

  #maybeDrain(): void {
    if (this.#pendingAdds > 0) this.#drain();
  }

  /** The exact expectation as a {@link MeasuredAnswers} (to compare the definitions themselves with reality). */
  expectedAnswers(): MeasuredAnswers {
    return {
      occupancy: (cell, b) => this.expectedOccupancy(cell, b),
      timeSpent: (d, cells, from, to) => this.expectedTimeSpent(d, cells, from, to),
    };
  }

  // ---- comparison ---------------------------------------------------------------------------------

  /**
   * Compares measured answers with physical truth. A place's measured occupancy is the sum over its
   * cells (its rings + JITTER_RING, disjoint between places) of occupancy(cell, bucket); its measured time
   * spent is the time spent over the same cells. Only devices in `deviceIds` (default all) are compared.
   */
  compare(
    measured: MeasuredAnswers = this.expectedAnswers(),
    tolerances: Partial<Tolerances> = {},
  ): AccuracyReport {
    const tol = { ...DEFAULT_TOLERANCES, ...tolerances };
    const jitter = this.aggregatorOptions.jitterRing;
    const cellsOf = new Map(this.city.places.map((p) => [p.id, placeCells(p, jitter)]));
    const rel: number[] = [];
    let bias = 0;
    let okOcc = 0;
    for (const [placeId, m] of this.#placePresence) {
      const cells = cellsOf.get(placeId) ?? [];
      for (const [b, truth] of m) {
        if (truth < tol.minTruthDevices) continue;
        // Skip the window's edge buckets (devices are only observed inside the window).
        if (b < this.fromMs || b + this.bucketMs > this.toMs) continue;
        let got = 0;
        for (const c of cells) got += measured.occupancy(c, b);
        const err = got - truth;
        rel.push(Math.abs(err) / truth);
        bias += err / truth;
        if (Math.abs(err) <= Math.max(tol.occupancyAbs, tol.occupancyRel * truth)) okOcc++;
      }
    }
    const abs: number[] = [];
    let tBias = 0;
    let okTime = 0;
    for (const [deviceId, stays] of this.#stays) {
      const places = new Set(stays.map((s) => s.placeId));
      for (const placeId of places) {
        const truth = this.truthTimeSpent(deviceId, placeId);
        if (truth < tol.minTrueMs) continue;
        const got = measured.timeSpent(deviceId, cellsOf.get(placeId) ?? [], this.fromMs, this.toMs);
        abs.push(Math.abs(got - truth));
        tBias += got - truth;
        if (Math.abs(got - truth) <= tol.timeAbsMs + tol.timeRel * truth) okTime++;
      }
    }
    rel.sort((a, b) => a - b);
    abs.sort((a, b) => a - b);
    const occFraction = rel.length ? okOcc / rel.length : 1;
    const timeFraction = abs.length ? okTime / abs.length : 1;
    return {
      passes: occFraction >= tol.minOccupancyFraction && timeFraction >= tol.minTimeFraction,
      occupancy: {
        samples: rel.length,
        medianRelError: quantile(rel, 0.5),
        p90RelError: quantile(rel, 0.9),
        meanBias: rel.length ? bias / rel.length : 0,
        withinTolerance: occFraction,
      },
      timeSpent: {
        samples: abs.length,
        medianAbsErrorMs: quantile(abs, 0.5),
        p90AbsErrorMs: quantile(abs, 0.9),
        meanBiasMs: abs.length ? tBias / abs.length : 0,
        withinTolerance: timeFraction,
      },
    };
  }
}
