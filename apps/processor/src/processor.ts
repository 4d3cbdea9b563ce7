import { setTimeout as sleep } from 'node:timers/promises';
import { javaPartition, PartitionAggregator } from '@footfall/domain';
import { ErasureTable } from '@footfall/erasure';
import { kafkaClientOptions } from '@footfall/kafka';
import { createLogger, type Logger, OpsServer } from '@footfall/observability';
import {
  Consumer,
  type ConsumerGroupJoinPayload,
  FetchIsolationLevels,
  type Message,
  type MessageToProduce,
  Producer,
} from '@platformatic/kafka';
import { decodePing, encodeOccupancy, encodeVisit, occupancyKey, visitKey } from './codec.ts';
import { type ProcessorConfig, restoreHorizonMs } from './config.ts';
import { ProcessorError } from './errors.ts';
import { createProcessorMetrics, type ProcessorMetrics } from './metrics.ts';
import { planRestore, stableCommittedOffsets } from './restore.ts';

type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

/** Options of {@link Processor}. */
export interface ProcessorOptions {
  logger?: Logger;
  /** Start the ops HTTP server (default true). Tests running several instances pass OPS_PORT=0. */
  opsServer?: boolean;
}

/** State of one assigned input partition. */
interface PartitionState {
  readonly partition: number;
  readonly aggregator: PartitionAggregator;
  /** Next offset to fetch. */
  position: bigint;
  /** Records below this offset are replayed silently (restore); the committed offset C at assignment. */
  readonly restoreEnd: bigint;
  restoring: boolean;
  readonly restoreStartedAt: number;
  /** Offset the group has committed for this partition, as far as this instance knows. */
  committed: bigint;
  /** Last live offset consumed since the last commit (-1n = nothing to commit). */
  lastConsumed: bigint;
}

interface Assignment {
  generationId: number;
  memberId: string;
  partitions: number[];
}

/** Max messages per produce request inside a transaction (keeps batches below the broker's 1 MB). */
const SEND_CHUNK = 4_000;
const FETCH_MAX_WAIT_MS = 100;

/**
 * The stream processor: a consumer-group member on `ingestion` that keeps one
 * {@link PartitionAggregator} per assigned partition and, every EMIT_INTERVAL_MS, commits the drained
 * updates to `aggregated` together with the consumed offsets in one Kafka transaction (exactly once).
 *
 * One loop owns all state: fetch → aggregate → (tick) transaction. Group membership (heartbeats,
 * rebalances) runs inside the Kafka client; a new assignment is only recorded by the event handler and
 * applied by the loop, so state is never touched concurrently.
 */
/** Longest each shutdown step (loop, final commit, consumer, producer) may take. */
const CLOSE_STEP_TIMEOUT_MS = 10_000;

export class Processor {
  readonly config: ProcessorConfig;
  readonly metrics: ProcessorMetrics;
  readonly logger: Logger;
  readonly #options: ProcessorOptions;
  #consumer: Consumer;
  #producer: Producer;
  /** Erased devices: their pings are skipped, live and on restore replay (docs/privacy.md). */
  readonly erasures: ErasureTable;
  #ops: OpsServer | undefined;
  readonly #states = new Map<number, PartitionState>();
  #applied: Assignment | undefined;
  #pending: Assignment | undefined;
  #rebuildAll = false;
  #outputPartitions = 0;
  #loop: Promise<void> | undefined;
  readonly #abort = new AbortController();
  #closing = false;
  #groupError: unknown;
  #closed: Promise<void> | undefined;
  #ready = false;
  #nextTickAt = 0;
  /**
   * Append timestamps (ms) of the live records whose updates the next transaction carries, run-length
   * encoded (records of one produce batch share a timestamp): `#pendingTimestamps[i]` occurs
   * `#pendingTimestampCounts[i]` times.
   */
  #pendingTimestamps: number[] = [];
  #pendingTimestampCounts: number[] = [];
  /** Output partition of each region (javaPartition over the output partition count). */
  readonly #regionPartitions = new Map<string, number>();
  #topicId: string | undefined;

