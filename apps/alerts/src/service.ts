import { type Database, openDatabase } from '@footfall/db';
import { ConsumerLiveness, createLogger, type Logger, OpsServer } from '@footfall/observability';
import { BatchLoop, isBrokerUnreachable, loadSinkConfig, type Msg, SinkSubscription } from '@footfall/sink';
import pRetry from 'p-retry';
import type { AlertsConfig } from './config.ts';
import { WebhookDispatcher } from './delivery.ts';
import { startDpIdleAlerts } from './dp-idle.ts';
import { evaluateBatch } from './evaluator.ts';
import { type AlertsMetrics, createAlertsMetrics } from './metrics.ts';

export interface StartAlertsOptions {
  logger?: Logger;
  /** Use this database instead of opening `config.databaseUrl` (not closed by the service). */
  db?: Database;
  /** A non-retryable consumer failure: main.ts exits non-zero so the orchestrator restarts it. */
  onFatal?: (error: unknown) => void;
}

/** A running alerts service. `close()` stops consuming, evaluates what it read, finishes deliveries. */
export interface Alerts {
  readonly opsPort: number;
  readonly db: Database;
  readonly metrics: AlertsMetrics;
  readonly liveness: ConsumerLiveness;
  /** Batches evaluated so far (tests synchronise on it). */
  readonly batches: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Consumes `aggregated` (read_committed, its own consumer group), evaluates the alert subscriptions of
 * the regions it reads (evaluator.ts, one transaction per batch with the offsets) and delivers fired
 * alerts to webhooks from the outbox (delivery.ts). The consumer group membership, its re-subscription
 * after broker outages and its lag are the sink's (`SinkSubscription`), with this service's group id.
 * With PRIVACY_MODE=dp it does none of this (dp-idle.ts).
 */
export async function startAlerts(config: AlertsConfig, options: StartAlertsOptions = {}): Promise<Alerts> {
  const logger = options.logger ?? createLogger('alerts', config.logLevel);
  const metrics = createAlertsMetrics();
  const ownsDb = !options.db;
  const db =
    options.db ??
    (await openDatabase({
      url: config.databaseUrl,
      poolSize: config.dbPoolSize,
      applicationName: 'footfall-alerts',
    }));
  if (config.privacyMode === 'dp') return startDpIdleAlerts(config, { db, ownsDb, logger, metrics });

  const dispatcher = new WebhookDispatcher({
    db,
    logger,
    metrics,
    policy: { allowPrivate: config.webhookAllowPrivate },
    timeoutMs: config.webhookTimeoutMs,
    concurrency: config.webhookConcurrency,
    maxAttempts: config.webhookMaxAttempts,
    backoffMs: config.webhookBackoffMs,
    maxBackoffMs: config.webhookMaxBackoffMs,
    pollMs: config.deliveryPollMs,
  });

  let closing = false;
  let batches = 0;
  let dbHealthy = true;
  const closeSignal = new AbortController();
  const evalOptions = {
    groupId: config.groupId,
    topic: config.topicAggregated,
    kAnonymity: config.kAnonymity,
    bucketMs: config.bucketMs,
  };

  const processBatch = async (batch: Msg[]) => {
    const started = performance.now();
    try {
      const result = await pRetry(() => evaluateBatch(db, batch, evalOptions), {
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 250,
        maxTimeout: 10_000,
        randomize: true,
        signal: closeSignal.signal,
        shouldRetry: () => !closing,
        onFailedAttempt: ({ error, attemptNumber }) => {
          dbHealthy = false;
          metrics.errors.inc({ code: 'ALERTS_DB_WRITE_FAILED' });
          logger.error(
            { err: error, attempt: attemptNumber },
            'ALERTS_DB_WRITE_FAILED: batch not evaluated, retrying',
          );
        },
      });
      dbHealthy = true;
      batches++;
      for (const [outcome, n] of Object.entries(result.outcomes)) metrics.records.inc({ outcome }, n);
      if (result.outcomes.invalid)
        metrics.errors.inc({ code: 'ALERTS_INVALID_RECORD' }, result.outcomes.invalid);
      for (const p of result.fired) metrics.fired.inc({ kind: p.kind });
      if (result.fired.length) logger.info({ fired: result.fired.map((p) => p.id) }, 'alerts fired');
      if (result.webhooks) dispatcher.kick();
    } catch (error) {
      if (closing) return;
      throw error;
    }
    // Offsets in PostgreSQL are the truth; Kafka's only spare re-reading (a failure here is harmless).
    const last = new Map<number, Msg>();
    for (const m of batch) last.set(m.partition, m);
    try {
      await Promise.all([...last.values()].map((m) => m.commit()));
    } catch (error) {
      metrics.errors.inc({ code: 'ALERTS_COMMIT_FAILED' });
      logger.warn({ err: error }, 'ALERTS_COMMIT_FAILED: records will be re-read and skipped');
    }
    liveness.progressed();
    metrics.batchSeconds.observe((performance.now() - started) / 1000);
  };

  const loop = new BatchLoop({
    maxBatchRecords: config.maxBatchRecords,
    flushIntervalMs: config.flushIntervalMs,
    processBatch,
    pause: () => subscription.pause(),
    resume: () => subscription.resume(),
    shouldStop: () => !dbHealthy,
    onError: (error) => logger.error({ err: error }, 'alerts batch loop failed'),
  });

  const subscription = new SinkSubscription(
    // The subscription reads only the Kafka, topic and group settings, which both services share.
    loadSinkConfig(
      {},
      {
        kafkaBootstrap: config.kafkaBootstrap,
        kafkaSaslMechanism: config.kafkaSaslMechanism,
        kafkaSaslUsername: config.kafkaSaslUsername,
        kafkaSaslPassword: config.kafkaSaslPassword,
        kafkaTls: config.kafkaTls,
        topicAggregated: config.topicAggregated,
        groupId: config.groupId,
        instanceId: config.instanceId,
        sessionTimeoutMs: config.sessionTimeoutMs,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        stallTimeoutMs: config.stallTimeoutMs,
      },
    ),
    logger,
    {
      onMessage: (message) => loop.push(message),
      beforeResubscribe: () => loop.resubscribe(),
      onFatal: (error) => {
        liveness.died(error);
        metrics.errors.inc({ code: 'ALERTS_CONSUMER_FAILED' });
        options.onFatal?.(error);
      },
      onRetry: (error, _attempt, downForMs) => {
        if (!isBrokerUnreachable(error) && downForMs > config.stallTimeoutMs) liveness.died(error);
      },
    },
  );
  const liveness = new ConsumerLiveness({
    stallTimeoutMs: config.stallTimeoutMs,
    lag: async () => {
      const behind = await subscription.lag();
      return behind === undefined ? undefined : behind + loop.backlog;
    },
  });
  await subscription.start();
  liveness.start();
  dispatcher.start();

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
  logger.info(
    { topic: config.topicAggregated, groupId: config.groupId, opsPort: ops.port },
    'alerts started',
  );

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      ops.drain();
      subscription.pause();
      loop.stop();
      liveness.close();
      closing = true;
      if (!dbHealthy) closeSignal.abort();
      await loop.finish(() => dbHealthy);
      closeSignal.abort();
      await subscription.close();
      await dispatcher.close();
      await ops.close();
      if (ownsDb) await db.close();
      logger.info('alerts stopped');
    })();
    return closed;
  };

  return {
    opsPort: ops.port,
    db,
    metrics,
    liveness,
    get batches() {
      return batches;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
