import { randomBytes } from 'node:crypto';
import { type Alerts, loadAlertsConfig, startAlerts } from '@footfall/alerts-service';
import { type Api, loadApiConfig, startApi } from '@footfall/api';
import { type Database, openDatabase } from '@footfall/db';
import { type IngestHandle, loadIngestConfig, startIngest } from '@footfall/ingest';
import { createTopics, footfallTopics, type LocalBroker, startLocalBroker } from '@footfall/kafka';
import { createLogger, type Logger } from '@footfall/observability';
import { loadProcessorConfig, type ProcessorHandle, startProcessor } from '@footfall/processor';
import { loadSinkConfig, type Sink, startSink } from '@footfall/sink';

/** Options of {@link startStack}. Ports default to 0 (free ports), which is what tests want. */
export interface StackOptions {
  /** Use this broker; otherwise a local one is started (and stopped by `close()`). */
  kafkaBootstrap?: string;
  /** Topic names; defaults `ingestion` / `aggregated` / `erasures`. Created if missing. */
  topics?: { ingestion: string; aggregated: string; erasures?: string; places?: string };
  partitions?: number;
  /** PostgreSQL URL; unset → embedded PGlite in memory. */
  databaseUrl?: string | undefined;
  ports?: {
    grpc?: number;
    api?: number;
    ingestOps?: number;
    processorOps?: number;
    sinkOps?: number;
    alertsOps?: number;
  };
  /** Extra env for every service (e.g. `{ ALLOWED_LATENESS_MS: '…' }`), applied on top of the stack's. */
  env?: Record<string, string>;
  logLevel?: string;
  /** Consumer group suffix, so that several stacks can share a broker (tests). */
  groupSuffix?: string;
  onProgress?: (line: string) => void;
  /**
   * A backfill lane for historical pings (the dev stack's popular-times history): a second ingest and
   * processor on their own topic `<ingestion>-backfill`, writing to the same `aggregated` topic. The
   * history then has its own watermark, so it neither is late against live data nor makes live data
   * late; only this ingest accepts pings up to `maxPingAgeMs` old. Stop it with `closeBackfill()`.
   */
  backfill?: { maxPingAgeMs: number };
}

/** The backfill lane of {@link StackOptions.backfill}. */
export interface BackfillLane {
  readonly ingestTarget: string;
  readonly topic: string;
  readonly processor: ProcessorHandle;
  close(): Promise<void>;
}

