import { type Database, isDatabaseUnavailable, openDatabase } from '@footfall/db';
import { ConsumerLiveness, createLogger, type Logger, OpsServer } from '@footfall/observability';
import pRetry from 'p-retry';
import { BatchLoop } from './batch-loop.ts';
import type { SinkConfig } from './config.ts';
import { SinkError } from './errors.ts';
import { createSinkMetrics, type SinkMetrics } from './metrics.ts';
import { dayOf, PartitionManager } from './partitions.ts';
import { type BatchPlan, planBatch } from './records.ts';
import { isBrokerUnreachable, type Msg, SinkSubscription } from './subscription.ts';
import { writeBatch } from './writer.ts';

export interface StartSinkOptions {
  logger?: Logger;
  /** Use this database instead of opening `config.databaseUrl` (not closed by the sink). */
  db?: Database;
  /**
   * The sink cannot go on (a non-retryable Kafka error): main.ts exits non-zero so the orchestrator
   * restarts it. Without it the sink only reports itself dead on `/healthz`.
   */
  onFatal?: (error: unknown) => void;
}

/** A running sink. `close()` stops consuming, writes what it already read, commits, and disconnects. */
export interface Sink {
  readonly opsPort: number;
  readonly db: Database;
  readonly metrics: SinkMetrics;
  /** The consumer loop's liveness, as `/healthz` reports it. */
  readonly liveness: ConsumerLiveness;
  /** Consumer streams subscribed so far (1 + re-subscriptions after failures). */
  readonly subscriptions: number;
  /** Runs the partition maintenance + retention job now (it also runs every `retentionIntervalMs`). */
  runRetention(): Promise<{ dropped: string[]; created: number }>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DAY_MS = 86_400_000;

/**
 * Consumes `aggregated` (read_committed, manual commits) and upserts it into PostgreSQL in batches.
 * Offsets are committed only after the batch's DB transaction committed, so a crash re-reads at most
 * the uncommitted tail, and re-applying it is a no-op (upserts of the latest value, deletes by key).
 */
export async function startSink(config: SinkConfig, options: StartSinkOptions = {}): Promise<Sink> {
  const logger = options.logger ?? createLogger('sink', config.logLevel);
  const metrics = createSinkMetrics();
  const ownsDb = !options.db;
  const db =
    options.db ??
    (await openDatabase({
      url: config.databaseUrl,
      poolSize: config.dbPoolSize,
      applicationName: 'footfall-sink',
    }));
  const partitions = new PartitionManager(db);

  const firstKeptDay = () => dayOf(Date.now()) - config.retentionDays;

  const runRetention = async () => {
    const today = dayOf(Date.now());
    const days = Array.from({ length: config.partitionsAheadDays + 1 }, (_, i) => today + i);
    let created = 0;
    for (const table of ['occupancy', 'visits'] as const) created += await partitions.ensure(table, days);
    const dropped = await partitions.dropBefore(firstKeptDay());
    metrics.partitions.inc({ op: 'created' }, created);
    metrics.partitions.inc({ op: 'dropped' }, dropped.length);
    if (dropped.length)
      logger.info({ dropped, retentionDays: config.retentionDays }, 'dropped expired partitions');
    return { dropped, created };
  };
  await runRetention();

  let closing = false;
  let dbHealthy = true;
  const closeSignal = new AbortController();

  /** Drops rows whose day is already past retention (their partition is gone) and creates the rest. */
  const preparePartitions = async (plan: BatchPlan): Promise<BatchPlan> => {
    const keep = firstKeptDay() * DAY_MS;
    const occupancy = plan.occupancy.filter((r) => r.bucketStartMs >= keep);
    const visits = plan.visits.filter((r) => r.startMs >= keep);
    const deletes = plan.deletes.filter((r) => r.startMs >= keep);
    const expired =
      plan.occupancy.length -
      occupancy.length +
      plan.visits.length -
      visits.length +
      plan.deletes.length -
      deletes.length;
    if (expired) {
      metrics.records.inc({ outcome: 'expired' }, expired);
      metrics.errors.inc({ code: 'SINK_RECORD_EXPIRED' }, expired);
    }
    try {
      await partitions.ensure('occupancy', new Set(occupancy.map((r) => dayOf(r.bucketStartMs))));
      await partitions.ensure('visits', new Set(visits.map((r) => dayOf(r.startMs))));
    } catch (cause) {
      throw new SinkError('SINK_PARTITION_FAILED', 'could not create daily partitions', { cause });
    }
    return { ...plan, occupancy, visits, deletes };
  };

  const processBatch = async (batch: Msg[]) => {
    const started = performance.now();
    const plan = planBatch(batch);
    if (plan.invalid) {
      metrics.records.inc({ outcome: 'invalid' }, plan.invalid);
      metrics.errors.inc({ code: 'SINK_INVALID_RECORD' }, plan.invalid);
      logger.warn({ count: plan.invalid }, 'SINK_INVALID_RECORD: skipped undecodable records');
    }
    try {
      // Not committing offsets until the batch is durable: retry the whole transaction with backoff
      // (a terminated connection, a PostgreSQL restart) for as long as it takes. If we are shutting
      // down instead, the records are simply read again by the next owner.
      await pRetry(
        async () => {
          const ready = await preparePartitions(plan);
          const result = await writeBatch(db, ready);
          dbHealthy = true;
          metrics.records.inc({ outcome: 'occupancy' }, ready.occupancy.length);
          metrics.records.inc({ outcome: 'visit' }, ready.visits.length);
          metrics.records.inc({ outcome: 'tombstone' }, ready.deletes.length);
          metrics.rows.inc({ table: 'occupancy', op: 'upsert' }, result.occupancyChanged);
          metrics.rows.inc({ table: 'visits', op: 'upsert' }, result.visitsChanged);
          metrics.rows.inc({ table: 'visits', op: 'delete' }, result.visitsDeleted);
        },
        {
          retries: Number.POSITIVE_INFINITY,
          minTimeout: 250,
          maxTimeout: 10_000,
          factor: 2,
          randomize: true,
          signal: closeSignal.signal,
          shouldRetry: () => !closing,
          onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
            dbHealthy = false;
            const code = error instanceof SinkError ? error.code : 'SINK_DB_WRITE_FAILED';
            metrics.errors.inc({ code });
            logger.error(
              {
                err: error,
                code,
                attempt: attemptNumber,
                retryDelay,
                records: batch.length,
                dbUnavailable: isDatabaseUnavailable(error),
              },
              `${code}: batch not written, retrying`,
            );
          },
        },
      );
    } catch (error) {
      if (closing) return;
      throw error;
    }
    // Rows are durable: now (and only now) advance the group's offsets, per partition to the last record.
    const last = new Map<number, Msg>();
    for (const m of batch) last.set(m.partition, m);
    try {
      await Promise.all([...last.values()].map((m) => m.commit()));
      metrics.lastCommitMs.set(Date.now());
    } catch (error) {
      metrics.errors.inc({ code: 'SINK_COMMIT_FAILED' });
      logger.warn({ err: error }, 'SINK_COMMIT_FAILED: records will be re-read and re-applied (idempotent)');
    }
    liveness.progressed();
    metrics.recordsRead.inc(batch.length);
    metrics.batchRecords.observe(batch.length);
    metrics.batchSeconds.observe((performance.now() - started) / 1000);
  };

