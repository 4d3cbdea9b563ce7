import {
  EnrollRequest,
  EnrollResponse,
  type RejectReason,
  UploadRequest,
  UploadResponse,
} from '@footfall/contracts';
import type { Logger } from '@footfall/observability';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { admissionInterceptor, type EarlyRefusal, refusalTrailers } from './admission.ts';
import type { AttestationVerifier, UploadAuthenticator } from './auth.ts';
import type { IngestConfig } from './config.ts';
import { type DeviceKeyring, deriveDeviceSecret, issueUserToken, newDeviceId } from './credentials.ts';
import { NextGenerationRouter, nextIngestionTopic } from './dual-write.ts';
import { INGEST_ERRORS, IngestError } from './errors.ts';
import { EventLoopShedder } from './load-shedder.ts';
import type { IngestMetrics } from './metrics.ts';
import { type BatchContext, maxUploadResponseBytes, prepareBatch } from './prepare-batch.ts';
import type { PingProducer } from './producer.ts';
import type { TokenBucketLimiter } from './rate-limit.ts';
import { RegionRouter } from './router.ts';
import { rejectReasonName } from './validate.ts';

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
  /** Enroll calls per source address. */
  enrollLimiter: TokenBucketLimiter;
  attestation: AttestationVerifier;
  keyring: DeviceKeyring;
}

export interface IngestServer {
  readonly port: number;
  readonly health: HealthImplementation;
  /** New calls get UNAVAILABLE `INGEST_DRAINING`; health turns NOT_SERVING. */
  drain(): void;
  /**
   * Drains, waits up to `graceMs` for in-flight calls (calls arriving meanwhile still get the
   * INGEST_DRAINING detail, so clients retry elsewhere at once), then shuts the transport down.
   */
  close(graceMs?: number): Promise<void>;
}

const codeName = (code: grpc.status): string => grpc.status[code] ?? String(code);

/**
 * EnrollResponse is bounded by construction: a device id (≤ 31 chars), a 32-byte secret and a user
 * token (a JWT of ~300 characters). 4 KiB leaves room for a longer key version or token claims.
 */
export const MAX_ENROLL_RESPONSE_BYTES = 4 * 1024;

/** The server's gRPC send limit: the largest UploadResponse or EnrollResponse it can send. */
export function maxSendMessageBytes(maxBatchPings: number): number {
  return Math.max(maxUploadResponseBytes(maxBatchPings), MAX_ENROLL_RESPONSE_BYTES);
}

/** "ipv4:1.2.3.4:5678" / "ipv6:[::1]:5678" → the address without the port (the Enroll rate-limit key). */
export function peerAddress(peer: string): string {
  const at = peer.lastIndexOf(':');
  return at > 0 ? peer.slice(0, at) : peer;
}

