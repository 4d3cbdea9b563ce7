import {
  type AddResult,
  type AggregatorOptions,
  type AggregatorStats,
  type AggregatorUpdates,
  checkOptions,
  DEFAULT_AGGREGATOR_OPTIONS,
  type PingEvent,
} from './aggregator-types.ts';
import { CellTable } from './cell-table.ts';
import {
  anchorAt,
  DeviceState,
  F_T,
  INACC_STRIDE,
  NO_CELL,
  NONE,
  startAt,
  WINDOW_STRIDE,
} from './device-state.ts';
import { EventClock } from './event-clock.ts';
import { foldDevice } from './eviction.ts';
import { OccupancyStore } from './occupancy-store.ts';
import { hasPing, IdKey, storeKey } from './ping-id-key.ts';
import type { PresenceObserver, PresenceSource } from './place-occupancy.ts';
import { Stays } from './stays.ts';
import { VisitChanges } from './visit-changes.ts';

/**
 * Stream aggregation state of one Kafka partition: occupancy per (cell, bucket) and visits per device,
 * following docs/insights.md. Pure (no I/O). Feed pings with {@link add}, emit {@link drainUpdates}.
 * State is a deterministic function of the accepted ping multiset (arrival order within lateness does
 * not change the final values).
 *
 * One module per concern (docs/processor.md, "State layout"): ping-id-key.ts (dedup by ping-id keys), event-clock.ts
 * (watermark), stays.ts (stay derivation), occupancy-store.ts (occupancy), visit-changes.ts (change
 * tracking), eviction.ts (folding and forgetting), cell-table.ts (cell interning), device-state.ts (the
 * compact per-device layout). This class wires them and keeps the counters.
 */
export class PartitionAggregator implements PresenceSource {
  readonly options: AggregatorOptions;
  readonly #bucketMs: number;
  readonly #gapMs: number;
  readonly #maxAccuracyM: number;

  readonly #devices = new Map<string, DeviceState>();
  readonly #cells: CellTable;
  readonly #clock: EventClock;
  readonly #occupancy: OccupancyStore;
  readonly #visits: VisitChanges;
  readonly #stays: Stays;
  #nextDeviceNum = 0;
  /** Scratch key of the ping being added. */
  readonly #key = new IdKey();

  #windowPings = 0;
  #inaccurateHeld = 0;
  #accepted = 0;
  #late = 0;
  #duplicates = 0;
  #inaccurate = 0;

  constructor(options: Partial<AggregatorOptions> = {}) {
    const o: AggregatorOptions = Object.freeze({ ...DEFAULT_AGGREGATOR_OPTIONS, ...options });
    checkOptions(o);
    this.options = o;
    this.#bucketMs = o.bucketMs;
    this.#gapMs = o.presenceMaxGapMs;
    this.#maxAccuracyM = o.maxAccuracyM;
    this.#cells = new CellTable(o.jitterRing, o.regionResolution);
    this.#clock = new EventClock(o.allowedLatenessMs, o.bucketMs);
    this.#occupancy = new OccupancyStore(this.#cells, o.bucketMs, o.contributionBounds);
    this.#visits = new VisitChanges(this.#cells, o.minVisitMs);
    this.#stays = new Stays(this.#cells, this.#occupancy, this.#visits, o.presenceMaxGapMs);
  }

  /** Current watermark (ms); -Infinity before the first ping. */
  get watermarkMs(): number {
    return this.#clock.watermarkMs;
  }

  /** Largest event time of a ping that was neither late nor a duplicate (ms); -Infinity before the first. */
  get maxEventMs(): number {
    return this.#clock.maxEventMs;
  }

