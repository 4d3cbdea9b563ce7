import { gridDisk } from 'h3-js';
import {
  type AddResult,
  type AggregatorOptions,
  type AggregatorStats,
  type AggregatorUpdates,
  checkOptions,
  DEFAULT_AGGREGATOR_OPTIONS,
  type OccupancyUpdate,
  type PingEvent,
  type VisitUpdate,
} from './aggregator-types.ts';
import { addStay, rebound, rememberEvicted } from './bounded-occupancy.ts';
import { regionOf } from './cells.ts';
import type { EarlierStays } from './contribution-bounding.ts';
import { DEDUP_SET_MIN, hasId, rememberId } from './dedup.ts';
import { DeviceState, type EmittedVisit } from './device-state.ts';
import { CellBucket } from './occupancy.ts';
import type { PlaceTracker, PresenceSource } from './place-occupancy.ts';

const CACHE_LIMIT = 100_000;
/**
 * Stream aggregation state of one Kafka partition: occupancy per (cell, bucket) and visits per device,
 * following docs/insights.md. Pure (no I/O). Feed pings with {@link add}, emit {@link drainUpdates}.
 * State is a deterministic function of the accepted ping multiset (arrival order within lateness does
 * not change the final values).
 */
export class PartitionAggregator implements PresenceSource {
  readonly options: AggregatorOptions;
  readonly #bucketMs: number;
  readonly #gapMs: number;
  readonly #minVisitMs: number;
  readonly #maxAccuracyM: number;
  readonly #latenessMs: number;

  readonly #devices = new Map<string, DeviceState>();
  readonly #buckets = new Map<number, Map<string, CellBucket>>();
  readonly #disks = new Map<string, Set<string>>();
  readonly #regions = new Map<string, string>();
  readonly #cells = new Map<string, string>();
  #nextDeviceNum = 0;
  /** Named places (docs/places.md): told of every device entering or leaving a (cell, bucket). */
  #places: PlaceTracker | undefined;
  #pass = 0;
  /** dp mode: first stays of evicted buckets, for the one-visit-per-hour rule (bounded-occupancy.ts). */
  readonly #earlier: EarlierStays = new Map();

  readonly #dirtyCells: CellBucket[] = [];
  readonly #dirtyDevices: DeviceState[] = [];
  #pendingOccupancy: OccupancyUpdate[] = [];
  #pendingVisits: VisitUpdate[] = [];

