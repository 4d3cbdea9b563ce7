import { BinaryWriter } from '@bufbuild/protobuf/wire';
import {
  EnrollRequest,
  EnrollResponse,
  PingRecord,
  UploadRequest,
  UploadResponse,
} from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { latLngToCell } from 'h3-js';
import type { AttestationVerifier, UploadAuthenticator } from './auth.ts';
import type { IngestConfig } from './config.ts';
import { type DeviceKeyring, deriveDeviceSecret, issueUserToken, newDeviceId } from './credentials.ts';
import { IngestError } from './errors.ts';
import type { IngestMetrics } from './metrics.ts';
import type { OutgoingRecord, PingProducer } from './producer.ts';
import type { TokenBucketLimiter } from './rate-limit.ts';
import { rejectReasonName, validateBatch } from './validate.ts';

export const INGEST_SERVICE_NAME = 'footfall.ingest.v1.IngestService';
export const ERROR_CODE_HEADER = 'footfall-error-code';
export const RETRY_AFTER_HEADER = 'footfall-retry-after-ms';

const identity = (b: Buffer): Buffer => b;

/**
 * Our service definition: the generated one, except that requests arrive as raw bytes. grpc-js turns a
 * throwing deserializer into INTERNAL; decoding inside the handler lets garbage become INVALID_ARGUMENT.
 */
const definition = {
  Enroll: {
    path: `/${INGEST_SERVICE_NAME}/Enroll`,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: (m: EnrollResponse) => Buffer.from(EnrollResponse.encode(m).finish()),
    responseDeserialize: (b: Buffer) => EnrollResponse.decode(b),
  },
  Upload: {
    path: `/${INGEST_SERVICE_NAME}/Upload`,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: (m: UploadResponse) => Buffer.from(UploadResponse.encode(m).finish()),
    responseDeserialize: (b: Buffer) => UploadResponse.decode(b),
  },
} satisfies grpc.ServiceDefinition;

export interface IngestServiceDeps {
  logger: Logger;
  metrics: IngestMetrics;
  producer: PingProducer;
  authenticator: UploadAuthenticator;
  limiter: TokenBucketLimiter;
  attestation: AttestationVerifier;
  keyring: DeviceKeyring;
}

export interface IngestServer {
  readonly port: number;
  readonly health: HealthImplementation;
  /** Stops accepting new calls (they get UNAVAILABLE) and marks health NOT_SERVING. */
  drain(): void;
  /** Drains, waits up to `graceMs` for in-flight calls, then force-closes. */
  close(graceMs?: number): Promise<void>;
}

const codeName = (code: grpc.status): string => grpc.status[code] ?? String(code);

