import {
  type AggregatorUpdates,
  idleWatermarkMs,
  type LiveEdge,
  type LiveOccupancyUpdate,
  type LivePlaceEdge,
  type LivePlaceOccupancyUpdate,
  type PartitionAggregator,
} from '@footfall/domain';
import { isControlBatch, KafkaErrorCodes } from '@footfall/kafka';
import type { Consumer, MessageToProduce } from '@platformatic/kafka';
import { decodePing } from './codec.ts';
import type { OutputWindow } from './output-window.ts';
import { Warm, type WarmPlan } from './warm.ts';

export type { WarmPlan } from './warm.ts';

const NO_LIVE_UPDATES = Object.freeze({ cells: [], places: [] }) as {
  cells: LiveOccupancyUpdate[];
  places: LivePlaceOccupancyUpdate[];
};

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;
/** One partition of a fetch response. */
export type FetchedPartition = FetchResponse['responses'][number]['partitions'][number];

/**
 * Life of one assigned input partition (Kafka Streams' StreamTask states, reduced to what a
 * replay-restored task needs): `restoring` replays [start, restoreEnd) silently, `live` processes and
 * emits, `revoked` is terminal (the partition went to another member; its state is dropped).
 */
export type TaskState =
  | { readonly kind: 'restoring'; readonly restoreEnd: bigint; readonly startedAtMs: number }
  | { readonly kind: 'live' }
  | { readonly kind: 'revoked' };

/** Per-response counters, summed over partitions by the caller and turned into metrics once. */
export class ConsumeCounts {
  accepted = 0;
  late = 0;
  duplicate = 0;
  inaccurate = 0;
  bad = 0;
  /** Live pings of erased devices, skipped. */
  erased = 0;
  restored = 0;
  /** Of `restored`: records of the previous generation's topic (warm). */
  warmed = 0;
  live = 0;
  idleAdvances = 0;
  /** Some partition's position moved forward. */
  advanced = false;
}

/**
 * Append timestamps (ms) of the live records whose updates the next transaction carries, run-length
 * encoded (records of one produce batch share a timestamp): `timestamps[i]` occurs `counts[i]` times.
 */
export interface PendingTimestamps {
  timestamps: number[];
  counts: number[];
}

export interface PartitionTaskOptions {
  readonly idleTimeoutMs: number;
  readonly allowedLatenessMs: number;
  /** The task went live (restore finished); `seconds` since it was created. */
  readonly onLive: (task: PartitionTask, seconds: number) => void;
  readonly onBadRecord: (task: PartitionTask, offset: bigint, error: unknown) => void;
  readonly onFetchError: (task: PartitionTask, errorCode: number) => void;
  /** The device was erased: its pings are skipped, live and on restore replay (docs/privacy.md). */
  readonly isErased?: (deviceId: string) => boolean;
  /** Creates the task's live edge (docs/insights.md, "Live edge"); absent = no provisional output. */
  readonly newLiveEdge?: () => LiveEdge;
  /** Creates the task's place live edge (docs/places.md, "Live edge") over its live edge. */
  readonly newLivePlaceEdge?: (edge: LiveEdge, aggregator: PartitionAggregator) => LivePlaceEdge | undefined;
  /** Live-edge publication period, ms. */
  readonly liveEdgeIntervalMs?: number;
  /** What this generation emits: the warm's outputs inside it are kept and emitted once live. */
  readonly outputWindow?: OutputWindow;
  /** The warm finished: `records` of the old topic were this task's, in `seconds`. */
  readonly onWarmed?: (task: PartitionTask, records: number, seconds: number) => void;
}

/**
 * One assigned input partition: its aggregation state, its position, and its restore state machine.
 * Owned by the processing loop (no concurrency). Restore is a replay of the input before the committed
 * offset with outputs discarded (docs/processor.md, "Restore").
 */
export class PartitionTask {
  readonly partition: number;
  readonly aggregator: PartitionAggregator;
  /** Next offset to fetch. */
  position: bigint;
  /** Offset the group has committed for this partition, as far as this instance knows. */
  committed: bigint;
  /** Last live offset consumed since the last commit (-1n = nothing to commit). */
  lastConsumed = -1n;
  /** Largest Kafka record timestamp seen (ms; -Infinity: none): the idleness clock of the log. */
  lastRecordMs = Number.NEGATIVE_INFINITY;
  /** High watermark of the last fetch response (-1n: none yet). */
  highWatermark = -1n;
  readonly #options: PartitionTaskOptions;
  #state: TaskState;
  /** Outputs of an aborted transaction, to be sent again (the state already counts them as emitted). */
  #unsent: MessageToProduce[] = [];
  /** Presence carried to now, delay profile and nowcast: read-only on the aggregator. */
  readonly liveEdge: LiveEdge | undefined;
  /** The same for named places: distinct devices per place, carried to now. */
  readonly livePlaceEdge: LivePlaceEdge | undefined;
  #liveEdgeAtMs = Number.NEGATIVE_INFINITY;
  /** The warm still to do (undefined: none or done). */
  #warm: Warm | undefined;
  /** Outputs the warm produced inside the output window, emitted by the first live transaction. */
  readonly #warmOutputs: AggregatorUpdates[] = [];

