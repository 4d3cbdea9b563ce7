import { javaPartition, kafkaClientOptions } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { type Consumer, type Message, type MessageToProduce, Producer } from '@platformatic/kafka';
import { LRUCache } from 'lru-cache';
import pRetry from 'p-retry';
import {
  encodeLiveOccupancy,
  encodeLivePlaceOccupancy,
  encodeOccupancy,
  encodePlaceOccupancy,
  encodeVisit,
  liveOccupancyKey,
  livePlaceOccupancyKey,
  occupancyKey,
  placeOccupancyKey,
  visitKey,
} from './codec.ts';
import type { ProcessorConfig } from './config.ts';
import { ProcessorError } from './errors.ts';
import type { Assignment } from './group-member.ts';
import type { ProcessorMetrics } from './metrics.ts';
import type { CommitPoint } from './options.ts';
import { OutputWindow } from './output-window.ts';
import type { PartitionTask, PendingTimestamps } from './partition-task.ts';

/** Max messages per produce request inside a transaction (keeps batches below the broker's 1 MB). */
const SEND_CHUNK = 4_000;

/** What one {@link TransactionalEmitter.emit} did. */
export type EmitOutcome = 'committed' | 'aborted' | 'nothing';

/**
 * Kafka Streams' RecordCollector + the EOS-v2 commit, for one processor: every tick, ONE transaction
 * carries the outputs of all live partition tasks and their input offsets (`transactionalId =
 * footfall-processor-<INSTANCE_ID>`), so outputs and offsets become visible together or not at all.
 * Offsets are committed with the generation and member id of the assignment the loop applied (KIP-447
 * fencing of zombies). On an abort each task keeps its outputs for the next transaction.
 */
export class TransactionalEmitter {
  readonly #config: ProcessorConfig;
  readonly #logger: Logger;
  readonly #metrics: ProcessorMetrics;
  readonly #consumer: () => Consumer;
  readonly #beforeCommit: ((point: CommitPoint) => void | Promise<void>) | undefined;
  /** "Now" of the live edge (injectable: tests and replays choose it). */
  readonly #clock: () => number;
  #producer: Producer;
  #transactions = 0;
  /** Output partition of each region (javaPartition over the output partition count). */
  /** `partitions:region` → output partition; regions are few, the bound only guards memory. */
  readonly #regionPartitions = new LRUCache<string, number>({ max: 100_000 });
  /** Partition count of the output topic (set at start). */
  outputPartitions = 0;
  /** This generation's share of event time (OUTPUT_FROM_MS / OUTPUT_UNTIL_MS). */
  readonly window: OutputWindow;

  constructor(
    config: ProcessorConfig,
    logger: Logger,
    metrics: ProcessorMetrics,
    consumer: () => Consumer,
    beforeCommit?: (point: CommitPoint) => void | Promise<void>,
    clock: () => number = Date.now,
  ) {
    this.#clock = clock;
    this.#config = config;
    this.#logger = logger;
    this.#metrics = metrics;
    this.#consumer = consumer;
    this.#beforeCommit = beforeCommit;
    this.window = new OutputWindow(config.outputFromMs, config.outputUntilMs);
    this.#producer = this.#createProducer();
  }

  get transactionalId(): string {
    return `footfall-processor-${this.#config.instanceId}`;
  }

