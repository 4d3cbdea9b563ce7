/** Distinct devices above which a (cell, bucket) keeps its devices in a Map instead of a pair array. */
const SMALL_MAX = 16;

/**
 * Occupancy state of one (cell, bucket): which devices are present (with how many presence segments
 * each, so that removing one segment of a device present twice keeps it counted) and what was last
 * emitted, so that only changed values are emitted.
 *
 * Most (cell, bucket)s hold a handful of devices: they are kept as a flat `[device, segments, …]`
 * array (Smis, scanned linearly; ~8 B per field) rather than a Map (~250 B for a few entries); busy
 * cells switch to a Map above SMALL_MAX devices.
 */
export class CellBucket {
  /** The interned cell id and region strings (cell-table.ts), shared by every bucket of the cell. */
  readonly cell: string;
  readonly region: string;
  readonly bucketStartMs: number;
  /** Distinct devices present. */
  devices = 0;
  /** The first device present (-1: none) and its segments: most (cell, bucket)s hold one device. */
  d0 = -1;
  s0 = 0;
  /** Further devices while few: device number, segments, …; null if none. */
  small: number[] | null = null;
  /** device number → segments of every device (d0 unused), above SMALL_MAX devices. */
  big: Map<number, number> | null = null;
  /**
   * Contribution bounding only (dp mode): device number → stay start → segments, so the bounded count can
   * tell a device's visits apart (contribution-bounding.ts). Undefined when bounding is off.
   */
  stays: Map<number, Map<number, number>> | undefined;
  /** Bounded count (dp mode), kept up to date by bounded-occupancy.ts before each flush. */
  bounded = 0;
  pings = 0;
  emittedDevices = 0;
  emittedPings = 0;
  dirty = false;
  constructor(cell: string, region: string, bucketStartMs: number) {
    this.cell = cell;
    this.region = region;
    this.bucketStartMs = bucketStartMs;
  }

  /** Adds `delta` presence segments of device `num` (never below 0); returns the segments before. */
  addSegments(num: number, delta: number): number {
    const big = this.big;
    if (big !== null) {
      const prev = big.get(num) ?? 0;
      const c = prev + delta;
      if (c > 0) big.set(num, c);
      else big.delete(num);
      this.devices = big.size;
      return prev;
    }
    const a = this.small;
    if (this.d0 === num) {
      const prev = this.s0;
      const c = prev + delta;
      if (c > 0) this.s0 = c;
      else {
        // Refill the first slot from the array's last pair.
        if (a !== null) {
          const last = a.length - 2;
          this.d0 = a[last] as number;
          this.s0 = a[last + 1] as number;
          if (last === 0) this.small = null;
          else a.length = last;
        } else this.d0 = -1;
        this.devices--;
      }
      return prev;
    }
    if (a !== null) {
      for (let i = 0; i < a.length; i += 2) {
        if (a[i] !== num) continue;
        const prev = a[i + 1] as number;
        const c = prev + delta;
        if (c > 0) a[i + 1] = c;
        else {
          const last = a.length - 2;
          a[i] = a[last] as number;
          a[i + 1] = a[last + 1] as number;
          if (last === 0) this.small = null;
          else a.length = last;
          this.devices--;
        }
        return prev;
      }
    }
    if (delta <= 0) return 0;
    if (this.d0 === -1) {
      this.d0 = num;
      this.s0 = delta;
    } else if (a === null) this.small = [num, delta];
    // A copy of exact size rather than push(): push grows the capacity by 1.5× + 16 (~170 B of slack
    // per (cell, bucket)); at most SMALL_MAX copies, of at most 2·SMALL_MAX Smis, per (cell, bucket).
    else if (a.length < 2 * SMALL_MAX) this.small = a.concat(num, delta);
    else {
      const m = new Map<number, number>([[this.d0, this.s0]]);
      for (let i = 0; i < a.length; i += 2) m.set(a[i] as number, a[i + 1] as number);
      m.set(num, delta);
      this.big = m;
      this.small = null;
      this.d0 = -1;
    }
    this.devices++;
    return 0;
  }

  /** Presence segments of device `num` (0 if absent). */
  segmentsOf(num: number): number {
    if (this.big !== null) return this.big.get(num) ?? 0;
    if (this.d0 === num) return this.s0;
    const a = this.small;
    if (a !== null) for (let i = 0; i < a.length; i += 2) if (a[i] === num) return a[i + 1] as number;
    return 0;
  }

  /** device number → segments (a copy while small). */
  deviceMap(): ReadonlyMap<number, number> {
    if (this.big !== null) return this.big;
    const m = new Map<number, number>();
    if (this.d0 !== -1) m.set(this.d0, this.s0);
    const a = this.small ?? [];
    for (let i = 0; i < a.length; i += 2) m.set(a[i] as number, a[i + 1] as number);
    return m;
  }
}