  /**
   * @param start first offset to read
   * @param committed the group's committed offset C (-1n: none); records in [start, C) are replayed
   * @param warm the previous generation's records to replay first (silently) before `start`
   */
  constructor(
    partition: number,
    aggregator: PartitionAggregator,
    start: bigint,
    committed: bigint,
    options: PartitionTaskOptions,
    warm?: WarmPlan,
  ) {
    this.partition = partition;
    this.aggregator = aggregator;
    this.position = start;
    this.committed = committed;
    this.#options = options;
    this.liveEdge = options.newLiveEdge?.();
    this.livePlaceEdge =
      this.liveEdge === undefined ? undefined : options.newLivePlaceEdge?.(this.liveEdge, aggregator);
    const warming = warm !== undefined && warm.end > warm.start;
    if (warming) this.#warm = new Warm(warm, this.#warmOutputs);
    this.#state =
      committed > start || warming
        ? {
            kind: 'restoring',
            restoreEnd: committed > start ? committed : start,
            startedAtMs: performance.now(),
          }
        : { kind: 'live' };
  }

  /** The warm still to do (undefined: none or done), and where it stands. */
  get warm(): Pick<Warm, 'plan' | 'position'> | undefined {
    return this.#warm;
  }

  /** The warm's outputs inside the output window (and forgets them): the first live transaction's. */
  takeWarmOutputs(): AggregatorUpdates[] {
    return this.#warmOutputs.splice(0);
  }

  get state(): TaskState {
    return this.#state;
  }

  get restoring(): boolean {
    return this.#state.kind === 'restoring';
  }

  get live(): boolean {
    return this.#state.kind === 'live';
  }

  /** Terminal: the partition is no longer ours; uncommitted work is the next owner's to redo. */
  revoke(): void {
    this.#state = { kind: 'revoked' };
  }

  /** Keeps the outputs of an aborted transaction for the next one. */
  keepUnsent(outputs: readonly MessageToProduce[]): void {
    this.#unsent = [...outputs, ...this.#unsent];
  }

  /** The kept outputs of aborted transactions (and forgets them). */
  takeUnsent(): MessageToProduce[] {
    const out = this.#unsent;
    this.#unsent = [];
    return out;
  }