  #maxEventMs = Number.NEGATIVE_INFINITY;
  #watermarkMs = Number.NEGATIVE_INFINITY;
  #lastEvictWatermarkMs = Number.NEGATIVE_INFINITY;
  #dedupCount = 0;
  #windowPings = 0;
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
    this.#minVisitMs = o.minVisitMs;
    this.#maxAccuracyM = o.maxAccuracyM;
    this.#latenessMs = o.allowedLatenessMs;
  }

  /** Current watermark (ms); -Infinity before the first ping. */
  get watermarkMs(): number {
    return this.#watermarkMs;
  }

  /** Largest event time of a ping that was neither late nor a duplicate (ms); -Infinity before the first. */
  get maxEventMs(): number {
    return this.#maxEventMs;
  }

  /**
   * Raises the watermark to `watermarkMs` (no-op if not higher), as an idle partition does (see
   * `idleWatermarkMs`). The max event time is left alone, so a later idle advance is computed from real
   * data only. Closes and evicts like a data-driven advance. Returns true if the watermark moved.
   */
  advanceWatermark(watermarkMs: number): boolean {
    if (!(watermarkMs > this.#watermarkMs)) return false;
    this.#watermarkMs = watermarkMs;
    if (this.#watermarkMs - this.#lastEvictWatermarkMs >= this.#bucketMs) this.evict();
    return true;
  }

  /** Adds one ping. Evicts old state automatically when the watermark has advanced by a bucket. */
  add(ping: PingEvent): AddResult {
    const t = ping.eventTimeMs;
    if (!(t >= this.#watermarkMs)) {
      this.#late++;
      return 'late';
    }
    let dev = this.#devices.get(ping.deviceId);
    if (dev === undefined) {
      dev = new DeviceState(ping.deviceId, this.#nextDeviceNum++);
      this.#devices.set(ping.deviceId, dev);
    }
    const id = ping.pingId;
    if (hasId(dev, id)) {
      this.#duplicates++;
      return 'duplicate';
    }
    this.#dedupCount++;
    if (t > this.#maxEventMs) {
      this.#maxEventMs = t;
      // max(): an idle advance (advanceWatermark) may already be ahead of the data.
      if (t - this.#latenessMs > this.#watermarkMs) this.#watermarkMs = t - this.#latenessMs;
    }
    let result: AddResult;
    if (!(ping.accuracyM <= this.#maxAccuracyM)) {
      this.#inaccurate++;
      dev.inaccT.push(t);
      dev.inaccIds.push(id);
      result = 'inaccurate';
    } else {
      this.#accepted++;
      this.#insert(dev, t, id, this.#internCell(ping.cell));
      result = 'accepted';
    }
    rememberId(dev, id);
    if (this.#watermarkMs - this.#lastEvictWatermarkMs >= this.#bucketMs) this.evict();
    return result;
  }

  /** Feeds presence transitions to a place tracker from now on (before the first ping). */
  observePlaces(tracker: PlaceTracker): void {
    this.#places = tracker;
  }

  /** Occupancy and visit updates since the previous drain (only entries whose value changed). */
  drainUpdates(): AggregatorUpdates {
    this.#collect();
    const out: AggregatorUpdates = { occupancy: this.#pendingOccupancy, visits: this.#pendingVisits };
    if (this.#places !== undefined) out.places = this.#places.drain();
    this.#pendingOccupancy = [];
    this.#pendingVisits = [];
    return out;
  }

  /**
   * Folds per-device history older than the watermark, closes visits that can no longer change (their
   * closed update is queued for the next drain), drops buckets ending at or before
   * `watermark − presenceMaxGapMs`, and deletes idle devices. Called automatically by {@link add}.
   */
  evict(): void {
    const w = this.#watermarkMs;
    if (w === Number.NEGATIVE_INFINITY) return;
    for (const dev of this.#devices.values()) this.#fold(dev, w);
    const limit = w - this.#gapMs;
    const bounds = this.options.contributionBounds;
    if (bounds) this.#rebound();
    for (const [b, cells] of this.#buckets) {
      if (b + this.#bucketMs > limit) continue;
      for (const e of cells.values()) {
        this.#flushCell(e);
        if (bounds) rememberEvicted(this.#earlier, e, bounds, limit);
      }
      this.#buckets.delete(b);
    }
    this.#places?.evict(limit, this.#bucketMs);
    this.#lastEvictWatermarkMs = w;
  }

  /**
   * The earliest event time (ms) whose outputs may still change: the oldest open cell bucket or stay
   * start, or the start of the bucket a ping not yet seen could still reach (presence is carried back
   * up to `presenceMaxGapMs` before a ping at or after the watermark). Outputs of buckets and of visits
   * starting before it are final. -Infinity before the first ping. Costs one pass over the devices.
   */
  mutableFromMs(): number {
    const w = this.#watermarkMs;
    if (w === Number.NEGATIVE_INFINITY) return w;
    let m = Math.floor((w - this.#gapMs) / this.#bucketMs) * this.#bucketMs;
    for (const b of this.#buckets.keys()) if (b < m) m = b;
    for (const dev of this.#devices.values()) {
      if (dev.bAnchor !== null && dev.bStart < m) m = dev.bStart;
      const first = dev.starts[0];
      if (first !== undefined && first < m) m = first;
    }
    return m;
  }

  /** Current distinct-device count of a live (not evicted) cell bucket; undefined if unknown. */
  occupancyAt(cell: string, bucketStartMs: number): number | undefined {
    return this.#buckets.get(bucketStartMs)?.get(cell)?.devs.size;
  }

  /** Each (cell, distinct devices) of a live bucket, for the live edge (live-edge.ts). */
  forEachCellOf(bucketStartMs: number, fn: (cell: string, region: string, devices: number) => void): void {
    const m = this.#buckets.get(bucketStartMs);
    if (m === undefined) return;
    for (const e of m.values()) if (e.devs.size > 0) fn(e.cell, e.region, e.devs.size);
  }

  /**
   * Each device's latest accepted ping: its attributed (anchor) cell, event time and the start of the
   * stay it belongs to. The live edge carries presence from there to now (docs/insights.md, "Live
   * edge"); read-only, changes no state.
   */
  forEachLatestPresence(
    fn: (cell: string, region: string, eventTimeMs: number, stayStartMs: number, deviceNum: number) => void,
  ): void {
    for (const dev of this.#devices.values()) {
      const n = dev.ts.length;
      if (n > 0) {
        const cell = dev.anchors[n - 1] as string;
        fn(cell, this.#region(cell), dev.ts[n - 1] as number, dev.starts[n - 1] as number, dev.num);
      } else if (dev.bAnchor !== null)
        fn(dev.bAnchor, this.#region(dev.bAnchor), dev.bLastT, dev.bStart, dev.num);
    }
  }

  /** Bucket starts held (PresenceSource, for place definition changes). */
  openBucketStarts(): Iterable<number> {
    return this.#buckets.keys();
  }

  /** Devices present in a live (cell, bucket): device number → contributions (PresenceSource). */
  presentIn(cell: string, bucketStartMs: number): ReadonlyMap<number, number> | undefined {
    return this.#buckets.get(bucketStartMs)?.get(cell)?.devs;
  }

  stats(): AggregatorStats {
    let cellBuckets = 0;
    for (const m of this.#buckets.values()) cellBuckets += m.size;
    return {
      devices: this.#devices.size,
      openBuckets: this.#buckets.size,
      openCellBuckets: cellBuckets,
      windowPings: this.#windowPings,
      dedupIds: this.#dedupCount,
      accepted: this.#accepted,
      lateDropped: this.#late,
      duplicates: this.#duplicates,
      inaccurate: this.#inaccurate,
      watermarkMs: this.#watermarkMs === Number.NEGATIVE_INFINITY ? null : this.#watermarkMs,
    };
  }

  // ---- derivation -------------------------------------------------------------------------------

  #insert(dev: DeviceState, t: number, id: string, cell: string): void {
    const ts = dev.ts;
    const n = ts.length;
    this.#windowPings++;
    const lastT = n > 0 ? (ts[n - 1] as number) : Number.NEGATIVE_INFINITY;
    if (n === 0 || t > lastT || (t === lastT && id > (dev.ids[n - 1] as string))) {
      ts.push(t);
      dev.ids.push(id);
      dev.cells.push(cell);
      dev.anchors.push(cell);
      dev.starts.push(t);
      dev.counts.push(1);
      this.#derive(dev, n);
      this.#contribute(dev, n, 1);
      this.#markDevice(dev, n, false);
      return;
    }
    // Out of order: find the position, undo the tail's contributions, re-derive the tail.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const mt = ts[mid] as number;
      if (t > mt || (t === mt && id > (dev.ids[mid] as string))) lo = mid + 1;
      else hi = mid;
    }
    for (let j = lo; j < n; j++) this.#contribute(dev, j, -1);
    ts.splice(lo, 0, t);
    dev.ids.splice(lo, 0, id);
    dev.cells.splice(lo, 0, cell);
    dev.anchors.splice(lo, 0, cell);
    dev.starts.splice(lo, 0, t);
    dev.counts.splice(lo, 0, 1);
    for (let j = lo; j <= n; j++) {
      this.#derive(dev, j);
      this.#contribute(dev, j, 1);
    }
    this.#markDevice(dev, lo, true);
  }

  /** Derives anchor/start/count of window ping j from the state after ping j-1 (or the base). */
  #derive(dev: DeviceState, j: number): void {
    let anchor: string | null;
    let start: number;
    let lastT: number;
    let count: number;
    if (j > 0) {
      anchor = dev.anchors[j - 1] as string;
      start = dev.starts[j - 1] as number;
      lastT = dev.ts[j - 1] as number;
      count = dev.counts[j - 1] as number;
    } else {
      anchor = dev.bAnchor;
      start = dev.bStart;
      lastT = dev.bLastT;
      count = dev.bPings;
    }
    const t = dev.ts[j] as number;
    const cell = dev.cells[j] as string;
    if (anchor !== null && t - lastT <= this.#gapMs && (anchor === cell || this.#disk(anchor).has(cell))) {
      dev.anchors[j] = anchor;
      dev.starts[j] = start;
      dev.counts[j] = count + 1;
    } else {
      dev.anchors[j] = cell;
      dev.starts[j] = t;
      dev.counts[j] = 1;
    }
  }

  /**
   * Adds (delta 1) or removes (delta -1) the contribution of window ping j: presence of the device in its
   * attributed cell over [previous ping, this ping] if it continues a stay, else at this ping only; and
   * one ping in the bucket of its time.
   */
  #contribute(dev: DeviceState, j: number, delta: 1 | -1): void {
    const cell = dev.anchors[j] as string;
    const t = dev.ts[j] as number;
    const from = (dev.counts[j] as number) > 1 ? (j > 0 ? (dev.ts[j - 1] as number) : dev.bLastT) : t;
    const bms = this.#bucketMs;
    const last = Math.floor(t / bms) * bms;
    const num = dev.num;
    for (let b = Math.floor(from / bms) * bms; b <= last; b += bms) {
      let m = this.#buckets.get(b);
      if (m === undefined) {
        if (delta < 0) continue;
        m = new Map();
        this.#buckets.set(b, m);
      }
      let e = m.get(cell);
      if (e === undefined) {
        if (delta < 0) continue;
        e = new CellBucket(cell, this.#region(cell), b);
        m.set(cell, e);
      }
      const prev = e.devs.get(num) ?? 0;
      const c = prev + delta;
      // Before the change: a place rebuild triggered inside reads the set without this transition.
      if (this.#places !== undefined && prev > 0 !== c > 0) this.#places.presence(cell, b, num, c > 0);
      if (c > 0) e.devs.set(num, c);
      else e.devs.delete(num);
      if (b === last) e.pings += delta;
      if (this.options.contributionBounds) addStay(e, num, dev.starts[j] as number, delta);
      if (!e.dirty) {
        e.dirty = true;
        this.#dirtyCells.push(e);
      }
    }
  }

  #markDevice(dev: DeviceState, index: number, rederived: boolean): void {
    if (dev.dirtyFrom === Number.POSITIVE_INFINITY) this.#dirtyDevices.push(dev);
    if (index < dev.dirtyFrom) dev.dirtyFrom = index;
    if (rederived) dev.rederived = true;
  }

  #disk(cell: string): Set<string> {
    let s = this.#disks.get(cell);
    if (s === undefined) {
      try {
        s = new Set(gridDisk(cell, this.options.jitterRing));
      } catch {
        s = new Set([cell]);
      }
      if (this.#disks.size >= CACHE_LIMIT) this.#disks.clear();
      this.#disks.set(cell, s);
    }
    return s;
  }

  /** The one shared copy of a cell id string (decoded pings bring a fresh copy each). */
  #internCell(cell: string): string {
    const c = this.#cells.get(cell);
    if (c !== undefined) return c;
    if (this.#cells.size >= CACHE_LIMIT) this.#cells.clear();
    this.#cells.set(cell, cell);
    return cell;
  }

  #region(cell: string): string {
    let r = this.#regions.get(cell);
    if (r === undefined) {
      try {
        r = regionOf(cell, this.options.regionResolution);
      } catch {
        r = '';
      }
      if (this.#regions.size >= CACHE_LIMIT) this.#regions.clear();
      this.#regions.set(cell, r);
    }
    return r;
  }

  // ---- emission ---------------------------------------------------------------------------------

  /** Moves every dirty cell bucket and dirty device's visit changes into the pending updates. */
  #collect(): void {
    if (this.options.contributionBounds) this.#rebound();
    for (const e of this.#dirtyCells) this.#flushCell(e);
    this.#dirtyCells.length = 0;
    for (const dev of this.#dirtyDevices) this.#flushDevice(dev);
    this.#dirtyDevices.length = 0;
  }

  /** dp mode: brings `bounded` up to date for the windows of dirty cells; marks other changed cells dirty. */
  #rebound(): void {
    const bounds = this.options.contributionBounds;
    if (!bounds || this.#dirtyCells.length === 0) return;
    for (const e of rebound(this.#buckets, this.#dirtyCells, this.#bucketMs, bounds, this.#earlier)) {
      e.dirty = true;
      this.#dirtyCells.push(e);
    }
  }

  #flushCell(e: CellBucket): void {
    if (!e.dirty) return;
    e.dirty = false;
    const d = this.options.contributionBounds ? e.bounded : e.devs.size;
    if (d !== e.emittedDevices || e.pings !== e.emittedPings) {
      this.#pendingOccupancy.push({
        cell: e.cell,
        region: e.region,
        bucketStartMs: e.bucketStartMs,
        devices: d,
        pings: e.pings,
      });
      e.emittedDevices = d;
      e.emittedPings = e.pings;
    }
  }

  /** Queues the visit changes of a dirty device (no-op if clean). */
  #flushDevice(dev: DeviceState): void {
    if (dev.dirtyFrom === Number.POSITIVE_INFINITY && !dev.rederived) return;
    const n = dev.ts.length;
    const full = dev.rederived;
    const lo = full ? 0 : Math.max(0, dev.dirtyFrom - 1);
    const seen = full ? ++this.#pass : 0;
    if (lo === 0 && dev.bAnchor !== null && (n === 0 || dev.counts[0] === 1)) {
      this.#emitStay(dev, dev.bAnchor, dev.bStart, dev.bLastT, dev.bPings, seen);
    }
    for (let j = lo; j < n; j++) {
      if (j === n - 1 || dev.counts[j + 1] === 1) {
        this.#emitStay(
          dev,
          dev.anchors[j] as string,
          dev.starts[j] as number,
          dev.ts[j] as number,
          dev.counts[j] as number,
          seen,
        );
      }
    }
    if (full && dev.emitted.length > 0) {
      const kept: EmittedVisit[] = [];
      for (const v of dev.emitted) {
        if (v.seen === seen) kept.push(v);
        else this.#pushVisit(dev, v.cell, v.startMs, v.endMs, v.pings, false, true);
      }
      dev.emitted = kept;
    }
    dev.dirtyFrom = Number.POSITIVE_INFINITY;
    dev.rederived = false;
  }

  #emitStay(
    dev: DeviceState,
    cell: string,
    startMs: number,
    endMs: number,
    pings: number,
    seen: number,
  ): void {
    const emitted = dev.emitted;
    const long = endMs - startMs >= this.#minVisitMs;
    if (!long && emitted.length === 0) return;
    let i = 0;
    while (
      i < emitted.length &&
      !((emitted[i] as EmittedVisit).startMs === startMs && (emitted[i] as EmittedVisit).cell === cell)
    )
      i++;
    const prev = emitted[i];
    if (prev !== undefined) prev.seen = seen;
    if (long) {
      if (prev === undefined) {
        emitted.push({ cell, startMs, endMs, pings, seen });
      } else if (prev.endMs !== endMs || prev.pings !== pings) {
        prev.endMs = endMs;
        prev.pings = pings;
      } else {
        return;
      }
      this.#pushVisit(dev, cell, startMs, endMs, pings, false, false);
    } else if (prev !== undefined) {
      emitted.splice(i, 1);
      this.#pushVisit(dev, cell, startMs, prev.endMs, prev.pings, false, true);
    }
  }

  /** A stay that can no longer change: emit it closed (if reported) and forget it. */
  #finalizeStay(dev: DeviceState, cell: string, startMs: number, endMs: number, pings: number): void {
    const emitted = dev.emitted;
    let i = 0;
    while (
      i < emitted.length &&
      !((emitted[i] as EmittedVisit).startMs === startMs && (emitted[i] as EmittedVisit).cell === cell)
    )
      i++;
    const prev = emitted[i];
    if (prev !== undefined) emitted.splice(i, 1);
    if (endMs - startMs >= this.#minVisitMs) this.#pushVisit(dev, cell, startMs, endMs, pings, true, false);
    else if (prev !== undefined) this.#pushVisit(dev, cell, startMs, prev.endMs, prev.pings, false, true);
  }

  #pushVisit(
    dev: DeviceState,
    cell: string,
    startMs: number,
    endMs: number,
    pings: number,
    closed: boolean,
    retracted: boolean,
  ): void {
    this.#pendingVisits.push({
      deviceId: dev.id,
      cell,
      region: this.#region(cell),
      startMs,
      endMs,
      pings,
      closed,
      retracted,
    });
  }

  // ---- eviction ---------------------------------------------------------------------------------

  /** Folds window pings older than `w` into the base state; closes stays that can no longer change. */
  #fold(dev: DeviceState, w: number): void {
    const ts = dev.ts;
    const n = ts.length;
    let k = 0;
    while (k < n && (ts[k] as number) < w) k++;
    // Folding splices the window arrays (O(n)): do it when the whole window or a quarter of it is
    // folded, so the cost per ping stays O(1). Pings below the watermark left in the window are harmless
    // (no ping can be inserted before them); only the closing of their stays is deferred.
    if (k < n && k * 4 < n) k = 0;
    // After folding, the base stay closes if no acceptable ping can continue it: its last ping is more than
    // a gap before the watermark and no (deferred) window ping below the watermark follows it.
    const baseAnchor = k > 0 ? (dev.anchors[k - 1] as string) : dev.bAnchor;
    const baseLastT = k > 0 ? (ts[k - 1] as number) : dev.bLastT;
    const closeBase =
      baseAnchor !== null && w - baseLastT > this.#gapMs && (k === n || (ts[k] as number) >= w);
    if (k > 0 || closeBase) this.#flushDevice(dev);
    if (k > 0) {
      for (let j = 0; j < k; j++) {
        if (dev.counts[j] !== 1) continue;
        // Ping j starts a new stay: the previous one (base or ending at j-1) is final.
        if (j === 0) {
          if (dev.bAnchor !== null) this.#finalizeStay(dev, dev.bAnchor, dev.bStart, dev.bLastT, dev.bPings);
        } else {
          this.#finalizeStay(
            dev,
            dev.anchors[j - 1] as string,
            dev.starts[j - 1] as number,
            ts[j - 1] as number,
            dev.counts[j - 1] as number,
          );
        }
      }
      dev.bAnchor = dev.anchors[k - 1] as string;
      dev.bStart = dev.starts[k - 1] as number;
      dev.bLastT = ts[k - 1] as number;
      dev.bPings = dev.counts[k - 1] as number;
      const dedup = dev.dedup;
      if (dedup !== null) for (let j = 0; j < k; j++) dedup.delete(dev.ids[j] as string);
      this.#dedupCount -= k;
      this.#windowPings -= k;
      ts.splice(0, k);
      dev.ids.splice(0, k);
      dev.cells.splice(0, k);
      dev.anchors.splice(0, k);
      dev.starts.splice(0, k);
      dev.counts.splice(0, k);
    }
    if (closeBase && dev.bAnchor !== null) {
      this.#finalizeStay(dev, dev.bAnchor, dev.bStart, dev.bLastT, dev.bPings);
      dev.bAnchor = null;
    }
    if (dev.inaccT.length > 0) {
      for (let j = dev.inaccT.length - 1; j >= 0; j--) {
        if ((dev.inaccT[j] as number) < w) {
          dev.dedup?.delete(dev.inaccIds[j] as string);
          this.#dedupCount--;
          dev.inaccT.splice(j, 1);
          dev.inaccIds.splice(j, 1);
        }
      }
    }
    if (dev.dedup !== null && dev.dedup.size <= DEDUP_SET_MIN / 2) dev.dedup = null;
    // Forget an idle device only once the buckets of its last presence are evicted too, so that a device
    // that comes back (with a new number) can never be counted twice in one bucket.
    const bms = this.#bucketMs;
    if (
      ts.length === 0 &&
      dev.bAnchor === null &&
      dev.inaccT.length === 0 &&
      dev.emitted.length === 0 &&
      Math.floor(dev.bLastT / bms) * bms + bms <= w - this.#gapMs
    ) {
      this.#devices.delete(dev.id);
    }
  }
}
