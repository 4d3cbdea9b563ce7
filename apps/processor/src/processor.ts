import { setTimeout as sleep } from 'node:timers/promises';
import type { PartitionAggregator } from '@footfall/domain';
import { ErasureTable } from '@footfall/erasure';
import { stableCommittedOffsets } from '@footfall/kafka';
import { ConsumerLiveness, createLogger, type Logger, OpsServer } from '@footfall/observability';
import type { Consumer } from '@platformatic/kafka';
import { type ProcessorConfig, restoreHorizonMs } from './config.ts';
import { ProcessorError } from './errors.ts';
import { FETCH_MAX_WAIT_MS, Fetcher, type FetchResult } from './fetcher.ts';
import { type Assignment, GroupMember } from './group-member.ts';
import { createProcessorMetrics, type ProcessorMetrics } from './metrics.ts';
import type { ProcessorOptions, ProcessorProgress } from './options.ts';
import type { PartitionTask } from './partition-task.ts';
import { PlaceTable } from './places.ts';
import { planRestore } from './restore.ts';
import { StateMetrics } from './state-metrics.ts';
import { TaskCreator } from './task-creator.ts';
import { TransactionalEmitter } from './transactional-emitter.ts';
import { planWarm, type WarmSource, warmSource } from './warm.ts';

/** Longest each shutdown step (loop, final commit, consumer, producer) may take. */
const CLOSE_STEP_TIMEOUT_MS = 10_000;

/**
 * The stream processor: a consumer-group member on `ingestion` that keeps one
 * {@link PartitionAggregator} per assigned partition and, every EMIT_INTERVAL_MS, commits the drained
 * updates to `aggregated` together with the consumed offsets in one Kafka transaction (exactly once).
 *
 * One loop owns all state: fetch → aggregate → (tick) transaction. Group membership (heartbeats,
 * rebalances) runs inside the Kafka client; a new assignment is only recorded by the event handler and
 * applied by the loop, so state is never touched concurrently. The fetch path ({@link Fetcher}), task
 * creation ({@link TaskCreator}), the transaction ({@link TransactionalEmitter}) and the state gauges
 * ({@link StateMetrics}) are their own modules; this class keeps the assignment loop and the lifecycle.
 */
export class Processor {
  readonly config: ProcessorConfig;
  readonly metrics: ProcessorMetrics;
  readonly logger: Logger;
  readonly #options: ProcessorOptions;
  readonly #group: GroupMember;
  readonly #emitter: TransactionalEmitter;
  /** Erased devices: their pings are skipped, live and on restore replay (docs/privacy.md). */
  readonly erasures: ErasureTable;
  /** Named places (docs/places.md): every partition counts distinct devices per place too. */
  readonly places: PlaceTable;
  /** `/healthz`: fails when the loop died, or had lag without advancing for CONSUMER_STALL_TIMEOUT_MS. */
  readonly liveness: ConsumerLiveness;
  #ops: OpsServer | undefined;
  readonly #states = new Map<number, PartitionTask>();
  #applied: Assignment | undefined;
  /**
   * A transaction failed: before the next one, re-read the committed offsets and rebuild the partitions
   * that someone else committed in the meantime (the others keep their state and re-send their work).
   */
  #recheck = false;
  #loop: Promise<void> | undefined;
  readonly #abort = new AbortController();
  #closing = false;
  #fatal: unknown;
  #closed: Promise<void> | undefined;
  #ready = false;
  #nextTickAt = 0;
  readonly #fetcher: Fetcher;
  readonly #taskCreator: TaskCreator;
  readonly #stateMetrics: StateMetrics;
  /** TOPIC_INGESTION_WARM and its partition count, and the input's (known from start()). */
  #warm: WarmSource | undefined;