/** The whole pipeline in one process: broker (optional), ingest, processor, sink, alerts, API. */
export interface Stack {
  readonly kafkaBootstrap: string;
  readonly ingestTarget: string;
  readonly apiUrl: string;
  readonly operatorToken: string;
  readonly userTokenSecret: string;
  readonly db: Database;
  readonly broker: LocalBroker | undefined;
  readonly ingest: IngestHandle;
  readonly sink: Sink;
  readonly alerts: Alerts;
  readonly api: Api;
  readonly processor: ProcessorHandle;
  readonly env: Readonly<Record<string, string>>;
  /** The backfill lane, when asked for ({@link StackOptions.backfill}). */
  readonly backfill: BackfillLane | undefined;
  /** Stops the processor gracefully and starts a fresh one, which restores its state from Kafka. */
  restartProcessor(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const progress = options.onProgress ?? (() => {});
  const logLevel = options.logLevel ?? 'warn';
  const partitions = options.partitions ?? 6;
  const topics = {
    ingestion: 'ingestion',
    aggregated: 'aggregated',
    erasures: 'erasures',
    places: 'places',
    ...options.topics,
  };
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    closers.length = 0;
  };
  try {
    let broker: LocalBroker | undefined;
    let bootstrap = options.kafkaBootstrap;
    if (!bootstrap) {
      broker = await startLocalBroker({ onProgress: progress });
      const started = broker;
      closers.push(() => started.close());
      bootstrap = broker.bootstrap;
    }
    const backfillTopic = `${topics.ingestion}-backfill`;
    const specs = footfallTopics(partitions).map((spec) => ({
      ...spec,
      name: topics[spec.name as keyof typeof topics] ?? spec.name,
    }));
    const ingestionSpec = specs.find((spec) => spec.name === topics.ingestion);
    if (options.backfill && ingestionSpec) specs.push({ ...ingestionSpec, name: backfillTopic });
    await createTopics(bootstrap, specs);

    const operatorToken = randomBytes(24).toString('base64url');
    const userTokenSecret = randomBytes(32).toString('base64url');
    const suffix = options.groupSuffix ?? '';
    const env: Record<string, string> = {
      LOG_LEVEL: logLevel,
      KAFKA_BOOTSTRAP: bootstrap,
      TOPIC_INGESTION: topics.ingestion,
      TOPIC_AGGREGATED: topics.aggregated,
      TOPIC_ERASURES: topics.erasures,
      TOPIC_PLACES: topics.places,
      DEVICE_KEY_SECRET: randomBytes(32).toString('base64url'),
      USER_TOKEN_SECRET: userTokenSecret,
      OPERATOR_TOKEN: operatorToken,
      ALLOW_DEV_ATTESTATION: 'true',
      // Every simulated phone enrolls from this one address.
      INGEST_ENROLL_PER_MIN: '1000000',
      INGEST_ENROLL_BURST: '1000000',
      ...options.env,
    };
    const ports = options.ports ?? {};

    progress('database: opening and migrating');
    const db = await openDatabase({ url: options.databaseUrl, pgliteDir: 'memory://' });
    closers.push(() => db.close());

    const log = (service: string): Logger => createLogger(service, logLevel);
    // GROUP_ID is one variable name for every consumer, so each service gets its own value here.
    const processorConfig = loadProcessorConfig(
      { ...env, GROUP_ID: `footfall-processor${suffix}` },
      { opsPort: ports.processorOps ?? 0 },
    );
    let processor = await startProcessor(processorConfig, { logger: log('processor') });
    closers.push(() => processor.close());
    progress('processor: started');

    const sinkEnv = { ...env, GROUP_ID: `footfall-sink${suffix}` };
    const sink = await startSink(loadSinkConfig(sinkEnv, { opsPort: ports.sinkOps ?? 0 }), {
      logger: log('sink'),
      db,
    });
    closers.push(() => sink.close());
    progress('sink: started');

    const alertsEnv = { ...env, GROUP_ID: `footfall-alerts${suffix}` };
    const alerts = await startAlerts(loadAlertsConfig(alertsEnv, { opsPort: ports.alertsOps ?? 0 }), {
      logger: log('alerts'),
      db,
    });
    closers.push(() => alerts.close());
    progress('alerts: started');

    const api = await startApi(loadApiConfig(env, { port: ports.api ?? 0 }), { logger: log('api'), db });
    closers.push(() => api.close());
    progress(`api: ${api.url}`);

    const ingest = await startIngest(
      loadIngestConfig(env, { grpcPort: ports.grpc ?? 0, opsPort: ports.ingestOps ?? 0 }),
      { logger: log('ingest') },
    );
    closers.push(() => ingest.close());
    progress(`ingest: gRPC 127.0.0.1:${ingest.port}`);

    let backfill: BackfillLane | undefined;
    if (options.backfill) {
      // Same secrets and outputs, own input topic, consumer group and transactional id.
      const laneEnv = { ...env, TOPIC_INGESTION: backfillTopic };
      const laneProcessor = await startProcessor(
        loadProcessorConfig(
          {
            ...laneEnv,
            GROUP_ID: `footfall-processor-backfill${suffix}`,
            INSTANCE_ID: `backfill-${randomBytes(4).toString('hex')}`,
          },
          { opsPort: 0 },
        ),
        { logger: log('processor-backfill') },
      );
      const laneIngest = await startIngest(
        loadIngestConfig(
          { ...laneEnv, MAX_PING_AGE_MS: String(options.backfill.maxPingAgeMs) },
          { grpcPort: 0, opsPort: 0 },
        ),
        { logger: log('ingest-backfill') },
      );
      let closed = false;
      const closeLane = async () => {
        if (closed) return;
        closed = true;
        await laneIngest.close();
        await laneProcessor.close();
      };
      closers.push(closeLane);
      backfill = {
        ingestTarget: `127.0.0.1:${laneIngest.port}`,
        topic: backfillTopic,
        processor: laneProcessor,
        close: closeLane,
      };
      progress(`backfill lane: gRPC 127.0.0.1:${laneIngest.port} → ${backfillTopic}`);
    }

    const stack: Stack = {
      kafkaBootstrap: bootstrap,
      ingestTarget: `127.0.0.1:${ingest.port}`,
      apiUrl: api.url,
      operatorToken,
      userTokenSecret,
      db,
      broker,
      ingest,
      sink,
      alerts,
      api,
      get processor() {
        return processor;
      },
      env,
      backfill,
      async restartProcessor() {
        await processor.close();
        processor = await startProcessor(processorConfig, { logger: log('processor') });
      },
      close: closeAll,
      [Symbol.asyncDispose]: closeAll,
    };
    return stack;
  } catch (error) {
    await closeAll();
    throw error;
  }
}
