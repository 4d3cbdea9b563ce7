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