/** Builds and binds the gRPC server (Enroll, Upload, grpc.health.v1). */
export async function createIngestService(
  config: IngestConfig,
  deps: IngestServiceDeps,
): Promise<IngestServer> {
  const { logger, metrics, producer, authenticator, limiter } = deps;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': 64 * 1024,
    // Server pings idle connections so dead phones/NATs are noticed and their HTTP/2 state freed.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    // Recycle long-lived connections so clients rebalance across replicas after a scale-out.
    'grpc.max_connection_age_ms': 10 * 60_000,
    'grpc.max_connection_age_grace_ms': 30_000,
    'grpc.max_connection_idle_ms': 5 * 60_000,
    'grpc.max_concurrent_streams': 1_000,
  });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [INGEST_SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  let draining = false;
  const setServing = (serving: boolean) => {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', s);
    health.setStatus(INGEST_SERVICE_NAME, s);
  };
  // gRPC health follows Kafka reachability (and draining), like /readyz.
  let lastServing: boolean | undefined;
  const healthTimer = setInterval(() => {
    const serving = !draining && producer.healthy;
    if (serving !== lastServing) setServing(serving);
    lastServing = serving;
  }, 250);
  healthTimer.unref();
  lastServing = producer.healthy;
  setServing(lastServing);

  // Region → key bytes and partition; regions are few (res 5: ~250 km² each), so this stays small. (Keyed
  // by region, not cell: at res 10 a city has ~10⁵ cells, a per-cell cache thrashes -- measured slower.)
  const regionCache = new Map<string, { key: Buffer; partition: number; partitions: number }>();
  const routeOf = (cell: string, partitions: number) => {
    const region = regionOf(cell, config.regionResolution);
    let route = regionCache.get(region);
    if (!route || route.partitions !== partitions) {
      if (regionCache.size > 100_000) regionCache.clear();
      route = { key: Buffer.from(region), partition: javaPartition(region, partitions), partitions };
      regionCache.set(region, route);
    }
    return route;
  };
  // One protobuf writer for every PingRecord (see upload).
  const writer = new BinaryWriter();

  function reply<T>(method: string, callback: grpc.sendUnaryData<T>, work: () => Promise<T>): void {
    work().then(
      (response) => {
        metrics.requests.inc({ method, code: 'OK' });
        callback(null, response);
      },
      (error: unknown) => {
        const e = IngestError.from(error);
        if (e.code === 'INGEST_INTERNAL') logger.error({ err: error, method }, 'internal error');
        else logger.debug({ code: e.code, method, msg: e.message }, 'refused');
        metrics.requests.inc({ method, code: codeName(e.grpcStatus) });
        const trailers = new grpc.Metadata();
        trailers.set(ERROR_CODE_HEADER, e.code);
        const retryAfter = (e as IngestError & { retryAfterMs?: number }).retryAfterMs;
        if (retryAfter !== undefined) trailers.set(RETRY_AFTER_HEADER, String(retryAfter));
        callback({ code: e.grpcStatus, details: `${e.code}: ${e.message}`, metadata: trailers });
      },
    );
  }

  async function enroll(bytes: Buffer): Promise<EnrollResponse> {
    if (draining) throw new IngestError('INGEST_DRAINING', 'shutting down');
    let request: EnrollRequest;
    try {
      request = EnrollRequest.decode(bytes);
    } catch (error) {
      throw new IngestError('INGEST_MALFORMED', 'not a valid EnrollRequest', { cause: error });
    }
    if (!/^[\x21-\x7e]{1,128}$/.test(request.installId) || !/^[a-z]{1,16}$/.test(request.platform)) {
      throw new IngestError(
        'INGEST_BAD_ENROLLMENT',
        'install_id (1-128 printable) and platform are required',
      );
    }
    await deps.attestation.verify(request);
    const deviceId = newDeviceId(deps.keyring.current);
    const deviceSecret = deriveDeviceSecret(deps.keyring, deviceId) as Buffer;
    const userToken = await issueUserToken(config.userTokenSecret, deviceId, config.userTokenTtlS);
    logger.info({ deviceId, platform: request.platform }, 'device enrolled');
    return { deviceId, deviceSecret, userToken };
  }

  async function upload(bytes: Buffer, deadline: grpc.Deadline): Promise<UploadResponse> {
    if (draining) throw new IngestError('INGEST_DRAINING', 'shutting down');
    const receivedAtMs = Date.now();
    let request: UploadRequest;
    try {
      request = UploadRequest.decode(bytes);
    } catch (error) {
      throw new IngestError('INGEST_MALFORMED', 'not a valid UploadRequest', { cause: error });
    }
    const { deviceId, batch } = authenticator.authenticate(
      request.deviceId,
      request.batch,
      request.signature,
      receivedAtMs,
    );
    const { accepted, rejected } = validateBatch(batch, receivedAtMs, config);
    metrics.uploadBatchPings.observe(batch.pings.length);
    for (const r of rejected) metrics.pingsRejected.inc({ reason: rejectReasonName(r.reason) });

    const waitMs = limiter.take(deviceId, batch.pings.length, receivedAtMs);
    if (waitMs > 0) {
      const error = new IngestError(
        'INGEST_RATE_LIMITED',
        `more than ${config.rateLimitPingsPerSec} pings/s for this device; retry in ${Number.isFinite(waitMs) ? waitMs : '∞'} ms`,
      );
      if (Number.isFinite(waitMs)) Object.assign(error, { retryAfterMs: waitMs });
      throw error;
    }
    if (accepted.length === 0) return { accepted: 0, rejected };

    const partitions = producer.partitions;
    if (partitions === undefined)
      throw new IngestError('INGEST_KAFKA_UNAVAILABLE', 'Kafka not reachable yet; retry');
    if (!producer.admit(accepted.length)) {
      throw new IngestError('INGEST_OVERLOADED', 'too many pings waiting for Kafka; retry with backoff');
    }
    let sent: Promise<void>;
    try {
      const timestamp = BigInt(receivedAtMs);
      const records: OutgoingRecord[] = new Array(accepted.length);
      for (let i = 0; i < accepted.length; i++) {
        const { ping } = accepted[i] as (typeof accepted)[number];
        const cell = latLngToCell(ping.latitude, ping.longitude, config.cellResolution);
        const route = routeOf(cell, partitions);
        // One writer reused for every record (finish() hands out fresh bytes and resets it); the
        // record value is a view of those bytes, not a second copy.
        const bytes = PingRecord.encode(
          {
            pingId: ping.pingId,
            deviceId,
            eventTimeMs: ping.eventTimeMs,
            receivedAtMs,
            latitude: ping.latitude,
            longitude: ping.longitude,
            accuracyM: ping.accuracyM,
            cell,
            speedMps: ping.speedMps,
            headingDeg: ping.headingDeg,
            altitudeM: ping.altitudeM,
            activity: ping.activity,
          },
          writer,
        ).finish();
        records[i] = {
          key: route.key,
          partition: route.partition,
          timestamp,
          value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        };
      }
      sent = producer.send(records);
    } catch (error) {
      // send() was not reached: give the reservation back.
      producer.release(accepted.length);
      throw error;
    }
    // Wait for Kafka at most PRODUCE_TIMEOUT_MS (or the caller's deadline, if sooner).
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const budget = Math.max(
      0,
      Math.min(config.produceTimeoutMs, (Number.isFinite(deadlineMs) ? deadlineMs : Infinity) - Date.now()),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new IngestError(
              'INGEST_KAFKA_UNAVAILABLE',
              `Kafka did not acknowledge within ${Math.round(budget)} ms; retry`,
            ),
          ),
        budget,
      );
    });
    try {
      await Promise.race([sent, timeout]);
    } finally {
      clearTimeout(timer);
      sent.catch(() => {}); // settled later after a timeout: already answered
    }
    metrics.pingsAccepted.inc(accepted.length);
    return { accepted: accepted.length, rejected };
  }

  server.addService(definition, {
    Enroll: (
      call: grpc.ServerUnaryCall<Buffer, EnrollResponse>,
      callback: grpc.sendUnaryData<EnrollResponse>,
    ) => reply('Enroll', callback, () => enroll(call.request)),
    Upload: (
      call: grpc.ServerUnaryCall<Buffer, UploadResponse>,
      callback: grpc.sendUnaryData<UploadResponse>,
    ) => reply('Upload', callback, () => upload(call.request, call.getDeadline())),
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${config.grpcHost}:${config.grpcPort}`,
      grpc.ServerCredentials.createInsecure(),
      (error, p) => (error ? reject(error) : resolve(p)),
    ),
  );

  const drain = () => {
    if (draining) return;
    draining = true;
    setServing(false);
    lastServing = false;
  };

  return {
    port,
    health,
    drain,
    async close(graceMs = config.shutdownGraceMs) {
      drain();
      clearInterval(healthTimer);
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          logger.warn({ graceMs }, 'in-flight calls did not finish in time; forcing shutdown');
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