/** Builds and binds the gRPC server (Enroll, Upload, grpc.health.v1). */
export async function createIngestService(
  config: IngestConfig,
  deps: IngestServiceDeps,
): Promise<IngestServer> {
  const { logger, metrics, producer, authenticator, limiter } = deps;
  let draining = false;

  // Upload calls in progress. Admission is checked before any work (decode, HMAC, nonce cache): under
  // overload the cheap answer is the refusal; admitting every call let thousands queue on the event loop
  // until clients hit their deadlines (issue 20 item 5: DEADLINE_EXCEEDED and transport errors).
  let uploadsInFlight = 0;
  // Out of CPU, every answer comes late, refusals included; refusing before any work while the event
  // loop runs late keeps answers (with their retry hint) ahead of the clients' deadlines (load-shedder.ts).
  const shedder = new EventLoopShedder({ maxDelayMs: config.shedEventLoopDelayMs });
  const overloaded = (why: string) =>
    new IngestError('INGEST_OVERLOADED', `${why}; retry in ${config.overloadRetryAfterMs} ms`, {
      retryAfterMs: config.overloadRetryAfterMs,
    });
  // The same two checks, made when the call's headers arrive (admission.ts): the refusal is answered
  // before the body is read and the handler never runs. The handler checks again (admittedUpload): calls
  // admitted here but still receiving their body are not in `uploadsInFlight` yet.
  const overloadTrailers = refusalTrailers('INGEST_OVERLOADED', config.overloadRetryAfterMs, {
    errorCode: ERROR_CODE_HEADER,
    retryAfter: RETRY_AFTER_HEADER,
  });
  const earlyRefusal = (why: string): EarlyRefusal => ({
    code: INGEST_ERRORS.INGEST_OVERLOADED.status,
    details: `INGEST_OVERLOADED: ${why}; retry in ${config.overloadRetryAfterMs} ms`,
    metadata: overloadTrailers,
  });
  const tooManyUploads = earlyRefusal(`${config.maxInflightUploads} uploads in progress`);
  const refuseEarly = (): EarlyRefusal | undefined => {
    if (draining) return undefined; // the handler answers INGEST_DRAINING
    if (uploadsInFlight >= config.maxInflightUploads) return tooManyUploads;
    if (shedder.late) return earlyRefusal(`event loop ${Math.round(shedder.lastDelayMs)} ms late`);
    return undefined;
  };
  const refusedEarly = (refusal: EarlyRefusal) =>
    metrics.requests.inc({ method: 'Upload', code: codeName(refusal.code) });

  const server = new grpc.Server({
    interceptors: [admissionInterceptor(definition.Upload.path, refuseEarly, refusedEarly)],
    // channelz (on by default) keeps per-call and per-connection bookkeeping on every call, refusals
    // included; nothing here reads it.
    'grpc.enable_channelz': 0,
    'grpc.max_receive_message_length': config.maxMessageBytes,
    // From the largest response the service can build (docs/ingest.md): an upload Kafka accepted must
    // never fail on its own response (it did with a fixed 64 KiB and unbounded rejection lists).
    'grpc.max_send_message_length': maxSendMessageBytes(config.maxBatchPings),
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

  const batchContext: BatchContext = {
    topic: config.topicIngestion,
    cellResolution: config.cellResolution,
    limits: config,
    router: new RegionRouter(config),
  };
  const nextTopic = nextIngestionTopic(config);
  const nextGeneration = nextTopic === undefined ? undefined : new NextGenerationRouter(nextTopic);

  // Calls being handled: close() waits for them before shutting the transport down.
  let active = 0;
  let whenIdle: (() => void) | undefined;
  function reply<T>(method: string, callback: grpc.sendUnaryData<T>, work: () => Promise<T>): void {
    active++;
    work()
      .then(
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
          if (e.retryAfterMs !== undefined) trailers.set(RETRY_AFTER_HEADER, String(e.retryAfterMs));
          callback({ code: e.grpcStatus, details: `${e.code}: ${e.message}`, metadata: trailers });
        },
      )
      // After the answer was handed to grpc-js, so close() never shuts the transport before it.
      .finally(() => {
        if (--active === 0) whenIdle?.();
      })
      .catch((err: unknown) => logger.error({ err, method }, 'answering the call failed'));
  }

  async function enroll(bytes: Buffer, peer: string): Promise<EnrollResponse> {
    if (draining) throw new IngestError('INGEST_DRAINING', 'shutting down');
    // Per source address: enrollment mints identities and may call a quota-limited attestation API.
    // (Behind a proxy that does not preserve addresses, the source is the proxy: size the limit for it.)
    const waitMs = deps.enrollLimiter.take(peerAddress(peer), 1, Date.now());
    if (waitMs > 0) {
      const error = new IngestError(
        'INGEST_RATE_LIMITED',
        `more than ${config.enrollPerMin} enrollments/min from this address; retry in ${waitMs} ms`,
      );
      throw Object.assign(error, { retryAfterMs: waitMs });
    }
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

  async function admittedUpload(bytes: Buffer, deadline: grpc.Deadline): Promise<UploadResponse> {
    if (draining) throw new IngestError('INGEST_DRAINING', 'shutting down');
    if (uploadsInFlight >= config.maxInflightUploads) {
      throw overloaded(`${config.maxInflightUploads} uploads in progress`);
    }
    if (shedder.late) throw overloaded(`event loop ${Math.round(shedder.lastDelayMs)} ms late`);
    metrics.inflightUploads.set(++uploadsInFlight);
    try {
      return await upload(bytes, deadline);
    } catch (error) {
      // Kafka slow or down is backpressure too: tell the client when to come back.
      if (
        error instanceof IngestError &&
        (error.code === 'INGEST_KAFKA_UNAVAILABLE' || error.code === 'INGEST_OUTCOME_UNKNOWN')
      ) {
        error.retryAfterMs ??= config.overloadRetryAfterMs;
      }
      throw error;
    } finally {
      metrics.inflightUploads.set(--uploadsInFlight);
    }
  }

  async function upload(bytes: Buffer, deadline: grpc.Deadline): Promise<UploadResponse> {
    const receivedAtMs = Date.now();
    let request: UploadRequest;
    try {
      request = UploadRequest.decode(bytes);
    } catch (error) {
      throw new IngestError('INGEST_MALFORMED', 'not a valid UploadRequest', { cause: error });
    }
    const {
      deviceId,
      bytes: batchBytes,
      header,
    } = authenticator.authenticate(request.deviceId, request.batch, request.signature, receivedAtMs);
    metrics.nonces.set(authenticator.nonces.size);
    const pingCount = header.pingRanges.length / 2;
    if (pingCount === 0) throw new IngestError('INGEST_EMPTY_BATCH', 'the batch has no pings');
    if (pingCount > config.maxBatchPings) {
      throw new IngestError(
        'INGEST_TOO_MANY_PINGS',
        `${pingCount} pings in one batch, at most ${config.maxBatchPings} allowed`,
      );
    }
    metrics.uploadBatchPings.observe(pingCount);

    const waitMs = limiter.take(deviceId, pingCount, receivedAtMs);
    if (waitMs > 0) {
      const error = new IngestError(
        'INGEST_RATE_LIMITED',
        `more than ${config.rateLimitPingsPerSec} pings/s for this device; retry in ${Number.isFinite(waitMs) ? waitMs : '∞'} ms`,
      );
      if (Number.isFinite(waitMs)) Object.assign(error, { retryAfterMs: waitMs });
      throw error;
    }
    const partitions = producer.partitions;
    if (partitions === undefined)
      throw new IngestError('INGEST_KAFKA_UNAVAILABLE', 'Kafka not reachable yet; retry');
    const { records, rejected, rejectedCount, rejectedByReason } = prepareBatch(
      batchBytes,
      header.pingRanges,
      deviceId,
      receivedAtMs,
      partitions,
      batchContext,
    );
    if (rejectedCount > 0) {
      rejectedByReason.forEach((count, reason) => {
        if (count) metrics.pingsRejected.inc({ reason: rejectReasonName(reason as RejectReason) }, count);
      });
    }
    if (records.length === 0) return { accepted: 0, rejected, rejectedCount };
    let outgoing = records;
    if (nextGeneration !== undefined) {
      const nextPartitions = producer.nextPartitions;
      if (nextPartitions === undefined)
        throw new IngestError('INGEST_KAFKA_UNAVAILABLE', 'Kafka not reachable yet; retry');
      outgoing = nextGeneration.withCopies(records, nextPartitions);
    }

    if (!producer.admit(outgoing.length)) {
      throw overloaded(`${config.maxInflightPings} pings waiting for Kafka`);
    }
    // Wait for Kafka at most PRODUCE_TIMEOUT_MS (or the caller's deadline, if sooner). send() takes the
    // reservation over (released when its Kafka send settles); on the timeout it withdraws records not
    // yet handed to Kafka (UNAVAILABLE: not written) and answers OUTCOME_UNKNOWN for the rest.
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const budget = Math.max(
      0,
      Math.min(config.produceTimeoutMs, (Number.isFinite(deadlineMs) ? deadlineMs : Infinity) - Date.now()),
    );
    await producer.send(outgoing, Math.round(budget));
    metrics.pingsAccepted.inc(records.length);
    return { accepted: records.length, rejected, rejectedCount };
  }

  server.addService(definition, {
    Enroll: (
      call: grpc.ServerUnaryCall<Buffer, EnrollResponse>,
      callback: grpc.sendUnaryData<EnrollResponse>,
    ) => reply('Enroll', callback, () => enroll(call.request, call.getPeer())),
    Upload: (
      call: grpc.ServerUnaryCall<Buffer, UploadResponse>,
      callback: grpc.sendUnaryData<UploadResponse>,
    ) => reply('Upload', callback, () => admittedUpload(call.request, call.getDeadline())),
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
      shedder.close();
      const startedMs = Date.now();
      // Keep the transport up until the in-flight calls are done: shutting it down at once answered
      // new calls with a bare UNAVAILABLE (no INGEST_DRAINING detail) from grpc-js itself.
      if (active > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          timer.unref();
          whenIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        whenIdle = undefined;
      }
      graceMs = Math.max(0, graceMs - (Date.now() - startedMs));
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
