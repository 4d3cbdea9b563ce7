/**
 * Occupancy state of one (cell, bucket): which devices are present (with how many presence segments
 * each, so that removing one segment of a device present twice keeps it counted) and what was last
 * emitted, so that only changed values are emitted.
 */
export class CellBucket {
  readonly cell: string;
  readonly region: string;
  readonly bucketStartMs: number;
  /** device number → number of contributions (segments) of that device. */
  readonly devs = new Map<number, number>();
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
}
