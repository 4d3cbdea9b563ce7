// The alert model, pure: what a subscription watches, when it fires, and the k-anonymity rules its
// numbers obey. No I/O here: apps/alerts feeds it counts, apps/api validates subscriptions with it.

/**
 * - `above`: the cell's count rises to `threshold` or more; re-arms once it is below `threshold − hysteresis`.
 * - `below`: the count falls under `threshold`; re-arms once it is `threshold + hysteresis` or more.
 * A cell's rank is among its region's cells, a place's among its region's places.
 * - `enters_top`: the cell's rank in its region reaches `threshold` (= K of top-K) or better; re-arms once
 *   its rank is worse than `threshold + hysteresis` (or it is not ranked at all).
 * - `leaves_top`: the reverse: fires when the rank becomes worse than `threshold + hysteresis`, re-arms at
 *   `threshold` or better.
 */
export const ALERT_KINDS = ['above', 'below', 'enters_top', 'leaves_top'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** Largest K of a top-K subscription (the API's popular endpoint answers at most 100). */
export const MAX_TOP_K = 100;

export interface AlertRule {
  kind: AlertKind;
  /** N devices (above/below) or K of top-K (enters_top/leaves_top). */
  threshold: number;
  /** Width of the dead band, devices or ranks (0 = none). */
  hysteresis: number;
}

/**
 * Why a subscription's target is not allowed, or undefined when it is: it names exactly one of a cell
 * and a place. (Every kind works on both: a place's rank is among its region's places.)
 */
export function targetError(cell: unknown, placeId: unknown): string | undefined {
  if ((cell === undefined) === (placeId === undefined)) return 'name exactly one of cell and placeId';
  return undefined;
}

/** What the evaluator knows about a cell (or a place) at one evaluation. */
export interface Observation {
  /** The cell's current count (raw; never published as is). */
  devices: number;
  /**
   * 1-based rank among the region's cells (a place: the region's places) with at least K_ANONYMITY
   * devices; null = not ranked.
   */
  rank: number | null;
}

/**
 * Why a rule is not allowed, or undefined when it is. The k-anonymity rule: every level a count is
 * compared with is at least `kAnonymity`, so no alert (and no re-arming, which decides whether the next
 * crossing fires) ever tells a count of 3 from a count of 0: both sit below every level.
 */
export function ruleError(rule: AlertRule, kAnonymity: number): string | undefined {
  const { kind, threshold: n, hysteresis: h } = rule;
  if (!Number.isInteger(n) || !Number.isInteger(h) || h < 0)
    return 'threshold and hysteresis must be integers, hysteresis >= 0';
  if (kind === 'above' || kind === 'below') {
    if (n < kAnonymity) return `threshold must be at least K_ANONYMITY (${kAnonymity})`;
    if (kind === 'above' && n - h < kAnonymity)
      return `threshold − hysteresis (the re-arm level) must be at least K_ANONYMITY (${kAnonymity})`;
    return undefined;
  }
  if (n < 1 || n + h > MAX_TOP_K)
    return `top-K needs 1 <= threshold and threshold + hysteresis <= ${MAX_TOP_K}`;
  return undefined;
}

/**
 * Which side of the rule an observation is on: true = the alert condition holds, false = clearly not
 * (past the dead band), undefined = inside the dead band (keeps the previous side).
 */
export function conditionOf(rule: AlertRule, o: Observation): boolean | undefined {
  const { threshold: n, hysteresis: h } = rule;
  const inTop = o.rank !== null && o.rank <= n;
  const outOfTop = o.rank === null || o.rank > n + h;
  switch (rule.kind) {
    case 'above':
      return o.devices >= n ? true : o.devices < n - h ? false : undefined;
    case 'below':
      return o.devices < n ? true : o.devices >= n + h ? false : undefined;
    case 'enters_top':
      return inTop ? true : outOfTop ? false : undefined;
    case 'leaves_top':
      return outOfTop ? true : inTop ? false : undefined;
  }
}

/**
 * One evaluation. `state` is the side last seen (null = no baseline yet: a new subscription). A rule
 * fires only on a crossing it observed, from false to true: the first observation sets the baseline
 * without firing, and a count moving inside the dead band changes nothing, so a count hovering at the
 * threshold fires once and cannot fire again until it has left the band on the other side.
 */
export function step(
  rule: AlertRule,
  state: boolean | null,
  o: Observation,
): { state: boolean | null; fired: boolean } {
  const side = conditionOf(rule, o);
  if (side === undefined) return { state, fired: false };
  return { state: side, fired: state === false && side };
}

/**
 * The latest two buckets a cell has counts for (what apps/alerts keeps per tracked cell). A place's
 * counts have the same shape and rules, with the place id in `cell`.
 */
export interface CellCounts {
  /** The cell, or the place id for a place's counts. */
  cell: string;
  bucketStartMs: number;
  devices: number;
  prevBucketStartMs: number | null;
  prevDevices: number | null;
}

/**
 * Folds one `aggregated` occupancy value into a cell's counts: a newer bucket shifts the current one to
 * `prev`; a revision of the current or previous bucket replaces it; anything older is history that
 * no longer changes what an alert sees.
 */
export function applyCount(
  c: CellCounts | undefined,
  cell: string,
  bucketStartMs: number,
  devices: number,
): CellCounts {
  if (!c) return { cell, bucketStartMs, devices, prevBucketStartMs: null, prevDevices: null };
  if (bucketStartMs > c.bucketStartMs)
    return { cell, bucketStartMs, devices, prevBucketStartMs: c.bucketStartMs, prevDevices: c.devices };
  if (bucketStartMs === c.bucketStartMs) return { ...c, devices };
  if (bucketStartMs === c.prevBucketStartMs) return { ...c, prevDevices: devices };
  if (c.prevBucketStartMs === null || bucketStartMs > c.prevBucketStartMs)
    return { ...c, prevBucketStartMs: bucketStartMs, prevDevices: devices };
  return c;
}

/**
 * A cell's count "now" in its region, whose newest bucket is `latestMs`: the larger of its counts in
 * that bucket and the one before. The current bucket fills up as late pings arrive (phones upload in
 * batches), so taking the last bucket alone would drop every cell at each bucket boundary and fire
 * `below` alerts that are not real. A cell with nothing in either bucket counts 0.
 */
export function currentCount(c: CellCounts, latestMs: number, bucketMs: number): number {
  const since = latestMs - bucketMs;
  let n = 0;
  if (c.bucketStartMs >= since) n = Math.max(n, c.devices);
  if (c.prevBucketStartMs !== null && c.prevBucketStartMs >= since) n = Math.max(n, c.prevDevices ?? 0);
  return n;
}

/**
 * Ranks of a region's cells (or of its places, by place id): only cells with at least `kAnonymity` devices are ranked (a smaller count
 * is published as nothing, so it cannot hold a rank), most devices first, ties by cell id in plain
 * string order (the API's top-K order).
 */
export function rankCells(counts: ReadonlyMap<string, number>, kAnonymity: number): Map<string, number> {
  const ranked = [...counts]
    .filter(([, n]) => n >= kAnonymity)
    .sort(([ca, a], [cb, b]) => b - a || (ca < cb ? -1 : ca > cb ? 1 : 0));
  return new Map(ranked.map(([cell], i) => [cell, i + 1]));
}