  /**
   * The live edge's changed provisional values at `nowMs`, at most once per `liveEdgeIntervalMs`
   * (none while restoring). They never touch the aggregator: final counts stay deterministic.
   */
  liveEdgeUpdates(nowMs: number): { cells: LiveOccupancyUpdate[]; places: LivePlaceOccupancyUpdate[] } {
    const edge = this.liveEdge;
    if (edge === undefined || !this.live) return NO_LIVE_UPDATES;
    if (nowMs - this.#liveEdgeAtMs < (this.#options.liveEdgeIntervalMs ?? 5_000)) return NO_LIVE_UPDATES;
    this.#liveEdgeAtMs = nowMs;
    // Cells first: their snapshot teaches the region's model the places' nowcast reuses.
    const cells = edge.snapshot(this.aggregator, nowMs);
    const places = this.livePlaceEdge?.snapshot(this.aggregator, nowMs) ?? [];
    return { cells, places };
  }

  /** Records not yet read, as of the last fetch. */
  get lag(): number {
    return this.highWatermark > this.position ? Number(this.highWatermark - this.position) : 0;
  }

  /**
   * Consumes one fetched partition from the current position: replays (restoring) or aggregates
   * (live) each record, skips control batches and bad records, advances the position, and goes live
   * at the restore end.
   */
  consume(p: FetchedPartition, counts: ConsumeCounts, pending: PendingTimestamps): void {
    // While warming the own topic is not read yet (the fetcher asks for the warm topic only).
    if (this.#state.kind === 'revoked' || this.#warm !== undefined) return;
    if (p.errorCode !== 0) {
      this.#options.onFetchError(this, p.errorCode);
      // Retention removed our position; continue from the log start.
      if (p.errorCode === KafkaErrorCodes.OFFSET_OUT_OF_RANGE && p.logStartOffset > this.position) {
        this.position = p.logStartOffset;
      }
      return;
    }
    const idleMs = this.#options.idleTimeoutMs;
    const latenessMs = this.#options.allowedLatenessMs;
    const agg = this.aggregator;
    const timestamps = pending.timestamps;
    const timestampCounts = pending.counts;
    for (const batch of p.records ?? []) {
      const firstOffset = batch.firstOffset;
      const lastOffset = firstOffset + BigInt(batch.lastOffsetDelta);
      if (lastOffset < this.position) continue;
      // Control batches (transaction markers) carry no data but advance the position.
      if (isControlBatch(batch)) {
        this.position = lastOffset + 1n;
        counts.advanced = true;
        continue;
      }
      // Offsets as deltas from firstOffset (plain numbers) inside the batch: the next delta to take and
      // the first live one (restoreEnd - firstOffset, clamped to the batch).
      let nextDelta = this.position > firstOffset ? Number(this.position - firstOffset) : 0;
      const state = this.#state;
      const restoreEnd = state.kind === 'restoring' ? state.restoreEnd : -1n;
      const restoreDelta =
        restoreEnd <= firstOffset
          ? 0
          : restoreEnd > lastOffset
            ? batch.lastOffsetDelta + 1
            : Number(restoreEnd - firstOffset);
      let lastLiveDelta = -1;
      const firstTimestamp = Number(batch.firstTimestamp);
      for (const record of batch.records) {
        const delta = record.offsetDelta;
        if (delta < nextDelta) continue;
        nextDelta = delta + 1;
        const restoring = delta < restoreDelta;
        if (!restoring && this.#state.kind === 'restoring') this.#goLive();
        const ts = firstTimestamp + Number(record.timestampDelta);
        // Idleness by the log's own clock: a gap in record timestamps advances the watermark the same
        // way live and on replay (the wall-clock advance while silent is advanceIdle()).
        if (ts - this.lastRecordMs >= idleMs && idleMs > 0) {
          const w = idleWatermarkMs(agg.maxEventMs, this.lastRecordMs, ts, idleMs, latenessMs);
          if (agg.advanceWatermark(w) && !restoring) counts.idleAdvances++;
        }
        if (ts > this.lastRecordMs) this.lastRecordMs = ts;
        let ping: ReturnType<typeof decodePing>;
        try {
          if (record.value === null) throw new TypeError('null value (tombstone) on the input topic');
          ping = decodePing(record.value);
        } catch (error) {
          if (!restoring) {
            counts.bad++;
            lastLiveDelta = delta;
            this.#options.onBadRecord(this, firstOffset + BigInt(delta), error);
          }
          continue;
        }
        if (this.#options.isErased?.(ping.deviceId)) {
          if (!restoring) {
            counts.erased++;
            lastLiveDelta = delta;
          }
          continue;
        }
        const result = agg.add(ping);
        // The delay profile is a function of the records, so replay rebuilds it too.
        if (result === 'accepted' && ping.receivedAtMs) {
          this.liveEdge?.observePing(ping.cell, ping.eventTimeMs, ping.receivedAtMs);
        }
        if (restoring) {
          counts.restored++;
          continue;
        }
        counts.live++;
        lastLiveDelta = delta;
        const last = timestamps.length - 1;
        if (last >= 0 && timestamps[last] === ts)
          timestampCounts[last] = (timestampCounts[last] as number) + 1;
        else {
          timestamps.push(ts);
          timestampCounts.push(1);
        }
        if (result === 'accepted') counts.accepted++;
        else if (result === 'late') counts.late++;
        else if (result === 'duplicate') counts.duplicate++;
        else counts.inaccurate++;
      }
      if (lastLiveDelta >= 0) this.lastConsumed = firstOffset + BigInt(lastLiveDelta);
      if (this.position <= lastOffset) counts.advanced = true;
      this.position = lastOffset + 1n;
    }
    const state = this.#state;
    if (state.kind === 'restoring') {
      // Discard what the replay produced so far (it was emitted before the restart).
      agg.drainUpdates();
      if (this.position >= state.restoreEnd) this.#goLive();
    }
    this.highWatermark = p.highWatermark;
  }

  /**
   * Wall-clock idleness (Flink's `withIdleness`): a live partition that is caught up and has seen no
   * record for the idle timeout advances its watermark as if event time kept pace with the clock.
   * Returns true if the watermark moved.
   */
  advanceIdle(nowMs: number): boolean {
    const o = this.#options;
    if (o.idleTimeoutMs <= 0 || !this.live || this.highWatermark < 0n || this.position < this.highWatermark) {
      return false;
    }
    const agg = this.aggregator;
    const w = idleWatermarkMs(agg.maxEventMs, this.lastRecordMs, nowMs, o.idleTimeoutMs, o.allowedLatenessMs);
    return agg.advanceWatermark(w);
  }

  /**
   * Consumes one fetched partition of the warm topic (warm.ts); at the warm's end the task reads its
   * own topic from `position` (live at once when it has nothing to replay there).
   */
  consumeWarm(p: FetchedPartition, counts: ConsumeCounts): void {
    const warm = this.#warm;
    if (warm === undefined || this.#state.kind === 'revoked') return;
    if (p.errorCode !== 0) {
      this.#options.onFetchError(this, p.errorCode);
      warm.skipTo(p);
      return;
    }
    if (!warm.consume(p, counts, this, this.#options)) return;
    this.#warm = undefined;
    const state = this.#state;
    const seconds = state.kind === 'restoring' ? (performance.now() - state.startedAtMs) / 1000 : 0;
    this.#options.onWarmed?.(this, warm.records, seconds);
    if (state.kind === 'restoring' && this.position >= state.restoreEnd) this.#goLive();
  }

  /** The one transition restoring → live: replay output is discarded (it was committed before). */
  #goLive(): void {
    const state = this.#state;
    if (state.kind !== 'restoring') return;
    this.aggregator.drainUpdates();
    this.#state = { kind: 'live' };
    this.#options.onLive(this, (performance.now() - state.startedAtMs) / 1000);
  }
}