  constructor(config: ProcessorConfig, options: ProcessorOptions = {}) {
    this.config = config;
    this.#options = options;
    this.logger = options.logger ?? createLogger('processor', config.logLevel);
    this.metrics = createProcessorMetrics(config.instanceId);
    this.#consumer = this.#createConsumer();
    this.#producer = this.#createProducer();
    this.erasures = new ErasureTable({
      connection: config,
      topic: config.topicErasures,
      clientId: `footfall-processor-erasures-${config.instanceId}`,
      registry: this.metrics.registry,
      logger: this.logger,
    });
  }

  get transactionalId(): string {
    return `footfall-processor-${this.config.instanceId}`;
  }

  /** Input partitions currently owned (after restore started). */
  get assignedPartitions(): number[] {
    return [...this.#states.keys()].sort((a, b) => a - b);
  }

  /** Port of the ops server (when started). */
  get opsPort(): number | undefined {
    return this.#ops?.port;
  }

  /** True once joined and every owned partition is live (not restoring). */
  get ready(): boolean {
    if (!this.#ready || this.#closing || this.#groupError !== undefined) return false;
    for (const s of this.#states.values()) if (s.restoring) return false;
    return true;
  }

  #createConsumer(): Consumer {
    const c = this.config;
    const consumer = new Consumer({
      ...kafkaClientOptions(c, `footfall-processor-${c.instanceId}`),
      groupId: c.groupId,
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      sessionTimeout: c.sessionTimeoutMs,
      heartbeatInterval: Math.min(1_000, Math.floor(c.sessionTimeoutMs / 3)),
      rebalanceTimeout: c.sessionTimeoutMs + 5_000,
      retries: 3,
      retryDelay: 250,
    });
    // The client reports a failed group rejoin as an 'error' event; with no listener Node would throw
    // it as an uncaught exception and kill the process (seen while a test closed an instance during a
    // rebalance). Log it and report not-ready until the next successful join.
    consumer.on('error', (error: unknown) => {
      if (this.#closing) return;
      this.#groupError = error;
      this.logger.error({ err: error }, 'consumer group error');
    });
    consumer.on('consumer:group:join', (payload: ConsumerGroupJoinPayload) => {
      this.#groupError = undefined;
      const partitions = (payload.assignments ?? [])
        .filter((a) => a.topic === c.topicIngestion)
        .flatMap((a) => a.partitions);
      this.#pending = {
        generationId: payload.generationId ?? consumer.generationId,
        memberId: payload.memberId,
        partitions: [...partitions].sort((a, b) => a - b),
      };
      this.logger.info({ generationId: this.#pending.generationId, partitions }, 'partitions assigned');
    });
    return consumer;
  }

  #createProducer(): Producer {
    const c = this.config;
    return new Producer({
      ...kafkaClientOptions(c, this.transactionalId),
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

  /** Joins the group and starts the processing loop; resolves once the first assignment is known. */
  async start(): Promise<void> {
    const c = this.config;
    if (this.#options.opsServer !== false) {
      this.#ops = await OpsServer.start({
        port: c.opsPort,
        registry: this.metrics.registry,
        readiness: { kafka: () => this.ready },
      });
    }
    const metadata = await this.#consumer.metadata({ topics: [c.topicIngestion, c.topicAggregated] });
    const input = metadata.topics.get(c.topicIngestion);
    const output = metadata.topics.get(c.topicAggregated);
    if (input === undefined || output === undefined) {
      throw new ProcessorError(
        'PROCESSOR_TOPIC_MISMATCH',
        `topics ${c.topicIngestion}/${c.topicAggregated} missing`,
      );
    }
    if (input.partitionsCount !== output.partitionsCount) {
      // aggregated partition p must hold the regions of ingestion partition p.
      this.logger.warn(
        { input: input.partitionsCount, output: output.partitionsCount },
        'input and output topics have different partition counts',
      );
    }
    this.#topicId = input.id;
    this.#outputPartitions = output.partitionsCount;
    this.#consumer.topics.track(c.topicIngestion);
    // Loaded before the first partition is restored, so no replay counts an erased device.
    await this.erasures.start(this.#abort.signal);
    await this.#consumer.joinGroup({});
    this.#ready = true;
    this.#loop = this.#run().catch((error: unknown) => {
      this.logger.fatal({ err: error }, 'processing loop failed');
    });
    this.logger.info(
      {
        groupId: c.groupId,
        transactionalId: this.transactionalId,
        input: c.topicIngestion,
        output: c.topicAggregated,
      },
      'processor started',
    );
  }

  async #run(): Promise<void> {
    this.#nextTickAt = Date.now() + this.config.emitIntervalMs;
    let prefetched: Promise<FetchResponse | undefined> | undefined;
    while (!this.#closing) {
      try {
        if (this.#pending !== undefined || this.#rebuildAll) await this.#applyAssignment();
        if (this.#states.size === 0) {
          await sleep(50);
          continue;
        }
        let response = prefetched === undefined ? undefined : await prefetched;
        prefetched = undefined;
        if (response === undefined) {
          const wait = Math.max(1, Math.min(FETCH_MAX_WAIT_MS, this.#nextTickAt - Date.now()));
          response = await this.#fetch(wait);
        }
        if (response !== undefined) this.#process(response);
        if (Date.now() >= this.#nextTickAt) {
          this.#nextTickAt = Date.now() + this.config.emitIntervalMs;
          // Fetch the next records while the transaction commits (positions are already advanced; the
          // response is processed only after the commit, and dropped if the state is to be rebuilt).
          const next = this.#fetch(FETCH_MAX_WAIT_MS).catch(() => undefined);
          await this.#emit();
          if (this.#pending === undefined && !this.#rebuildAll && !this.#closing) prefetched = next;
          else await next;
        }
      } catch (error) {
        if (this.#closing) break;
        this.logger.error({ err: error }, 'processing step failed; retrying');
        await sleep(500);
      }
    }
  }

  /** Applies the latest group assignment: drops revoked partitions, (re)builds new or stale ones. */
  async #applyAssignment(): Promise<void> {
    const next = this.#pending ?? this.#applied;
    this.#pending = undefined;
    const rebuildAll = this.#rebuildAll;
    this.#rebuildAll = false;
    if (next === undefined) return;
    const wanted = new Set(next.partitions);
    for (const p of [...this.#states.keys()]) {
      if (!wanted.has(p)) {
        // Revoked: uncommitted work is discarded; the new owner rebuilds from the committed offset.
        this.#states.delete(p);
        this.#clearPartitionMetrics(p);
      }
    }
    this.#applied = next;
    this.metrics.assignedPartitions.set(wanted.size);
    if (wanted.size === 0) return;
    const committed = await stableCommittedOffsets(
      this.#consumer,
      this.config.topicIngestion,
      next.partitions,
      this.#abort.signal,
    );
    for (const p of next.partitions) {
      const c = committed.get(p) ?? -1n;
      const existing = this.#states.get(p);
      // Keep state only if nobody committed this partition since we last did (so it is still ours,
      // uninterrupted) and no transaction failed.
      if (existing !== undefined && !rebuildAll && existing.committed === c) continue;
      const reason = existing === undefined ? 'assigned' : rebuildAll ? 'transaction_failed' : 'stale';
      this.metrics.rebuilds.inc({ reason });
      const plan = await planRestore(
        this.#consumer,
        this.config.topicIngestion,
        p,
        c,
        restoreHorizonMs(this.config),
      );
      this.#states.set(p, {
        partition: p,
        aggregator: this.#newAggregator(),
        position: plan.start,
        restoreEnd: c < 0n ? plan.start : c,
        restoring: c > plan.start,
        restoreStartedAt: performance.now(),
        committed: c,
        lastConsumed: -1n,
      });
      if (c <= plan.start) this.metrics.restoreDuration.observe(0);
      this.logger.info(
        { partition: p, committed: String(c), replayFrom: String(plan.start), reason },
        'partition state rebuilding',
      );
    }
    // Timestamps of work discarded above must not be reported as committed.
    if (rebuildAll) {
      this.#pendingTimestamps = [];
      this.#pendingTimestampCounts = [];
    }
  }

  #newAggregator(): PartitionAggregator {
    const c = this.config;
    return new PartitionAggregator({
      bucketMs: c.bucketMs,
      presenceMaxGapMs: c.presenceMaxGapMs,
      allowedLatenessMs: c.allowedLatenessMs,
      minVisitMs: c.minVisitMs,
      maxAccuracyM: c.maxAccuracyM,
      jitterRing: c.jitterRing,
      regionResolution: c.regionResolution,
    });
  }

  async #fetch(maxWaitTime: number): Promise<FetchResponse | undefined> {
    const metadata = await this.#consumer.metadata({ topics: [this.config.topicIngestion] });
    const topic = metadata.topics.get(this.config.topicIngestion);
    if (topic === undefined) return undefined;
    this.#topicId = topic.id;
    // Group partitions by leader; one broker in dev, so usually one request.
    const byNode = new Map<number, PartitionState[]>();
    for (const s of this.#states.values()) {
      const leader = topic.partitions[s.partition]?.leader ?? -1;
      const list = byNode.get(leader) ?? [];
      list.push(s);
      byNode.set(leader, list);
    }
    const requests = [...byNode].map(([node, states]) =>
      this.#consumer.fetch({
        node,
        topics: [
          {
            topicId: topic.id,
            partitions: states.map((s) => ({
              partition: s.partition,
              fetchOffset: s.position,
              partitionMaxBytes: 2 * 1024 * 1024,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          },
        ],
        maxWaitTime,
        minBytes: 1,
        maxBytes: 16 * 1024 * 1024,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      }),
    );
    const responses = await Promise.all(requests);
    if (responses.length === 1) return responses[0];
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 0,
      responses: responses.flatMap((r) => r.responses),
    };
  }

  #process(response: FetchResponse): void {
    const m = this.metrics;
    let accepted = 0;
    let late = 0;
    let duplicate = 0;
    let inaccurate = 0;
    let bad = 0;
    let erased = 0;
    let restored = 0;
    let live = 0;
    for (const topicResponse of response.responses) {
      if (topicResponse.topicId !== this.#topicId) continue;
      for (const p of topicResponse.partitions) {
        const s = this.#states.get(p.partitionIndex);
        if (s === undefined) continue;
        if (p.errorCode !== 0) {
          this.logger.warn({ partition: s.partition, errorCode: p.errorCode }, 'fetch error on partition');
          if (p.errorCode === 1) {
            // OFFSET_OUT_OF_RANGE: retention removed our position; continue from the log start.
            if (p.logStartOffset > s.position) s.position = p.logStartOffset;
          }
          continue;
        }
        const timestamps = this.#pendingTimestamps;
        const timestampCounts = this.#pendingTimestampCounts;
        for (const batch of p.records ?? []) {
          const firstOffset = batch.firstOffset;
          const lastOffset = firstOffset + BigInt(batch.lastOffsetDelta);
          if (lastOffset < s.position) continue;
          // Control batches (transaction markers) carry no data but advance the position.
          if ((batch.attributes & 0x20) !== 0) {
            s.position = lastOffset + 1n;
            continue;
          }
          // Offsets as deltas from firstOffset (plain numbers) inside the batch: the next delta to take and
          // the first live one (restoreEnd - firstOffset, clamped to the batch).
          let nextDelta = s.position > firstOffset ? Number(s.position - firstOffset) : 0;
          const restoreDelta =
            s.restoreEnd <= firstOffset
              ? 0
              : s.restoreEnd > lastOffset
                ? batch.lastOffsetDelta + 1
                : Number(s.restoreEnd - firstOffset);
          let lastLiveDelta = -1;
          const firstTimestamp = Number(batch.firstTimestamp);
          for (const record of batch.records) {
            const delta = record.offsetDelta;
            if (delta < nextDelta) continue;
            nextDelta = delta + 1;
            const restoring = delta < restoreDelta;
            if (!restoring && s.restoring) this.#finishRestore(s);
            if (record.value === null) {
              if (!restoring) {
                bad++;
                lastLiveDelta = delta;
              }
              continue;
            }
            let ping: ReturnType<typeof decodePing>;
            try {
              ping = decodePing(record.value);
            } catch (error) {
              if (!restoring) {
                bad++;
                lastLiveDelta = delta;
                this.logger.warn(
                  { partition: s.partition, offset: String(firstOffset + BigInt(delta)), err: error },
                  'bad record skipped',
                );
              }
              continue;
            }
            if (this.erasures.has(ping.deviceId)) {
              if (!restoring) {
                erased++;
                lastLiveDelta = delta;
              }
              continue;
            }
            const result = s.aggregator.add(ping);
            if (restoring) {
              restored++;
              continue;
            }
            live++;
            lastLiveDelta = delta;
            const ts = firstTimestamp + Number(record.timestampDelta);
            const last = timestamps.length - 1;
            if (last >= 0 && timestamps[last] === ts)
              timestampCounts[last] = (timestampCounts[last] as number) + 1;
            else {
              timestamps.push(ts);
              timestampCounts.push(1);
            }
            if (result === 'accepted') accepted++;
            else if (result === 'late') late++;
            else if (result === 'duplicate') duplicate++;
            else inaccurate++;
          }
          if (lastLiveDelta >= 0) s.lastConsumed = firstOffset + BigInt(lastLiveDelta);
          s.position = lastOffset + 1n;
        }
        if (s.restoring) {
          // Discard what the replay produced so far (it was emitted before the restart).
          s.aggregator.drainUpdates();
          if (s.position >= s.restoreEnd) this.#finishRestore(s);
        }
        m.lag.set({ partition: String(s.partition) }, Math.max(0, Number(p.highWatermark - s.position)));
      }
    }
    if (accepted) m.events.inc({ result: 'accepted' }, accepted);
    if (late) m.events.inc({ result: 'late' }, late);
    if (duplicate) m.events.inc({ result: 'duplicate' }, duplicate);
    if (inaccurate) m.events.inc({ result: 'inaccurate' }, inaccurate);
    if (bad) m.events.inc({ result: 'bad_record' }, bad);
    if (erased) m.events.inc({ result: 'erased' }, erased);
    if (restored) {
      m.consumed.inc({ mode: 'restore' }, restored);
      m.restoreRecords.inc(restored);
    }
    if (live) m.consumed.inc({ mode: 'live' }, live);
  }

  #finishRestore(s: PartitionState): void {
    s.aggregator.drainUpdates();
    s.restoring = false;
    const seconds = (performance.now() - s.restoreStartedAt) / 1000;
    this.metrics.restoreDuration.observe(seconds);
    this.logger.info(
      { partition: s.partition, seconds: Number(seconds.toFixed(3)), state: s.aggregator.stats() },
      'partition restored, live',
    );
  }

  /**
   * One transaction: the drained updates of every partition with new live records, plus those
   * partitions' offsets. Any failure aborts and rebuilds all state from the committed offsets, which is
   * always correct (the aborted output is invisible to read_committed readers).
   */
  async #emit(): Promise<void> {
    const applied = this.#applied;
    if (applied === undefined) return;
    const messages: MessageToProduce[] = [];
    const offsets: PartitionState[] = [];
    const topic = this.config.topicAggregated;
    const n = this.#outputPartitions;
    const bucketMs = this.config.bucketMs;
    let occ = 0;
    let visits = 0;
    let tombstones = 0;
    for (const s of this.#states.values()) {
      if (s.lastConsumed < 0n) continue;
      offsets.push(s);
      const u = s.aggregator.drainUpdates();
      for (const o of u.occupancy) {
        messages.push({
          topic,
          partition: this.#outputPartition(o.region, n),
          key: Buffer.from(occupancyKey(o)),
          value: encodeOccupancy(o, bucketMs),
        });
      }
      occ += u.occupancy.length;
      for (const v of u.visits) {
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
    }
    this.#updateStateMetrics();
    if (offsets.length === 0) return;
    const timestamps = this.#pendingTimestamps;
    const timestampCounts = this.#pendingTimestampCounts;
    this.#pendingTimestamps = [];
    this.#pendingTimestampCounts = [];
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
        await tx.addConsumer(this.#consumer as unknown as Consumer);
        // Sequential on purpose: the client deduplicates concurrent `addOffset` calls into one request.
        const coordinatorId = this.#consumer.coordinatorId;
        for (const s of offsets) {
          await tx.addOffset({
            topic: this.config.topicIngestion,
            partition: s.partition,
            offset: s.lastConsumed,
            // The generation we applied, not the client's current one: a generation that is newer than
            // our assignment must fail the commit (ILLEGAL_GENERATION) instead of committing revoked work.
            metadata: {
              consumer: {
                groupId: this.config.groupId,
                generationId: applied.generationId,
                memberId: applied.memberId,
                coordinatorId,
              },
            },
          } as unknown as Message);
        }
        await tx.commit();
      } catch (error) {
        await tx.abort().catch((abortError: unknown) => {
          this.logger.warn({ err: abortError }, 'abort failed; recreating the producer');
          return this.#resetProducer();
        });
        throw error;
      }
    } catch (error) {
      this.metrics.transactions.inc({ outcome: 'aborted' });
      this.#rebuildAll = true;
      this.logger.warn(
        { err: new ProcessorError('PROCESSOR_TRANSACTION_FAILED', 'transaction failed', { cause: error }) },
        'transaction aborted; rebuilding state from committed offsets',
      );
      return;
    }
    const now = Date.now();
    for (const s of offsets) {
      s.committed = s.lastConsumed + 1n;
      s.lastConsumed = -1n;
    }
    this.metrics.transactions.inc({ outcome: 'committed' });
    if (occ) this.metrics.updates.inc({ kind: 'occupancy' }, occ);
    if (visits) this.metrics.updates.inc({ kind: 'visit' }, visits);
    if (tombstones) this.metrics.updates.inc({ kind: 'tombstone' }, tombstones);
    const h = this.metrics.emitLatency;
    for (let i = 0; i < timestamps.length; i++) {
      const seconds = (now - (timestamps[i] as number)) / 1000;
      for (let c = timestampCounts[i] as number; c > 0; c--) h.observe(seconds);
    }
  }

  #outputPartition(region: string, partitions: number): number {
    const cache = this.#regionPartitions;
    if (cache.size >= 100_000) cache.clear();
    const key = `${partitions}:${region}`;
    let p = cache.get(key);
    if (p === undefined) {
      p = javaPartition(region, partitions);
      cache.set(key, p);
    }
    return p;
  }

