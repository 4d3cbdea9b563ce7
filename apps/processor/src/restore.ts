import { offsetForTimestamp, recordTimestamp } from '@footfall/kafka';
import { type Consumer, ListOffsetTimestamps } from '@platformatic/kafka';

/** Where to (re)build the state of one input partition. */
export interface RestorePlan {
  partition: number;
  /** Committed offset C of the group, or -1n when the group never committed this partition. */
  committed: bigint;
  /** First offset to read; records in [start, committed) are replayed silently. */
  start: bigint;
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
  if (committed < 0n) return { partition, committed, start: earliest < 0n ? 0n : earliest };
  if (committed <= earliest) return { partition, committed, start: committed };
  const ts = await recordTimestamp(consumer, topic, partition, committed - 1n);
  if (ts === undefined) return { partition, committed, start: committed };
  const start = await offsetForTimestamp(consumer, topic, partition, BigInt(ts - horizonMs));
  if (start < 0n || start > committed) return { partition, committed, start: committed };
  if (start < earliest) return { partition, committed, start: earliest };
  return { partition, committed, start };
}
