import { setTimeout as sleep } from 'node:timers/promises';
import { ErasureTable } from '@footfall/erasure';
import { createLogger, createRegistry, type Logger, OpsServer } from '@footfall/observability';
import type { Registry } from 'prom-client';
import {
  type AttestationVerifier,
  DevAttestationVerifier,
  erasedDevicesHook,
  UploadAuthenticator,
} from './auth.ts';
import type { IngestConfig } from './config.ts';
import { createKeyring } from './credentials.ts';
import { nextIngestionTopic } from './dual-write.ts';
import { createIngestMetrics } from './metrics.ts';
import { PingProducer } from './producer.ts';
import { TokenBucketLimiter } from './rate-limit.ts';
import { createIngestService } from './server.ts';

/** Longest start-up waits for the erasure log while Kafka is reachable; after it uploads get UNAVAILABLE. */
const ERASURES_LOAD_WAIT_MS = 30_000;

export interface StartIngestOptions {
  logger?: Logger;
  /** Metrics registry; default a fresh one per instance (several instances can share a process). */
  registry?: Registry;
  /** Enrollment attestation; default {@link DevAttestationVerifier} honouring ALLOW_DEV_ATTESTATION. */
  attestation?: AttestationVerifier;
  /** false: no ops HTTP server (a cluster worker, whose primary serves them). Default true. */
  opsServer?: boolean;
}

export interface IngestHandle {
  /** Bound gRPC port (useful with GRPC_PORT=0). */
  readonly port: number;
  /** Bound ops HTTP port (/metrics /healthz /readyz); 0 without an ops server. */
  readonly opsPort: number;
  /** What /readyz reports: Kafka reachable, the erasure log followed, not draining. */
  ready(): boolean;
  readonly producer: PingProducer;
  /** Erased devices, followed live; their uploads are refused (INGEST_DEVICE_ERASED). */
  readonly erasures: ErasureTable;
  readonly registry: Registry;
  /**
   * Graceful shutdown: readiness and gRPC health turn NOT_SERVING, new calls get UNAVAILABLE
   * `INGEST_DRAINING`, in-flight
   * calls finish (up to SHUTDOWN_GRACE_MS), the producer flushes, then everything closes. Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the whole ingest service in this process: producer, gRPC server, ops server. */
export async function startIngest(
  config: IngestConfig,
  options: StartIngestOptions = {},
): Promise<IngestHandle> {
  const logger = options.logger ?? createLogger('ingest', config.logLevel);
  const registry = options.registry ?? createRegistry('ingest');
  const metrics = createIngestMetrics(registry);
  const keyring = createKeyring(config.deviceKeyVersion, config.deviceKeySecret, config.deviceKeysPrevious);
  const producer = new PingProducer({
    connection: config,
    topic: config.topicIngestion,
    nextTopic: nextIngestionTopic(config),
    produceTimeoutMs: config.produceTimeoutMs,
    lingerMs: config.produceLingerMs,
    maxRecords: config.produceMaxRecords,
    maxConcurrentSends: config.produceMaxConcurrentSends,
    maxInflight: config.maxInflightPings,
    logger,
    metrics,
  });
  // Every erasure acknowledged before start-up is loaded before the first upload can be accepted
  // (uploads get UNAVAILABLE until then); loaded in the background so ingest starts while Kafka is down.
  const erasures = new ErasureTable({
    connection: config,
    topic: config.topicErasures,
    clientId: 'footfall-ingest-erasures',
    registry,
    logger,
  });
  erasures.startInBackground();
  const closers: (() => Promise<void>)[] = [() => erasures.close()];
  await producer.start().catch(async (error: unknown) => {
    await erasures.close();
    throw error;
  });
  closers.push(() => producer.close());
  // With Kafka up, serve only once the erasure log is loaded (a few hundred ms), bounded.
  if (producer.healthy)
    await Promise.race([erasures.whenLoaded(), sleep(ERASURES_LOAD_WAIT_MS, undefined, { ref: false })]);
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse())
      await c().catch((err: unknown) => logger.warn({ err }, 'close'));
  };
  try {
    const server = await createIngestService(config, {
      logger,
      metrics,
      producer,
      keyring,
      limiter: new TokenBucketLimiter({
        ratePerSec: config.rateLimitPingsPerSec,
        burst: config.rateLimitBurstPings,
        maxKeys: config.rateLimitMaxDevices,
      }),
      enrollLimiter: new TokenBucketLimiter({
        ratePerSec: config.enrollPerMin / 60,
        burst: config.enrollBurst,
        maxKeys: config.rateLimitMaxDevices,
      }),
      authenticator: new UploadAuthenticator({
        keyring,
        revokedDeviceIds: config.revokedDeviceIds.filter((id) => id !== '-'),
        isRevoked: erasedDevicesHook(erasures),
        replayWindowMs: config.replayWindowMs,
        clockSkewMs: config.maxClockSkewMs,
        nonceCacheMax: config.nonceCacheMax,
      }),
      attestation: options.attestation ?? new DevAttestationVerifier(config.allowDevAttestation),
    });
    closers.push(() => server.close());
    let draining = false;
    // A cluster worker (cluster.ts) has no ops server of its own: the primary serves them for all.
    const ops =
      options.opsServer === false
        ? undefined
        : await OpsServer.start({
            port: config.opsPort,
            registry,
            readiness: { kafka: () => producer.healthy, erasures: () => erasures.healthy },
          });
    if (ops) closers.push(() => ops.close());
    logger.info(
      {
        grpcPort: server.port,
        opsPort: ops?.port,
        topic: config.topicIngestion,
        nextTopic: nextIngestionTopic(config),
        kafkaUp: producer.healthy,
      },
      'ingest started',
    );
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        logger.info('draining');
        draining = true;
        ops?.drain();
        server.drain();
        // gRPC first (waits for in-flight calls), then the producer (flushes and waits for acks), then
        // the ops server last so /readyz keeps answering 503 while draining.
        closers.splice(0);
        for (const step of [
          () => server.close(),
          () => producer.close(),
          () => erasures.close(),
          async () => ops?.close(),
        ]) {
          await step().catch((err: unknown) => logger.warn({ err }, 'close'));
        }
        logger.info('ingest stopped');
      })();
      return closing;
    };
    return {
      port: server.port,
      opsPort: ops?.port ?? 0,
      producer,
      erasures,
      registry,
      ready: () => !draining && producer.healthy && erasures.healthy,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
