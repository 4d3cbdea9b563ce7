// Several instances of each service, each its own OS process (test/faults' ServiceProcess), against the
// test broker (unique topics and group ids) and a temporary PostgreSQL database: 2 ingest, 2 processors,
// 2 sinks and one API. The simulator reaches both ingest instances through one gRPC channel per device
// (round_robin over both addresses), as a Kubernetes Service would spread them.
import { randomBytes } from 'node:crypto';
import { openDatabase } from '@footfall/db';
import { createTopics, freePort } from '@footfall/kafka';
import { createIngestUploader, type IngestUploader, type IngestUploaderOptions } from '@footfall/simulator';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  ServiceProcess,
  uniqueTopics,
  waitForGroupCoordinator,
} from '@footfall/testing';

export interface ClusterOptions {
  /** Instances of ingest, processor and sink (default 2 each). */
  instances?: number;
  /** Sink instances (default `instances`). */
  sinks?: number;
  /** Partitions of `ingestion` and `aggregated` (default 6). */
  partitions?: number;
  /** Extra environment of every processor (e.g. ALLOWED_LATENESS_MS). */
  processorEnv?: Record<string, string>;
}

export interface Cluster {
  readonly topics: { ingestion: string; aggregated: string; erasures: string };
  readonly ingest: ServiceProcess[];
  readonly processor: ServiceProcess[];
  readonly sink: ServiceProcess[];
  readonly api: ServiceProcess;
  readonly apiUrl: string;
  readonly operatorToken: string;
  /** The environment every service shares (secrets, broker, database, topics). */
  readonly common: Record<string, string>;
  /** The test broker. */
  readonly bootstrap: string;
  /** A further processor (e.g. of another generation) with its own ops port; not started. */
  addProcessor(name: string, env: Record<string, string>): Promise<ServiceProcess>;
  /** An uploader whose device clients round-robin over every ingest instance. */
  uploader(overrides?: Partial<IngestUploaderOptions>): Promise<IngestUploader>;
  /** Every service process (for death checks). */
  all(): ServiceProcess[];
  close(): Promise<void>;
}

/** Starts the cluster and waits until every instance is ready. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const instances = options.instances ?? 2;
  const bootstrap = kafkaBootstrap();
  await waitForGroupCoordinator(bootstrap);
  const suffix = randomBytes(4).toString('hex');
  const { ingestion, aggregated } = await uniqueTopics(options.partitions ?? 6);
  const erasures = `erasures-${suffix}`;
  await createTopics(bootstrap, [
    { name: erasures, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
  ]);
  const database = await createTemporaryDatabase();
  // Schema first, so the services start against a migrated database.
  await (await openDatabase({ url: database.url })).close();

  const operatorToken = randomBytes(24).toString('base64url');
  const common: Record<string, string> = {
    LOG_LEVEL: process.env.MULTI_LOG_LEVEL ?? 'warn',
    KAFKA_BOOTSTRAP: bootstrap,
    TOPIC_INGESTION: ingestion,
    TOPIC_AGGREGATED: aggregated,
    TOPIC_ERASURES: erasures,
    DEVICE_KEY_SECRET: randomBytes(32).toString('base64url'),
    USER_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    OPERATOR_TOKEN: operatorToken,
    ALLOW_DEV_ATTESTATION: 'true',
    DATABASE_URL: database.url,
  };
  const processorGroup = `footfall-processor-${suffix}`;
  const processorOf = async (name: string, env: Record<string, string>) => {
    const port = await freePort();
    return new ServiceProcess(
      'processor',
      {
        ...common,
        GROUP_ID: processorGroup,
        EMIT_INTERVAL_MS: '200',
        ...options.processorEnv,
        ...env,
        OPS_PORT: String(port),
        INSTANCE_ID: `${name}-${suffix}`,
      },
      `http://127.0.0.1:${port}/readyz`,
    );
  };
  const ingest: ServiceProcess[] = [];
  const grpcPorts: number[] = [];
  const processor: ServiceProcess[] = [];
  const sink: ServiceProcess[] = [];
  for (let i = 0; i < instances; i++) {
    const grpc = await freePort();
    const ops = await freePort();
    grpcPorts.push(grpc);
    ingest.push(
      new ServiceProcess(
        'ingest',
        {
          ...common,
          GRPC_PORT: String(grpc),
          OPS_PORT: String(ops),
          RATE_LIMIT_PINGS_PER_SEC: '5000',
          RATE_LIMIT_BURST_PINGS: '10000',
        },
        `http://127.0.0.1:${ops}/readyz`,
      ),
    );
    processor.push(await processorOf(`processor-${i}`, {}));
  }
  for (let i = 0; i < (options.sinks ?? instances); i++) {
    const sinkOps = await freePort();
    sink.push(
      new ServiceProcess(
        'sink',
        {
          ...common,
          GROUP_ID: `footfall-sink-${suffix}`,
          INSTANCE_ID: `sink-${i}-${suffix}`,
          OPS_PORT: String(sinkOps),
          SINK_FLUSH_INTERVAL_MS: '50',
        },
        `http://127.0.0.1:${sinkOps}/readyz`,
      ),
    );
  }
  const apiPort = await freePort();
  const api = new ServiceProcess(
    'api',
    // Exact comparison needs raw counts: k-anonymity is tested on its own in apps/api.
    { ...common, API_PORT: String(apiPort), K_ANONYMITY: '1', API_POPULAR_CACHE_MS: '0' },
    `http://127.0.0.1:${apiPort}/readyz`,
  );
  const extra: ServiceProcess[] = [];
  const all = () => [...ingest, ...processor, ...sink, api, ...extra];
  const uploaders: IngestUploader[] = [];
  const close = async () => {
    for (const u of uploaders) await u.close();
    // Services first: a sink whose database was dropped under it retries its close forever.
    await Promise.all(all().map((s) => s.kill()));
    await database.drop();
  };
  try {
    for (const s of all()) s.start();
    for (const s of all()) await s.ready();
  } catch (error) {
    await close();
    throw error;
  }
  return {
    topics: { ingestion, aggregated, erasures },
    bootstrap,
    ingest,
    processor,
    sink,
    api,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    operatorToken,
    common,
    addProcessor: async (name, env) => {
      const p = await processorOf(name, env);
      extra.push(p);
      return p;
    },
    uploader: async (overrides = {}) => {
      const u = await createIngestUploader({
        target: `ipv4:${grpcPorts.map((p) => `127.0.0.1:${p}`).join(',')}`,
        channelOptions: {
          'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
        },
        // A rolling restart refuses a few uploads (UNAVAILABLE while one instance drains).
        maxAttempts: 30,
        ...overrides,
      });
      uploaders.push(u);
      return u;
    },
    all,
    close,
  };
}
