import { type Database, openDatabase } from '@footfall/db';
import { kafkaClientOptions } from '@footfall/kafka';
import { createLogger, type Logger, OpsServer } from '@footfall/observability';
import {
  Consumer,
  FetchIsolationLevels,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
} from '@platformatic/kafka';
import type { SinkConfig } from './config.ts';
import { SinkError } from './errors.ts';
import { createSinkMetrics, type SinkMetrics } from './metrics.ts';
import { dayOf, PartitionManager } from './partitions.ts';
import { type BatchPlan, planBatch } from './records.ts';
import { writeBatch } from './writer.ts';

export interface StartSinkOptions {
  logger?: Logger;
  /** Use this database instead of opening `config.databaseUrl` (not closed by the sink). */
  db?: Database;
}

/** A running sink. `close()` stops consuming, writes what it already read, commits, and disconnects. */
export interface Sink {
  readonly opsPort: number;
  readonly db: Database;
  readonly metrics: SinkMetrics;
  /** Runs the partition maintenance + retention job now (it also runs every `retentionIntervalMs`). */
  runRetention(): Promise<{ dropped: string[]; created: number }>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type Msg = Message<Buffer, Buffer, Buffer, Buffer>;
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

  const consumer = new Consumer({
    ...kafkaClientOptions(config, `footfall-sink-${process.pid}`),
    groupId: config.groupId,
    autocommit: false,
    // The processor produces in transactions: never surface records of aborted or open ones.
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    maxWaitTime: 500,
    sessionTimeout: 20_000,
    heartbeatInterval: 2_000,
  });

  let closing = false;
  let pending: Msg[] = [];
  let flushing: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dbHealthy = true;
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>;

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
    for (let attempt = 0; ; attempt++) {
      try {
        const ready = await preparePartitions(plan);
        const result = await writeBatch(db, ready);
        dbHealthy = true;
        metrics.records.inc({ outcome: 'occupancy' }, ready.occupancy.length);
        metrics.records.inc({ outcome: 'visit' }, ready.visits.length);
        metrics.records.inc({ outcome: 'tombstone' }, ready.deletes.length);
        metrics.rows.inc({ table: 'occupancy', op: 'upsert' }, result.occupancyChanged);
        metrics.rows.inc({ table: 'visits', op: 'upsert' }, result.visitsChanged);
        metrics.rows.inc({ table: 'visits', op: 'delete' }, result.visitsDeleted);
        break;
      } catch (error) {
        dbHealthy = false;
        const code = error instanceof SinkError ? error.code : 'SINK_DB_WRITE_FAILED';
        metrics.errors.inc({ code });
        logger.error(
          { err: error, code, attempt, records: batch.length },
          `${code}: batch not written, retrying`,
        );
        // Not committing: if we are shutting down the records are simply read again by the next owner.
        if (closing) return;
        await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** attempt)));
        if (closing) return;
      }
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
    metrics.recordsRead.inc(batch.length);
    metrics.batchRecords.observe(batch.length);
    metrics.batchSeconds.observe((performance.now() - started) / 1000);
  };

  const drain = async () => {
    while (pending.length) {
      const batch = pending.slice(0, config.maxBatchRecords);
      pending = pending.slice(batch.length);
      await processBatch(batch);
      if (closing && !dbHealthy) return;
    }
  };

  const kick = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (flushing) return;
    flushing = drain()
      .catch((error: unknown) => logger.error({ err: error }, 'sink batch loop failed'))
      .finally(() => {
        flushing = undefined;
        if (closing) return;
        if (stream.isPaused()) stream.resume();
        if (pending.length) kick();
      });
  };

  stream = await consumer.consume({
    topics: [config.topicAggregated],
    mode: MessagesStreamModes.COMMITTED,
    fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  stream.on('data', (message: Msg) => {
    pending.push(message);
    if (pending.length >= config.maxBatchRecords) {
      // Backpressure: stop fetching until the batch is durable.
      stream.pause();
      kick();
    } else if (!timer && !flushing) timer = setTimeout(kick, config.flushIntervalMs);
  });
  stream.on('error', (error: Error) => logger.error({ err: error }, 'consumer stream error'));
  // Group errors (e.g. a failed rejoin) are 'error' events on the consumer itself: without a listener
  // they would be thrown as uncaught exceptions.
  consumer.on('error', (error: Error) => logger.error({ err: error }, 'consumer group error'));

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
      kafka: () => consumer.isConnected() && stream.isActive(),
    },
  });
  logger.info({ topic: config.topicAggregated, groupId: config.groupId, opsPort: ops.port }, 'sink started');

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      ops.drain();
      stream.pause();
      if (timer) clearTimeout(timer);
      clearInterval(retentionTimer);
      await flushing;
      // Write what was already read so the next owner has less to re-read (best effort).
      closing = true;
      if (pending.length && dbHealthy) await drain().catch(() => {});
      await stream.close().catch(() => {});
      await consumer.close(true).catch(() => {});
      await ops.close();
      if (ownsDb) await db.close();
      logger.info('sink stopped');
    })();
    return closed;
  };

  return { opsPort: ops.port, db, metrics, runRetention, close, [Symbol.asyncDispose]: close };
}
