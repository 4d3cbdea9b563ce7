// Contribution bounding for the differential-privacy mode (docs/privacy.md, "Differential privacy").
// The noise of a release is calibrated to how much ONE device can change it, so that must be bounded:
//   1. at most one visit (stay) per (device, cell, hour): a device that leaves a cell and comes back
//      within the same clock hour counts only for its first stay there;
//   2. at most C cells per (device, bucket): a device present in more cells during one bucket counts in
//      the C cells where its (kept) stay started first (ties: cell id ascending).
// Both rules are pure functions of the presence data, so a replay gives the same counts (exactly-once
// and restore keep working); neither looks at arrival order.

/** How a device is present in one (cell, bucket): the start times of the stays that put it there. */
export interface BucketPresence {
  readonly cell: string;
  readonly bucketStartMs: number;
  readonly device: number;
  readonly stayStarts: Iterable<number>;
}

export interface BoundingOptions {
  /** C: most cells one device counts in per bucket (>= 1). */
  readonly maxCellsPerBucket: number;
  /** Window of rule 1 (one visit per cell per window), ms; 3 600 000 = per clock hour. */
  readonly visitWindowMs: number;
}

export const DEFAULT_VISIT_WINDOW_MS = 3_600_000;

/** Throws a RangeError naming the first invalid option. */
export function checkBoundingOptions(o: BoundingOptions): void {
  if (!(Number.isInteger(o.maxCellsPerBucket) && o.maxCellsPerBucket >= 1)) {
    throw new RangeError(`maxCellsPerBucket must be an integer >= 1, got ${o.maxCellsPerBucket}`);
  }
  if (!(Number.isInteger(o.visitWindowMs) && o.visitWindowMs > 0)) {
    throw new RangeError(`visitWindowMs must be a positive integer, got ${o.visitWindowMs}`);
  }
}

/**
 * Window index → `device|cell` → first stay start, remembered from buckets no longer held (evicted), so
 * rule 1 still sees a visit whose buckets are gone.
 */
export type EarlierStays = Map<number, Map<string, number>>;

/**
 * Bounded distinct-device counts: bucket start → cell → devices counted after rules 1 and 2. Give it
 * every presence of the windows concerned (rule 1 compares a device's stays across a whole window).
 * Cells whose count drops to 0 are present with 0.
 */
export function boundedCounts(
  presences: Iterable<BucketPresence>,
  o: BoundingOptions,
  earlier?: EarlierStays,
): Map<number, Map<string, number>> {
  const all: BucketPresence[] = [];
  // Rule 1: the first stay start of each (device, cell, window).
  const first = new Map<string, number>();
  for (const p of presences) {
    all.push(p);
    const window = Math.floor(p.bucketStartMs / o.visitWindowMs);
    const key = `${p.device}|${p.cell}|${window}`;
    let m = first.get(key) ?? earlier?.get(window)?.get(`${p.device}|${p.cell}`) ?? Number.POSITIVE_INFINITY;
    for (const s of p.stayStarts) if (s < m) m = s;
    first.set(key, m);
  }
  const out = new Map<number, Map<string, number>>();
  // Rule 2 candidates: (device, bucket) → cells whose kept (first) stay covers this bucket.
  const candidates = new Map<string, { b: number; cell: string; start: number }[]>();
  for (const p of all) {
    let cells = out.get(p.bucketStartMs);
    if (!cells) {
      cells = new Map();
      out.set(p.bucketStartMs, cells);
    }
    if (!cells.has(p.cell)) cells.set(p.cell, 0);
    const start = first.get(`${p.device}|${p.cell}|${Math.floor(p.bucketStartMs / o.visitWindowMs)}`);
    let covered = false;
    for (const s of p.stayStarts) if (s === start) covered = true;
    if (!covered || start === undefined) continue;
    const key = `${p.device}|${p.bucketStartMs}`;
    const list = candidates.get(key);
    const entry = { b: p.bucketStartMs, cell: p.cell, start };
    if (list) list.push(entry);
    else candidates.set(key, [entry]);
  }
  for (const list of candidates.values()) {
    if (list.length > o.maxCellsPerBucket) {
      list.sort((x, y) => x.start - y.start || (x.cell < y.cell ? -1 : x.cell > y.cell ? 1 : 0));
      list.length = o.maxCellsPerBucket;
    }
    for (const e of list) {
      const cells = out.get(e.b) as Map<string, number>;
      cells.set(e.cell, (cells.get(e.cell) ?? 0) + 1);
    }
  }
  return out;
}
