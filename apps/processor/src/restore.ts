import { offsetForTimestamp, recordTimestamp } from '@footfall/kafka';
import { type Consumer, ListOffsetTimestamps } from '@platformatic/kafka';

/** Where to (re)build the state of one input partition. */
export interface RestorePlan {
  partition: number;
  /** Committed offset C of the group, or -1n when the group never committed this partition. */
  committed: bigint;
  /** First offset to read; records in [start, committed) are replayed silently. */
  start: bigint;
  /**
   * The rebuild starts at the log's beginning (nothing older to replay): the state then lacks the
   * history before the topic existed, which a warm from the previous generation's topic supplies.
   */
  fromLogStart: boolean;
}

/**
 * Plans the rebuild of one partition: with a committed offset C, replay from the first record whose
 * timestamp is >= timestamp(C − 1) − horizon; without one, start at the earliest retained record (nothing
 * to replay).
 */
export async function planRestore(
  consumer: Consumer,
  topic: string,
  partition: number,
  committed: bigint,
  horizonMs: number,
): Promise<RestorePlan> {
  const earliest = await offsetForTimestamp(consumer, topic, partition, ListOffsetTimestamps.EARLIEST);
  const plan = (start: bigint): RestorePlan => ({
    partition,
    committed,
    start,
    fromLogStart: start <= (earliest < 0n ? 0n : earliest),
  });
  if (committed < 0n) return plan(earliest < 0n ? 0n : earliest);
  if (committed <= earliest) return plan(committed);
  const ts = await recordTimestamp(consumer, topic, partition, committed - 1n);
  if (ts === undefined) return plan(committed);
  const start = await offsetForTimestamp(consumer, topic, partition, BigInt(ts - horizonMs));
  if (start < 0n || start > committed) return plan(committed);
  if (start < earliest) return plan(earliest);
  return plan(start);
}