  constructor(config: ProcessorConfig, options: ProcessorOptions = {}) {
    this.config = config;
    this.#options = options;
    this.logger = options.logger ?? createLogger('processor', config.logLevel);
    this.metrics = createProcessorMetrics(config.instanceId, () => this.mutableFromMs());
    if (config.outputUntilMs !== 0) this.metrics.outputPending.set(-1);
    this.#group = new GroupMember(config, this.logger, this.metrics);
    this.#emitter = new TransactionalEmitter(
      config,
      this.logger,
      this.metrics,
      () => this.#consumer,
      options.beforeCommit,
      options.clock,
    );
    this.liveness = new ConsumerLiveness({ stallTimeoutMs: config.stallTimeoutMs });
    this.erasures = new ErasureTable({
      connection: config,
      topic: config.topicErasures,
      clientId: `footfall-processor-erasures-${config.instanceId}`,
      registry: this.metrics.registry,
      logger: this.logger,
    });
    this.places = new PlaceTable({
      connection: config,
      topic: config.topicPlaces,
      clientId: `footfall-processor-places-${config.instanceId}`,
      registry: this.metrics.registry,
      logger: this.logger,
    });
    this.#taskCreator = new TaskCreator(config, this.logger, this.metrics, this.erasures, this.places);
    this.#stateMetrics = new StateMetrics(this.metrics, this.liveness, this.#states);
    this.#fetcher = new Fetcher(
      () => this.#consumer,
      config.topicIngestion,
      this.#states,
      this.metrics,
      this.#stateMetrics,
    );
  }

  get #consumer(): Consumer {
    return this.#group.consumer;
  }

  get transactionalId(): string {
    return this.#emitter.transactionalId;
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
    if (!this.#ready || this.#closing || this.#group.lost !== undefined || this.#fatal !== undefined)
      return false;
    // Joined is not enough: until the loop has applied an assignment (and planned its restores) the
    // partitions are not being served (this reported ready during the first restore before).
    const applied = this.#applied;
    if (applied === undefined || this.#group.hasPendingAssignment || this.#recheck) return false;
    // Every assigned partition has a task that is live (not still waiting for its stable committed
    // offset, e.g. behind a killed predecessor's open transaction, and not restoring).
    for (const p of applied.partitions) if (this.#states.get(p)?.live !== true) return false;
    return true;
  }

  /** Joins the group and starts the processing loop; resolves once the first assignment is known. */
  async start(): Promise<void> {
    const c = this.config;
    if (this.#options.opsServer !== false) {
      this.#ops = await OpsServer.start({
        port: c.opsPort,
        registry: this.metrics.registry,
        readiness: { kafka: () => this.ready },
        liveness: { consumer: () => this.liveness.check() },
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
    this.#emitter.outputPartitions = output.partitionsCount;
    this.#warm = await warmSource(this.#consumer, c, input.partitionsCount, this.logger);
    // Loaded before the first partition is restored, so no replay counts an erased device.
    await this.erasures.start(this.#abort.signal);
    // Likewise the places: a replay then counts places exactly as the live run did.
    await this.places.start(this.#abort.signal);
    const fenceMs = await this.#emitter.fence(this.#abort.signal);
    this.logger.info({ fenceMs: Math.round(fenceMs) }, 'previous incarnation fenced');
    await this.#group.join(this.#abort.signal);
    this.#ready = true;
    this.#loop = this.#run().catch((error: unknown) => {
      // Never stop silently: the loop only ends like this on a non-retryable error (e.g. the group
      // cannot be rejoined). Not ready from now on; the owner (main.ts) exits non-zero.
      this.#fatal = error;
      this.liveness.died(error);
      this.logger.fatal({ err: error }, 'processing loop stopped');
      this.#options.onFatal?.(error);
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
    let prefetched: Promise<FetchResult | undefined> | undefined;
    while (!this.#closing) {
      try {
        if (this.#group.lost !== undefined) {
          await this.#group.rejoin(this.#abort.signal);
          continue;
        }
        if (this.#group.hasPendingAssignment || this.#recheck) await this.#applyAssignment();
        if (this.#states.size === 0) {
          // Nothing assigned is nothing to be late with: counts as progress for liveness.
          this.#stateMetrics.noteProgress(0);
          await sleep(50);
          continue;
        }
        let response = prefetched === undefined ? undefined : await prefetched;
        prefetched = undefined;
        if (response === undefined) {
          const wait = Math.max(1, Math.min(FETCH_MAX_WAIT_MS, this.#nextTickAt - Date.now()));
          response = await this.#fetcher.fetch(wait);
        }
        if (response !== undefined) this.#fetcher.process(response);
        if (Date.now() >= this.#nextTickAt) {
          this.#nextTickAt = Date.now() + this.config.emitIntervalMs;
          // Fetch the next records while the transaction commits (positions are already advanced; the
          // response is processed only after the commit, and dropped if the state is to be rebuilt).
          const next = this.#fetcher.fetch(FETCH_MAX_WAIT_MS).catch(() => undefined);
          this.#advanceIdlePartitions(Date.now());
          await this.#emit();
          if (!this.#group.hasPendingAssignment && !this.#recheck && !this.#closing) prefetched = next;
          else await next;
        }
      } catch (error) {
        if (this.#closing) break;
        if (error instanceof ProcessorError && !error.retryable) throw error;
        this.logger.error({ err: error }, 'processing step failed; retrying');
        await sleep(500);
      }
    }
  }

  /**
   * Applies the latest group assignment: drops revoked partitions, (re)builds new or stale ones. A
   * failure (e.g. committed offsets still unstable because a crashed predecessor's transaction is open)
   * leaves a recheck behind, so the next loop step applies the same assignment again: partitions whose
   * task was already created are kept, the others are restored. Without it, the failed partitions stayed
   * without a task until the next rebalance.
   */
  async #applyAssignment(): Promise<void> {
    const next = this.#group.takeAssignment() ?? this.#applied;
    this.#recheck = false;
    if (next === undefined) return;
    try {
      await this.#apply(next);
    } catch (error) {
      this.#recheck = true;
      this.metrics.restoreFailures.inc();
      throw error;
    }
  }

  async #apply(next: Assignment): Promise<void> {
    const wanted = new Set(next.partitions);
    for (const p of [...this.#states.keys()]) {
      if (!wanted.has(p)) {
        // Revoked: uncommitted work is discarded; the new owner rebuilds from the committed offset.
        this.#states.get(p)?.revoke();
        this.#states.delete(p);
        this.#stateMetrics.clearPartition(p);
        this.metrics.revokedPartitions.inc();
      }
    }
    this.#applied = next;
    this.metrics.assignedPartitions.set(wanted.size);
    if (wanted.size === 0) return;
    const committed = await stableCommittedOffsets(
      this.#consumer,
      this.config.topicIngestion,
      next.partitions,
      {
        signal: this.#abort.signal,
        ...(this.#options.stableOffsetAttempts ? { attempts: this.#options.stableOffsetAttempts } : {}),
      },
    ).catch((error: unknown) => {
      throw new ProcessorError('PROCESSOR_RESTORE_FAILED', 'committed offsets unavailable', { cause: error });
    });
    for (const p of next.partitions) {
      const c = committed.get(p) ?? -1n;
      const existing = this.#states.get(p);
      // Keep state only if nobody committed this partition since we last did (so it is still ours,
      // uninterrupted). After a failed transaction a kept partition re-sends its aborted work (unsent).
      if (existing !== undefined && existing.committed === c) continue;
      const reason = existing === undefined ? 'assigned' : 'stale';
      this.metrics.rebuilds.inc({ reason });
      const plan = await planRestore(
        this.#consumer,
        this.config.topicIngestion,
        p,
        c,
        restoreHorizonMs(this.config),
      );
      // The rebuild reaches back to the topic's beginning: a new generation warms from the previous
      // generation's topic first (its records of this partition's regions), so that its state has the
      // whole history (docs/operations.md, "Changing the partition count").
      const w = this.#warm;
      const warm = w !== undefined && plan.fromLogStart ? await planWarm(this.#consumer, w, p) : undefined;
      existing?.revoke();
      const task = this.#taskCreator.create(p, plan.start, c, warm);
      this.#states.set(p, task);
      if (task.live) this.metrics.restoreDuration.observe(0);
      this.logger.info(
        {
          partition: p,
          committed: String(c),
          replayFrom: String(plan.start),
          reason,
          ...(warm && {
            warmTopic: warm.topic,
            warmPartition: warm.partition,
            warmFrom: String(warm.start),
            warmTo: String(warm.end),
          }),
        },
        'partition state rebuilding',
      );
    }
  }

  /**
   * Wall-clock idleness (Flink's `withIdleness`): a live partition that is caught up and has seen no
   * record for PROCESSOR_IDLE_TIMEOUT_MS advances its watermark as if event time kept pace with the
   * clock, so its visits close and its buckets finalise. The closes are emitted by the next transaction
   * (which re-commits the partition's unchanged offset, for zombie fencing).
   */
  #advanceIdlePartitions(nowMs: number): void {
    let n = 0;
    for (const task of this.#states.values()) if (task.advanceIdle(nowMs)) n++;
    if (n) this.metrics.idleAdvances.inc({ source: 'wall_clock' }, n);
  }

  /** What a consumer-progress liveness check needs: when the position last moved, and the lag. */
  progress(): ProcessorProgress {
    const { lastProgressMs, lag } = this.#stateMetrics;
    return { lastProgressMs, lag, stopped: this.#fatal !== undefined };
  }

  /**
   * One transaction for every live partition with new input or outputs (TransactionalEmitter). On an
   * abort the tasks keep their outputs for the next one; ownership is re-checked first (#recheck).
   */
  async #emit(): Promise<void> {
    const applied = this.#applied;
    if (applied === undefined) return;
    const pending = this.#fetcher.takePending();
    const outcome = await this.#emitter.emit(
      this.#states.values(),
      applied,
      pending,
      this.#fetcher.liveRecords,
    );
    this.#stateMetrics.updateState();
    // Drained = committed: after an abort the outputs are still to be re-sent.
    if (outcome !== 'aborted')
      this.#stateMetrics.updateOutputPending(this.#emitter.window, applied.partitions);
    // Emit latency of records not (yet) committed is reported when they commit.
    if (outcome !== 'committed') this.#fetcher.returnPending(pending);
    if (outcome === 'aborted') this.#recheck = true;
  }

  /**
   * The earliest event time whose outputs may still change, over the owned partitions that hold data
   * (PartitionAggregator.mutableFromMs; +Infinity when none does). One pass over the devices: computed
   * on a metrics scrape, not per tick.
   */
  mutableFromMs(): number {
    let m = Number.POSITIVE_INFINITY;
    for (const s of this.#states.values()) {
      // A partition still restoring does not know its stays yet.
      if (!s.live) return Number.NEGATIVE_INFINITY;
      const from = s.aggregator.mutableFromMs();
      if (from !== Number.NEGATIVE_INFINITY && from < m) m = from;
    }
    return m;
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
    if (loop === 'done' && !this.#group.hasPendingAssignment && !this.#recheck && this.#fatal === undefined) {
      await bounded('final commit', this.#emit());
    }
    this.#abort.abort();
    await bounded('consumer close', this.#group.close());
    await bounded('producer close', this.#emitter.close());
    await bounded('erasure table close', this.erasures.close());
    await bounded('places table close', this.places.close());
    await this.#ops?.close();
    this.logger.info('processor closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
