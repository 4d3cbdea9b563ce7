import {
  type Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  offsetFetchV9,
} from '@platformatic/kafka';
import pRetry from 'p-retry';

/** A Kafka protocol operation of this package failed after its retries. */
export class KafkaOffsetsError extends Error {
  override name = 'KafkaOffsetsError';
}

/** Kafka error codes the processing code reacts to (the protocol's `ErrorCode` numbers). */
export const KafkaErrorCodes = Object.freeze({
  NONE: 0,
  /** The fetch position is outside the log (retention removed it): continue from the log start. */
  OFFSET_OUT_OF_RANGE: 1,
  /** A transactional offset commit of the group is not yet complete (KIP-447): retry. */
  UNSTABLE_OFFSET_COMMIT: 88,
});

/**
 * Committed offsets of the consumer's group for `partitions` of `topic`, read with
 * `requireStable = true` (OffsetFetch v9, KIP-447); -1n for a partition never committed.
 *
 * The client's `listCommittedOffsets` sends `requireStable = false`: right after another member
 * committed a transaction whose markers are not yet written it returns the *previous* offset, and a
 * new owner would process part of the input twice. With `requireStable` the broker answers
 * UNSTABLE_OFFSET_COMMIT until the markers are written; this retries (p-retry, up to `attempts`,
 * backing off from 100 ms doubling to at most 1 s; coordinator moves are transient too). Uses the
 * consumer's own connection pool (SASL/TLS included).
 */
export async function stableCommittedOffsets(
  consumer: Consumer,
  topic: string,
  partitions: readonly number[],
  options: { signal?: AbortSignal; attempts?: number } = {},
): Promise<Map<number, bigint>> {
  const attempts = options.attempts ?? 50;
  const read = async () => {
    const coordinatorId = await consumer.findGroupCoordinator();
    const connection = (await consumer.connectToBrokers([coordinatorId])).get(coordinatorId);
    if (connection === undefined)
      throw new KafkaOffsetsError(`no connection to coordinator ${coordinatorId}`);
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
  };
  try {
    return await pRetry(read, {
      retries: attempts - 1,
      minTimeout: 100,
      maxTimeout: 1_000,
      factor: 2,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new KafkaOffsetsError(`could not read stable committed offsets of ${topic}`, { cause: error });
  }
}

/** Offset of the partition's first record with timestamp >= `timestampMs` (-1n if none). */
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
 * The last stable offset (LSO) of `topic`'s partition: the end of what a `read_committed` reader can
 * read now (before the first record of a still-open transaction); 0n for an empty partition.
 */
export async function lastStableOffset(
  consumer: Consumer,
  topic: string,
  partition: number,
): Promise<bigint> {
  const offsets = await consumer.listOffsets({
    topics: [topic],
    partitions: { [topic]: [partition] },
    timestamp: ListOffsetTimestamps.LATEST,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  const end = offsets.get(topic)?.[partition] ?? 0n;
  return end < 0n ? 0n : end;
}

/**
 * The Kafka timestamp (ms) of record `offset`, or of the first data record after it (control
 * records are skipped); undefined if there is none. One small fetch from the partition leader.
 */
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
        if (isControlBatch(batch)) continue;
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

/**
 * True for a control batch (transaction commit/abort markers): bit 5 of the record batch attributes
 * (Kafka's `RecordBatch.CONTROL_FLAG_MASK`). Such a batch carries no data but occupies offsets, so a
 * reader's position must move past it.
 */
export function isControlBatch(batch: { attributes: number }): boolean {
  return (batch.attributes & 0x20) !== 0;
}