  /**
   * Raises the watermark to `watermarkMs` (no-op if not higher), as an idle partition does (see
   * `idleWatermarkMs`). The max event time is left alone, so a later idle advance is computed from real
   * data only. Closes and evicts like a data-driven advance. Returns true if the watermark moved.
   */
  advanceWatermark(watermarkMs: number): boolean {
    if (!this.#clock.advance(watermarkMs)) return false;
    if (this.#clock.evictionDue()) this.evict();
    return true;
  }

  /** Adds one ping. Evicts old state automatically when the watermark has advanced by a bucket. */
  add(ping: PingEvent): AddResult {
    const t = ping.eventTimeMs;
    if (this.#clock.isLate(t)) {
      this.#late++;
      return 'late';
    }
    let dev = this.#devices.get(ping.deviceId);
    if (dev === undefined) {
      dev = new DeviceState(ping.deviceId, this.#nextDeviceNum++);
      this.#devices.set(ping.deviceId, dev);
    }
    const key = this.#key.set(ping.pingId);
    if (hasPing(dev, key)) {
      this.#duplicates++;
      return 'duplicate';
    }
    this.#clock.observe(t);
    let result: AddResult;
    if (!(ping.accuracyM <= this.#maxAccuracyM)) {
      this.#inaccurate++;
      this.#inaccurateHeld++;
      if (dev.inacc === NONE) dev.inacc = [];
      const o = dev.inacc.length;
      dev.inacc.push(t, 0, 0, 0);
      storeKey(dev, key, dev.inacc, o + 1);
      result = 'inaccurate';
    } else {
      this.#accepted++;
      this.#windowPings++;
      this.#stays.insert(dev, t, key, this.#cells.num(ping.cell));
      result = 'accepted';
    }
    if (this.#clock.evictionDue()) this.evict();
    return result;
  }

  /** Feeds presence transitions to a place tracker from now on (before the first ping). */
  observePlaces(tracker: PresenceObserver): void {
    this.#occupancy.places = tracker;
  }

  /** Occupancy and visit updates since the previous drain (only entries whose value changed). */
  drainUpdates(): AggregatorUpdates {
    this.#occupancy.collect();
    this.#visits.collect();
    const out: AggregatorUpdates = { occupancy: this.#occupancy.drain(), visits: this.#visits.drain() };
    const places = this.#occupancy.places;
    if (places !== undefined) out.places = places.drain();
    return out;
  }

  /**
   * Folds per-device history older than the watermark, closes visits that can no longer change (their
   * closed update is queued for the next drain), drops buckets ending at or before
   * `watermark − presenceMaxGapMs`, and deletes idle devices. Called automatically by {@link add}.
   */
  evict(): void {
    const wm = this.#clock.watermarkMs;
    if (wm === Number.NEGATIVE_INFINITY) return;
    for (const dev of this.#devices.values()) {
      const n = dev.size;
      const i = dev.inacc.length;
      const forget = foldDevice(dev, wm, this.#gapMs, this.#bucketMs, this.#visits);
      this.#windowPings -= n - dev.size;
      this.#inaccurateHeld -= (i - dev.inacc.length) / INACC_STRIDE;
      if (forget) this.#devices.delete(dev.id);
    }
    const limit = wm - this.#gapMs;
    this.#occupancy.evictBefore(limit);
    this.#occupancy.places?.evict(limit, this.#bucketMs);
    this.#clock.lastEvictMs = wm;
  }

  /**
   * The earliest event time (ms) whose outputs may still change: the oldest open cell bucket or stay
   * start, or the start of the bucket a ping not yet seen could still reach (presence is carried back
   * up to `presenceMaxGapMs` before a ping at or after the watermark). Outputs of buckets and of visits
   * starting before it are final. -Infinity before the first ping. Costs one pass over the devices.
   */
  mutableFromMs(): number {
    const wm = this.#clock.watermarkMs;
    if (wm === Number.NEGATIVE_INFINITY) return wm;
    let m = Math.floor((wm - this.#gapMs) / this.#bucketMs) * this.#bucketMs;
    for (const b of this.#occupancy.buckets.keys()) if (b < m) m = b;
    for (const dev of this.#devices.values()) {
      if (dev.bAnchor !== NO_CELL && dev.bStart < m) m = dev.bStart;
      if (dev.w.length > 0) {
        const first = startAt(dev, 0);
        if (first < m) m = first;
      }
    }
    return m;
  }

  /** Current distinct-device count of a live (not evicted) cell bucket; undefined if unknown. */
  occupancyAt(cell: string, bucketStartMs: number): number | undefined {
    return this.#occupancy.get(cell, bucketStartMs)?.devices;
  }

  /** Each (cell, distinct devices) of a live bucket, for the live edge (live-edge.ts). */
  forEachCellOf(bucketStartMs: number, fn: (cell: string, region: string, devices: number) => void): void {
    const m = this.#occupancy.buckets.get(bucketStartMs);
    if (m === undefined) return;
    for (const e of m.values()) if (e.devices > 0) fn(e.cell, e.region, e.devices);
  }

  /**
   * Each device's latest accepted ping: its attributed (anchor) cell, event time and the start of the
   * stay it belongs to. The live edge carries presence from there to now (docs/insights.md, "Live
   * edge"); read-only, changes no state.
   */
  forEachLatestPresence(
    fn: (cell: string, region: string, eventTimeMs: number, stayStartMs: number, deviceNum: number) => void,
  ): void {
    const cells = this.#cells;
    for (const dev of this.#devices.values()) {
      const n = dev.size;
      if (n > 0) {
        const a = anchorAt(dev, n - 1);
        fn(
          cells.cell(a),
          cells.region(a),
          dev.w[(n - 1) * WINDOW_STRIDE + F_T] as number,
          startAt(dev, n - 1),
          dev.num,
        );
      } else if (dev.bAnchor !== NO_CELL) {
        fn(cells.cell(dev.bAnchor), cells.region(dev.bAnchor), dev.bLastT, dev.bStart, dev.num);
      }
    }
  }

  /** Bucket starts held (PresenceSource, for place definition changes). */
  openBucketStarts(): Iterable<number> {
    return this.#occupancy.buckets.keys();
  }

  /** Devices present in a live (cell, bucket): device number → contributions (PresenceSource). */
  presentIn(cell: string, bucketStartMs: number): ReadonlyMap<number, number> | undefined {
    return this.#occupancy.get(cell, bucketStartMs)?.deviceMap();
  }

  /** The cell's number if seen (PresenceSource; never interns). */
  cellNumber(cell: string): number | undefined {
    return this.#cells.lookup(cell);
  }

  /** The cell id of a cell number (PresenceSource). */
  cellName(num: number): string {
    return this.#cells.cell(num);
  }

  /** Every device held (PresenceSource, for place definition changes). */
  forEachDevice(fn: (dev: DeviceState) => void): void {
    for (const dev of this.#devices.values()) fn(dev);
  }

  stats(): AggregatorStats {
    let cellBuckets = 0;
    for (const m of this.#occupancy.buckets.values()) cellBuckets += m.size;
    const wm = this.#clock.watermarkMs;
    return {
      devices: this.#devices.size,
      openBuckets: this.#occupancy.buckets.size,
      openCellBuckets: cellBuckets,
      windowPings: this.#windowPings,
      dedupIds: this.#windowPings + this.#inaccurateHeld,
      accepted: this.#accepted,
      lateDropped: this.#late,
      duplicates: this.#duplicates,
      inaccurate: this.#inaccurate,
      watermarkMs: wm === Number.NEGATIVE_INFINITY ? null : wm,
    };
  }
}
