// A processor generation's share of event time, for changing the partition count of `ingestion`
// (docs/operations.md): the old generation (old topic) emits what starts before the cut-over C, the new
// one (new topic, dual-written by ingest) what starts at or after it. Every occupancy bucket and every
// visit is then computed by exactly one generation, from the whole of its input, and the two never
// write the same key of `aggregated`.
import type { AggregatorUpdates, PartitionAggregator } from '@footfall/domain';

export class OutputWindow {
  /** Inclusive lower bound, ms (-Infinity = none). */
  readonly fromMs: number;
  /** Exclusive upper bound, ms (+Infinity = none). */
  readonly untilMs: number;

  /** `0` means no bound (the configuration's convention). */
  constructor(fromMs: number, untilMs: number) {
    this.fromMs = fromMs === 0 ? Number.NEGATIVE_INFINITY : fromMs;
    this.untilMs = untilMs === 0 ? Number.POSITIVE_INFINITY : untilMs;
  }

  get bounded(): boolean {
    return this.fromMs !== Number.NEGATIVE_INFINITY || this.untilMs !== Number.POSITIVE_INFINITY;
  }

  /** Whether this generation emits the bucket or visit starting at `startMs`. */
  owns(startMs: number): boolean {
    return startMs >= this.fromMs && startMs < this.untilMs;
  }

  /** The updates this generation emits (all of them when unbounded). */
  filter(u: AggregatorUpdates): AggregatorUpdates {
    if (!this.bounded) return u;
    const out: AggregatorUpdates = {
      occupancy: u.occupancy.filter((o) => this.owns(o.bucketStartMs)),
      visits: u.visits.filter((v) => this.owns(v.startMs)),
    };
    // Named places' counts are per bucket like occupancy: the same owner (dropping them would lose
    // every place count of the dual-run).
    if (u.places !== undefined) out.places = u.places.filter((p) => this.owns(p.bucketStartMs));
    return out;
  }

  /**
   * True when nothing this generation owns can change any more in `aggregator`'s partition: every
   * bucket and stay starting before `untilMs` is final (and was drained). Never true without an upper
   * bound. A partition that never saw a ping holds nothing and counts as drained (its regions had no
   * traffic during the whole dual-run: a ping for them from before the cut-over arriving after the
   * switch is the one case this misses, docs/operations.md).
   */
  drained(aggregator: PartitionAggregator): boolean {
    if (this.untilMs === Number.POSITIVE_INFINITY) return false;
    const from = aggregator.mutableFromMs();
    return from === Number.NEGATIVE_INFINITY || from >= this.untilMs;
  }
}
