// The warm of a new topic generation's partition (docs/operations.md, "Changing the partition count of
// ingestion"; docs/processor.md, Restore step 4): before its own topic, the partition replays the
// previous generation's records of its regions, so that its state has the history from before its
// topic existed (with JITTER_RING >= 1 a stay's anchor depends on the stays before it).
import { type AggregatorUpdates, idleWatermarkMs } from '@footfall/domain';
import {
  isControlBatch,
  javaPartition,
  KafkaErrorCodes,
  lastStableOffset,
  offsetForTimestamp,
} from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { type Consumer, ListOffsetTimestamps } from '@platformatic/kafka';
import { decodePing } from './codec.ts';
import type { ProcessorConfig } from './config.ts';
import { warmTopic } from './config.ts';
import { ProcessorError } from './errors.ts';
import type {
  ConsumeCounts,
  FetchedPartition,
  PartitionTask,
  PartitionTaskOptions,
} from './partition-task.ts';

/**
 * What one partition `p` replays: `[start, end)` of the previous generation's `topic`, partition
 * `p mod N1`, keeping the records whose region key maps to `p` over `partitions` (N2, its own topic's
 * count). With N1 dividing N2, every region of `p` is in that one old partition, in its original order.
 */
export interface WarmPlan {
  readonly topic: string;
  readonly partition: number;
  readonly partitions: number;
  readonly start: bigint;
  /** Exclusive: the old partition's last stable offset when the task was created. */
  readonly end: bigint;
}

/** The warm topic and its partition count, checked against the input's at start. */
export interface WarmSource {
  readonly topic: string;
  readonly partitions: number;
  readonly inputPartitions: number;
}

/** One partition's warm in progress: its position in the old partition, and what it replayed. */
export class Warm {
  readonly plan: WarmPlan;
  /** Next offset to fetch in the old partition. */
  position: bigint;
  /** Old records of this partition's regions replayed so far. */
  records = 0;
  /** Where the outputs inside the output window go (the task's, sent once it is live). */
  readonly #outputs: AggregatorUpdates[];

  constructor(plan: WarmPlan, outputs: AggregatorUpdates[]) {
    this.plan = plan;
    this.position = plan.start;
    this.#outputs = outputs;
  }

  /** Retention removed the position: continue from the log start. */
  skipTo(p: FetchedPartition): void {
    if (p.errorCode === KafkaErrorCodes.OFFSET_OUT_OF_RANGE && p.logStartOffset > this.position) {
      this.position = p.logStartOffset;
    }
  }

  /**
   * Replays one fetched partition of the old topic into `task`'s aggregator like a restore (idleness by
   * the kept records' own timestamps, as if they had been this partition's log; erased devices and bad
   * records skipped). Returns true when the warm reached its end.
   */
  consume(
    p: FetchedPartition,
    counts: ConsumeCounts,
    task: PartitionTask,
    options: PartitionTaskOptions,
  ): boolean {
    const { partitions, end } = this.plan;
    const idleMs = options.idleTimeoutMs;
    const agg = task.aggregator;
    for (const batch of p.records ?? []) {
      const firstOffset = batch.firstOffset;
      const lastOffset = firstOffset + BigInt(batch.lastOffsetDelta);
      if (lastOffset < this.position) continue;
      if (this.position >= end) break;
      if (!isControlBatch(batch)) {
        const firstTimestamp = Number(batch.firstTimestamp);
        for (const record of batch.records) {
          const offset = firstOffset + BigInt(record.offsetDelta);
          if (offset < this.position || offset >= end) continue;
          if (record.key === null || javaPartition(record.key, partitions) !== task.partition) continue;
          const ts = firstTimestamp + Number(record.timestampDelta);
          if (ts - task.lastRecordMs >= idleMs && idleMs > 0) {
            agg.advanceWatermark(
              idleWatermarkMs(agg.maxEventMs, task.lastRecordMs, ts, idleMs, options.allowedLatenessMs),
            );
          }
          if (ts > task.lastRecordMs) task.lastRecordMs = ts;
          if (record.value === null) continue;
          let ping: ReturnType<typeof decodePing>;
          try {
            ping = decodePing(record.value);
          } catch {
            continue;
          }
          if (options.isErased?.(ping.deviceId)) continue;
          const result = agg.add(ping);
          if (result === 'accepted' && ping.receivedAtMs) {
            task.liveEdge?.observePing(ping.cell, ping.eventTimeMs, ping.receivedAtMs);
          }
          this.records++;
          counts.restored++;
          counts.warmed++;
        }
      }
      if (this.position <= lastOffset) counts.advanced = true;
      this.position = lastOffset + 1n < end ? lastOffset + 1n : end;
    }
    // Unlike a restore's, the warm's outputs were never emitted by this generation: the ones it owns
    // are kept (normally none: generation 2 is started before the cut-over; after it, a rebuild that
    // reaches the new topic's start warms past its committed offset and must not lose them).
    const u = agg.drainUpdates();
    const owned = options.outputWindow === undefined ? u : options.outputWindow.filter(u);
    if (owned.occupancy.length + owned.visits.length + (owned.places?.length ?? 0) > 0) {
      this.#outputs.push(owned);
    }
    return this.position >= end;
  }
}

/**
 * TOPIC_INGESTION_WARM, checked at start: the previous generation's topic must have a partition count
 * dividing the input's (each input partition's regions then come from one of its partitions, in their
 * original order). A missing topic (deleted after the switch) turns the warm off.
 */
export async function warmSource(
  consumer: Consumer,
  config: ProcessorConfig,
  inputPartitions: number,
  logger: Logger,
): Promise<WarmSource | undefined> {
  const topic = warmTopic(config);
  if (topic === undefined) return undefined;
  if (topic === config.topicIngestion) {
    throw new ProcessorError(
      'PROCESSOR_TOPIC_MISMATCH',
      `TOPIC_INGESTION_WARM is TOPIC_INGESTION (${topic})`,
    );
  }
  const metadata = await consumer.metadata({ topics: [topic] }).catch(() => undefined);
  const old = metadata?.topics.get(topic);
  if (old === undefined) {
    logger.warn({ warmTopic: topic }, 'TOPIC_INGESTION_WARM topic missing: no warm');
    return undefined;
  }
  if (inputPartitions % old.partitionsCount !== 0) {
    throw new ProcessorError(
      'PROCESSOR_TOPIC_MISMATCH',
      `TOPIC_INGESTION_WARM ${topic} has ${old.partitionsCount} partitions, which does not divide the ${inputPartitions} of ${config.topicIngestion}: a new partition's regions would come from several old partitions, out of order`,
    );
  }
  return { topic, partitions: old.partitionsCount, inputPartitions };
}

/**
 * The warm of input partition `partition`: the old partition `partition mod N1` from its earliest
 * retained record to its last stable offset now. Undefined when there is nothing to replay.
 */
export async function planWarm(
  consumer: Consumer,
  source: WarmSource,
  partition: number,
): Promise<WarmPlan | undefined> {
  const q = partition % source.partitions;
  const earliest = await offsetForTimestamp(consumer, source.topic, q, ListOffsetTimestamps.EARLIEST);
  const start = earliest < 0n ? 0n : earliest;
  const end = await lastStableOffset(consumer, source.topic, q);
  return end > start
    ? { topic: source.topic, partition: q, partitions: source.inputPartitions, start, end }
    : undefined;
}
