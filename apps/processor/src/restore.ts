import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, type Consumer, ListOffsetTimestamps, offsetFetchV9 } from '@platformatic/kafka';
import { ProcessorError } from './errors.ts';

/** Where to (re)build the state of one input partition. */
export interface RestorePlan {
  partition: number;
  /** Committed offset C of the group, or -1n when the group never committed this partition. */
  committed: bigint;
  /** First offset to read; records in [start, committed) are replayed silently. */
  start: bigint;
}

/**
 * Committed offsets of `groupId` with `requireStable = true` (KIP-447). The client's own
 * `listCommittedOffsets` sends `requireStable = false`, so right after another instance committed a
 * transaction (markers not yet written) it returns the *previous* offset and the new owner would
 * process part of the input twice. Here the broker answers UNSTABLE_OFFSET_COMMIT until the markers are
 * written, and we retry.
 */
export async function stableCommittedOffsets(
  consumer: Consumer,
  topic: string,
  partitions: readonly number[],
  signal?: AbortSignal,
): Promise<Map<number, bigint>> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 50; attempt++) {
    signal?.throwIfAborted();
    const coordinatorId = await consumer.findGroupCoordinator();
    const metadata = await consumer.metadata({ topics: [topic] });
    const broker = metadata.brokers.get(coordinatorId);
    if (broker === undefined)
      throw new ProcessorError('PROCESSOR_RESTORE_FAILED', `unknown coordinator ${coordinatorId}`);
    const connection = new Connection('footfall-processor-offsets');
    try {
      await connection.connect(broker.host, broker.port);
      const response = await offsetFetchV9.api.async(
        connection,
        [
          {
            groupId: consumer.groupId,
            memberId: null,
            memberEpoch: -1,
            topics: [{ name: topic, partitionIndexes: [...partitions] }],
          },
        ],
        true,
      );
      const out = new Map<number, bigint>();
      for (const group of response.groups) {
        for (const t of group.topics) {
          for (const p of t.partitions) out.set(p.partitionIndex, p.committedOffset);
        }
      }
      return out;
    } catch (error) {
      // UNSTABLE_OFFSET_COMMIT (88) and coordinator moves are transient: retry.
      lastError = error;
      await sleep(Math.min(100 * (attempt + 1), 1_000), undefined, { signal });
    } finally {
      await connection.close().catch(() => {});
    }
  }
  throw new ProcessorError(
    'PROCESSOR_RESTORE_FAILED',
    `could not read stable committed offsets of ${topic}`,
    {
      cause: lastError,
    },
  );
}

/** The Kafka timestamp of record `offset` (or of the first record after it), via a one-partition fetch. */
export async function recordTimestamp(
  consumer: Consumer,
  topic: string,
  partition: number,
  offset: bigint,
): Promise<number | undefined> {
  const metadata = await consumer.metadata({ topics: [topic] });
  const t = metadata.topics.get(topic);
  const leader = t?.partitions[partition]?.leader;
  if (t === undefined || leader === undefined) return undefined;
  const response = await consumer.fetch({
    node: leader,
    topics: [
      {
        topicId: t.id,
        partitions: [
          {
            partition,
            fetchOffset: offset,
            partitionMaxBytes: 64 * 1024,
            currentLeaderEpoch: -1,
            lastFetchedEpoch: -1,
          },
        ],
      },
    ],
    maxWaitTime: 10,
    minBytes: 1,
    maxBytes: 1024 * 1024,
  });
  for (const topicResponse of response.responses) {
    for (const p of topicResponse.partitions) {
      for (const batch of p.records ?? []) {
        for (const record of batch.records) {
          if (batch.firstOffset + BigInt(record.offsetDelta) >= offset) {
            return Number(batch.firstTimestamp + record.timestampDelta);
          }
        }
      }
    }
  }
  return undefined;
}

/** Offset of partition's first record with timestamp >= `timestampMs` (-1n if none). */
export async function offsetForTimestamp(
  consumer: Consumer,
  topic: string,
  partition: number,
  timestampMs: bigint,
): Promise<bigint> {
  const offsets = await consumer.listOffsets({
    topics: [topic],
    partitions: { [topic]: [partition] },
    timestamp: timestampMs,
  });
  return offsets.get(topic)?.[partition] ?? -1n;
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