  #createProducer(): Producer {
    const c = this.#config;
    return new Producer({
      ...kafkaClientOptions(c, this.transactionalId),
      // The client sends its request timeout as the transaction timeout (InitProducerId), so this is
      // both (docs/processor.md, "@platformatic/kafka findings").
      timeout: c.transactionTimeoutMs,
      transactionalId: this.transactionalId,
      // @platformatic/kafka 2.12 sends InitProducerId with producerId 0 / epoch 0 when none is given,
      // which the broker reads as "I am producer 0": a restarted processor whose transactional id
      // belongs to another producer id is then PRODUCER_FENCED forever. -1/-1 is the protocol's "new
      // producer" (KIP-360), which fences the previous incarnation instead. Regression: e2e restart test.
      producerId: -1n,
      producerEpoch: -1,
      idempotent: true,
      acks: -1,
      compression: 'lz4',
      retries: 3,
      retryDelay: 250,
    });
  }

  /**
   * Drains every live task and commits its outputs (aborted ones first) and input offset in one
   * transaction; `pending` are the append timestamps of the live records it covers (emit latency).
   * `liveRecords` is reported to the beforeCommit seam.
   */
  async emit(
    tasks: Iterable<PartitionTask>,
    applied: Assignment,
    pending: PendingTimestamps,
    liveRecords: number,
  ): Promise<EmitOutcome> {
    const messages: MessageToProduce[] = [];
    /** Partition → offset to commit (next offset to read). */
    const offsets = new Map<PartitionTask, bigint>();
    /** Each task's outputs in this transaction: kept for a re-send if it aborts. */
    const sent = new Map<PartitionTask, MessageToProduce[]>();
    const topic = this.#config.topicAggregated;
    const n = this.outputPartitions;
    const bucketMs = this.#config.bucketMs;
    let occ = 0;
    let visits = 0;
    let tombstones = 0;
    let live = 0;
    let placeCount = 0;
    for (const s of tasks) {
      if (!s.live) continue;
      const u = this.window.filter(s.aggregator.drainUpdates());
      const first = messages.length;
      // Work of an aborted transaction first: the state already counts it as emitted.
      for (const m of s.takeUnsent()) messages.push(m);
      // Provisional live-edge values (separate `live:` keys, never the final `occ:` counts).
      const nowMs = this.#clock();
      const liveUpdates = s.liveEdgeUpdates(nowMs);
      for (const l of liveUpdates.cells) {
        messages.push({
          topic,
          partition: this.#outputPartition(l.region, n),
          key: Buffer.from(liveOccupancyKey(l)),
          value: encodeLiveOccupancy(l, bucketMs, nowMs),
        });
        live++;
      }
      for (const l of liveUpdates.places) {
        messages.push({
          topic,
          partition: this.#outputPartition(l.region, n),
          key: Buffer.from(livePlaceOccupancyKey(l)),
          value: encodeLivePlaceOccupancy(l, bucketMs, nowMs),
        });
        live++;
      }
      // A warm's outputs inside the window (docs/operations.md), sent with an offset of the partition
      // (fenced by our generation): kept by the task until it has one.
      const warm = s.lastConsumed >= 0n || s.committed >= 0n ? s.takeWarmOutputs() : [];
      if (s.lastConsumed >= 0n) offsets.set(s, s.lastConsumed + 1n);
      else if (
        messages.length > first ||
        (u.occupancy.length + u.visits.length + (u.places?.length ?? 0) + warm.length > 0 &&
          s.committed >= 0n)
      ) {
        // Updates without new input (an idle advance closed visits): re-commit the unchanged offset so
        // that the transaction is still fenced by our generation (a zombie's idle closes abort).
        offsets.set(s, s.committed);
      }
      // The warm's first: they are older than the drained ones.
      for (const w of [...warm, u]) {
        for (const o of w.occupancy) {
          messages.push({
            topic,
            partition: this.#outputPartition(o.region, n),
            key: Buffer.from(occupancyKey(o)),
            value: encodeOccupancy(o, bucketMs),
          });
        }
        occ += w.occupancy.length;
        for (const v of w.visits) {
          if (v.retracted) tombstones++;
          else visits++;
          messages.push({
            topic,
            partition: this.#outputPartition(v.region, n),
            key: Buffer.from(visitKey(v)),
            // Tombstone: the client writes a null value when the (no-op) serializer returns null.
            value: v.retracted ? (null as unknown as Buffer) : encodeVisit(v),
          });
        }
        placeCount += w.places?.length ?? 0;
        for (const p of w.places ?? []) {
          messages.push({
            topic,
            partition: this.#outputPartition(p.region, n),
            key: Buffer.from(placeOccupancyKey(p)),
            value: encodePlaceOccupancy(p, bucketMs),
          });
        }
      }
      if (messages.length > first) sent.set(s, messages.slice(first));
    }
    if (offsets.size === 0) return 'nothing';
    const { timestamps, counts: timestampCounts } = pending;
    const transaction = ++this.#transactions;
    try {
      let tx: Awaited<ReturnType<Producer['beginTransaction']>>;
      try {
        tx = await this.#producer.beginTransaction();
      } catch (error) {
        // InitProducerId can fail transiently (e.g. CONCURRENT_TRANSACTIONS while the broker still
        // completes the previous incarnation's transaction after a restart). The client then keeps a
        // half-begun transaction ("There is already an active transaction"), so start from a fresh
        // producer; the next tick retries after a short pause.
        await this.#resetProducer();
        await new Promise((r) => setTimeout(r, 250));
        throw error;
      }
      try {
        for (let i = 0; i < messages.length; i += SEND_CHUNK) {
          await tx.send({ messages: messages.slice(i, i + SEND_CHUNK) });
        }
        await tx.addConsumer(this.#consumer());
        // Sequential on purpose: the client deduplicates concurrent `addOffset` calls into one request.
        const coordinatorId = this.#consumer().coordinatorId;
        for (const [s, next] of offsets) {
          await tx.addOffset({
            topic: this.#config.topicIngestion,
            partition: s.partition,
            // The client commits `offset + 1`.
            offset: next - 1n,
            // The generation we applied, not the client's current one: a generation that is newer than
            // our assignment must fail the commit (ILLEGAL_GENERATION) instead of committing revoked work.
            metadata: {
              consumer: {
                groupId: this.#config.groupId,
                generationId: applied.generationId,
                memberId: applied.memberId,
                coordinatorId,
              },
            },
          } as unknown as Message);
        }
        if (this.#beforeCommit !== undefined) {
          await this.#beforeCommit({
            transaction,
            liveRecords,
            outputs: messages.length,
            offsets: new Map([...offsets].map(([s, next]) => [s.partition, next])),
          });
        }
        await tx.commit();
      } catch (error) {
        await tx.abort().catch((abortError: unknown) => {
          this.#logger.warn({ err: abortError }, 'abort failed; recreating the producer');
          return this.#resetProducer();
        });
        throw error;
      }
    } catch (error) {
      this.#metrics.transactions.inc({ outcome: 'aborted' });
      // Nothing of it is visible (read_committed) and no offset moved. The states already count its
      // outputs as emitted, so each task keeps them for the next transaction, which also commits its
      // offsets (lastConsumed is unchanged). Whether the partitions are still ours (a rebalance fails
      // transactions with ILLEGAL_GENERATION) is checked first: only partitions someone else committed
      // are rebuilt. Emit latency of the kept records is reported when they commit.
      for (const [task, outputs] of sent) task.keepUnsent(outputs);
      this.#logger.warn(
        { err: new ProcessorError('PROCESSOR_TRANSACTION_FAILED', 'transaction failed', { cause: error }) },
        'transaction aborted; re-checking ownership, then re-sending its work',
      );
      return 'aborted';
    }
    const now = Date.now();
    for (const [s, next] of offsets) {
      s.committed = next;
      s.lastConsumed = -1n;
    }
    this.#metrics.transactions.inc({ outcome: 'committed' });
    if (occ) this.#metrics.updates.inc({ kind: 'occupancy' }, occ);
    if (visits) this.#metrics.updates.inc({ kind: 'visit' }, visits);
    if (tombstones) this.#metrics.updates.inc({ kind: 'tombstone' }, tombstones);
    if (live) this.#metrics.updates.inc({ kind: 'live' }, live);
    if (placeCount) this.#metrics.updates.inc({ kind: 'place' }, placeCount);
    const h = this.#metrics.emitLatency;
    for (let i = 0; i < timestamps.length; i++) {
      const seconds = (now - (timestamps[i] as number)) / 1000;
      for (let c = timestampCounts[i] as number; c > 0; c--) h.observe(seconds);
    }
    return 'committed';
  }

  #outputPartition(region: string, partitions: number): number {
    const cache = this.#regionPartitions;
    const key = `${partitions}:${region}`;
    let p = cache.get(key);
    if (p === undefined) {
      p = javaPartition(region, partitions);
      cache.set(key, p);
    }
    return p;
  }

  /**
   * Fences a predecessor with this transactional id (the same INSTANCE_ID after a kill -9) before the
   * restore reads its committed offsets, as Kafka Streams' `initTransactions()` does at start:
   * InitProducerId makes the broker abort the predecessor's open transaction now, so the offsets its
   * pending commit held unstable are readable at once, not after its transaction timeout plus the
   * broker's abort check. Retries while the broker completes that abort (CONCURRENT_TRANSACTIONS); the
   * transaction begun for it is dropped client-side only (nothing was added to it), and the next
   * `emit` reuses the producer id and epoch this obtained. Returns the ms it took.
   */
  async fence(signal: AbortSignal): Promise<number> {
    const started = performance.now();
    await pRetry(
      async () => {
        try {
          const tx = await this.#producer.beginTransaction();
          await tx.cancel();
        } catch (error) {
          // A failed begin leaves the client with a half-begun transaction: start from a fresh producer.
          await this.#resetProducer();
          throw error;
        }
      },
      { retries: 40, minTimeout: 100, maxTimeout: 1_000, factor: 2, signal },
    ).catch((error: unknown) => {
      if (signal.aborted) throw error;
      throw new ProcessorError('PROCESSOR_RESTORE_FAILED', 'could not fence the previous incarnation', {
        cause: error,
      });
    });
    return performance.now() - started;
  }

  async #resetProducer(): Promise<void> {
    const old = this.#producer;
    this.#producer = this.#createProducer();
    await old.close(true).catch(() => {});
  }

  async close(): Promise<void> {
    await this.#producer.close(true);
  }
}