  const loop = new BatchLoop({
    maxBatchRecords: config.maxBatchRecords,
    flushIntervalMs: config.flushIntervalMs,
    processBatch,
    pause: () => subscription.pause(),
    resume: () => subscription.resume(),
    shouldStop: () => !dbHealthy,
    onError: (error) => logger.error({ err: error }, 'sink batch loop failed'),
  });

  const subscription = new SinkSubscription(config, logger, {
    onMessage: (message) => loop.push(message),
    beforeResubscribe: async () => {
      await loop.resubscribe();
      metrics.resubscriptions.inc();
    },
    onFatal: (error) => {
      liveness.died(error);
      metrics.errors.inc({ code: 'SINK_CONSUMER_FAILED' });
      options.onFatal?.(error);
    },
    onRetry: (error, _attempt, downForMs) => {
      metrics.errors.inc({ code: 'SINK_CONSUMER_RESUBSCRIBE' });
      // A broker that cannot be reached is a dependency outage (readiness, not liveness). Failing to
      // re-subscribe to a reachable broker for the whole stall timeout is a dead loop: restart.
      if (!isBrokerUnreachable(error) && downForMs > config.stallTimeoutMs) liveness.died(error);
    },
  });
  // Unwritten records (read but not yet durable) count as lag too: a sink stuck on its database is as
  // stuck as one that stopped fetching.
  const liveness = new ConsumerLiveness({
    stallTimeoutMs: config.stallTimeoutMs,
    lag: async () => {
      const behind = await subscription.lag();
      return behind === undefined ? undefined : behind + loop.backlog;
    },
  });
  await subscription.start();
  liveness.start();

  const retentionTimer = setInterval(() => {
    runRetention().catch((error: unknown) => {
      metrics.errors.inc({ code: 'SINK_PARTITION_FAILED' });
      logger.error({ err: error }, 'SINK_PARTITION_FAILED: retention run failed');
    });
  }, config.retentionIntervalMs);
  retentionTimer.unref();

  const ops = await OpsServer.start({
    port: config.opsPort,
    registry: metrics.registry,
    readiness: {
      database: async () => {
        await db.query('SELECT 1');
        return dbHealthy;
      },
      kafka: () => subscription.active,
    },
    liveness: { consumer: () => liveness.check() },
  });
  logger.info({ topic: config.topicAggregated, groupId: config.groupId, opsPort: ops.port }, 'sink started');

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      ops.drain();
      subscription.pause();
      loop.stop();
      clearInterval(retentionTimer);
      liveness.close();
      // No new retries from now on; a batch already failing stops retrying at once.
      closing = true;
      if (!dbHealthy) closeSignal.abort();
      // Write what was already read so the next owner has less to re-read (best effort).
      await loop.finish(() => dbHealthy);
      closeSignal.abort();
      await subscription.close();
      await ops.close();
      if (ownsDb) await db.close();
      logger.info('sink stopped');
    })();
    return closed;
  };

  return {
    opsPort: ops.port,
    db,
    metrics,
    liveness,
    get subscriptions() {
      return subscription.subscriptions;
    },
    runRetention,
    close,
    [Symbol.asyncDispose]: close,
  };
}