  async #resetProducer(): Promise<void> {
    const old = this.#producer;
    this.#producer = this.#createProducer();
    await old.close(true).catch(() => {});
  }

  #updateStateMetrics(): void {
    const m = this.metrics;
    for (const s of this.#states.values()) {
      const st = s.aggregator.stats();
      const partition = String(s.partition);
      m.stateDevices.set({ partition }, st.devices);
      m.stateOpenBuckets.set({ partition }, st.openBuckets);
      m.stateCellBuckets.set({ partition }, st.openCellBuckets);
    }
  }

  #clearPartitionMetrics(p: number): void {
    const partition = String(p);
    this.metrics.lag.remove({ partition });
    this.metrics.stateDevices.remove({ partition });
    this.metrics.stateOpenBuckets.remove({ partition });
    this.metrics.stateCellBuckets.remove({ partition });
  }

  /** Aggregator stats per owned partition (tests, bench). */
  stats(): Record<number, ReturnType<PartitionAggregator['stats']>> {
    const out: Record<number, ReturnType<PartitionAggregator['stats']>> = {};
    for (const s of this.#states.values()) out[s.partition] = s.aggregator.stats();
    return out;
  }

  /** Stops the loop, commits the last live batch, leaves the group. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#ops?.drain();
    this.#closing = true;
    // Every step is bounded: a shutdown must finish within the pod's grace period even when the group
    // is mid-rebalance or the broker is gone. Whatever is not committed is simply reprocessed by the
    // next owner (exactly once comes from the transactions, not from a clean close).
    const bounded = async (what: string, step: Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), CLOSE_STEP_TIMEOUT_MS);
      });
      const outcome = await Promise.race([step.then(() => 'done' as const), timeout]).catch(
        (error: unknown) => {
          this.logger.warn({ err: error }, `${what} failed during close`);
          return 'failed' as const;
        },
      );
      clearTimeout(timer);
      if (outcome === 'timeout')
        this.logger.warn(`${what} did not finish in ${CLOSE_STEP_TIMEOUT_MS} ms; going on`);
      return outcome;
    };
    const loop = await bounded('processing loop', this.#loop ?? Promise.resolve());
    // Flush the last batch so a clean shutdown leaves nothing to reprocess -- only when the loop really
    // stopped: a loop still restoring a partition must not have its half-built state committed.
    if (loop === 'done' && this.#pending === undefined && !this.#rebuildAll) {
      await bounded('final commit', this.#emit());
    }
    this.#abort.abort();
    await bounded('consumer close', this.#consumer.close(true));
    await bounded('producer close', this.#producer.close(true));
    await bounded('erasure table close', this.erasures.close());
    await this.#ops?.close();
    this.logger.info('processor closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
