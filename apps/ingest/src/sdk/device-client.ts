// The device SDK: what the mobile app (and the simulator, tests, bench) use to talk to ingest.
// Enroll once, keep the identity in secure storage, then `upload()` batches of pings.

import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Activity,
  EnrollRequest,
  EnrollResponse,
  type Ping,
  PingBatch,
  UploadRequest,
  UploadResponse,
} from '@footfall/contracts';
import * as grpc from '@grpc/grpc-js';
import pRetry from 'p-retry';
import { signBatch } from '../credentials.ts';

const SERVICE = '/footfall.ingest.v1.IngestService';

/** What a device keeps after enrolling. `deviceSecret` never leaves the device. */
export interface DeviceIdentity {
  deviceId: string;
  deviceSecret: Uint8Array;
  /** Bearer token for the query API's "my time" endpoints. */
  userToken: string;
}

/** A ping to upload; a missing `pingId` is generated once (and kept across retries). */
export type PingInput = Omit<Ping, 'pingId' | 'activity'> & { pingId?: string; activity?: Activity };

export interface DeviceClientOptions {
  /** `host:port` of the ingest service. */
  target: string;
  /** A previously enrolled identity; otherwise call `enroll()` first. */
  identity?: DeviceIdentity;
  /** Default: insecure (plaintext), for local use. Production uses TLS. */
  credentials?: grpc.ChannelCredentials;
  /** Per-attempt deadline, ms. Default 10 000. */
  deadlineMs?: number;
  /** Attempts per upload (UNAVAILABLE / DEADLINE_EXCEEDED are retried). Default 6. */
  maxAttempts?: number;
  /** First backoff, ms; doubles per attempt (times a random 1-2), capped by `maxBackoffMs`. Default 100. */
  initialBackoffMs?: number;
  /** Default 5 000. */
  maxBackoffMs?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

export interface UploadResult extends UploadResponse {
  /** The ping ids sent (generated ones included), in request order. */
  pingIds: string[];
  /** Attempts it took (1 = no retry). */
  attempts: number;
  /**
   * Failed attempts before the last whose outcome was unknown ({@link DeviceClientError.outcomeUnknown}):
   * their pings may be in Kafka once more than this answer says, as duplicates that the pipeline
   * drops by ping id. 0 means exactly once.
   */
  unknownAttempts: number;
}

/** Options of {@link DeviceClient.upload}. */
export interface UploadOptions {
  signal?: AbortSignal;
  /** Called for every failed attempt (the last included) with its error, before any retry. */
  onAttemptFailed?: (error: unknown, attempt: number) => void;
}

/** A failed call: the gRPC status, the service's `INGEST_*` code when it sent one. */
export class DeviceClientError extends Error {
  override name = 'DeviceClientError';
  readonly code: grpc.status;
  readonly errorCode: string | undefined;
  /** The server's `footfall-retry-after-ms` hint (overload, rate limit, Kafka unavailable). */
  readonly retryAfterMs: number | undefined;
  constructor(error: grpc.ServiceError) {
    super(error.details || error.message, { cause: error });
    this.code = error.code;
    const value = error.metadata?.get('footfall-error-code')[0];
    this.errorCode = typeof value === 'string' ? value : undefined;
    const retryAfter = Number(error.metadata?.get('footfall-retry-after-ms')[0]);
    this.retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined;
  }

  /**
   * True when the upload may have been written although it failed: the server said so
   * (`INGEST_OUTCOME_UNKNOWN`), or the call failed without a server answer (deadline, cancelled,
   * connection lost) so nothing tells whether ingest got as far as Kafka. False when the server
   * answered with any other code: those promise that nothing was written.
   */
  get outcomeUnknown(): boolean {
    return this.errorCode === undefined || this.errorCode === 'INGEST_OUTCOME_UNKNOWN';
  }
}

/** 16 random bytes, base64url (22 chars): a valid ping id or nonce. */
export function newPingId(): string {
  return randomBytes(16).toString('base64url');
}

const RETRYABLE = new Set<grpc.status>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

/**
 * Builds the signed request bytes for a batch. Exposed for tests and other SDKs: encode the PingBatch
 * once, sign exactly those bytes, send both.
 */
export function buildUploadRequest(
  identity: DeviceIdentity,
  pings: Ping[],
  nowMs = Date.now(),
  nonce = newPingId(),
): Buffer {
  const batch = PingBatch.encode({ deviceId: identity.deviceId, nonce, sentAtMs: nowMs, pings }).finish();
  const signature = signBatch(identity.deviceSecret, batch);
  return Buffer.from(
    UploadRequest.encode({ deviceId: identity.deviceId, batch: Buffer.from(batch), signature }).finish(),
  );
}

export class DeviceClient {
  readonly #client: grpc.Client;
  readonly #options: Required<Omit<DeviceClientOptions, 'identity' | 'credentials' | 'channelOptions'>>;
  #identity: DeviceIdentity | undefined;

  constructor(options: DeviceClientOptions) {
    this.#client = new grpc.Client(options.target, options.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      ...options.channelOptions,
    });
    this.#identity = options.identity;
    this.#options = {
      target: options.target,
      deadlineMs: options.deadlineMs ?? 10_000,
      maxAttempts: options.maxAttempts ?? 6,
      initialBackoffMs: options.initialBackoffMs ?? 100,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
    };
  }

  get identity(): DeviceIdentity | undefined {
    return this.#identity;
  }

  #call(method: string, body: Buffer, deadlineMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        `${SERVICE}/${method}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + deadlineMs },
        (error, response) => (error ? reject(new DeviceClientError(error)) : resolve(response as Buffer)),
      );
    });
  }

  /**
   * Registers this install and keeps the identity on the client. `attestation` is the platform token
   * (App Attest / Play Integrity / App Check); the "dev" platform needs none but only works on servers
   * started with ALLOW_DEV_ATTESTATION=true.
   */
  async enroll(
    options: { installId?: string; platform?: string; attestation?: Uint8Array } = {},
  ): Promise<DeviceIdentity> {
    const request = EnrollRequest.encode({
      installId: options.installId ?? randomUUID(),
      platform: options.platform ?? 'dev',
      attestation: Buffer.from(options.attestation ?? new Uint8Array()),
    }).finish();
    const response = EnrollResponse.decode(
      await this.#call('Enroll', Buffer.from(request), this.#options.deadlineMs),
    );
    this.#identity = {
      deviceId: response.deviceId,
      deviceSecret: new Uint8Array(response.deviceSecret),
      userToken: response.userToken,
    };
    return this.#identity;
  }

  /**
   * Signs and uploads one batch. Retries UNAVAILABLE / DEADLINE_EXCEEDED with exponential backoff
   * (p-retry), and any refusal carrying `footfall-retry-after-ms` no sooner than that hint: each
   * attempt is re-signed with a fresh nonce and sent_at_ms, the ping ids stay the same, so a batch that
   * did land before an `outcomeUnknown` failure is recognised downstream as duplicates
   * (`unknownAttempts` in the result counts such attempts).
   */
  async upload(pings: PingInput[], options: UploadOptions = {}): Promise<UploadResult> {
    const identity = this.#identity;
    if (!identity) throw new Error('DeviceClient.upload: enroll() first or pass an identity');
    const full: Ping[] = pings.map((p) => ({
      ...p,
      pingId: p.pingId ?? newPingId(),
      activity: p.activity ?? 0,
    }));
    const pingIds = full.map((p) => p.pingId);
    const { signal } = options;
    let unknownAttempts = 0;
    const retryable = (error: unknown) =>
      error instanceof DeviceClientError &&
      // RESOURCE_EXHAUSTED with a hint (overloaded, rate-limited) is worth retrying after the hint.
      (RETRYABLE.has(error.code) || error.retryAfterMs !== undefined);
    return pRetry(
      async (attempt) => {
        const response = UploadResponse.decode(
          await this.#call('Upload', buildUploadRequest(identity, full), this.#options.deadlineMs),
        );
        // The server lists rejections by index only (bounded response); fill in the ids for callers.
        const rejected = response.rejected.map((r) => ({ ...r, pingId: pingIds[r.index] ?? '' }));
        return { ...response, rejected, pingIds, attempts: attempt, unknownAttempts };
      },
      {
        retries: this.#options.maxAttempts - 1,
        minTimeout: this.#options.initialBackoffMs,
        maxTimeout: this.#options.maxBackoffMs,
        factor: 2,
        randomize: true,
        ...(signal ? { signal } : {}),
        shouldRetry: ({ error }) => retryable(error),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          options.onAttemptFailed?.(error, attemptNumber);
          if (error instanceof DeviceClientError && error.outcomeUnknown) unknownAttempts++;
          // p-retry's backoff follows; the server's hint is a floor on top of it.
          if (retriesLeft > 0 && retryable(error) && (error as DeviceClientError).retryAfterMs) {
            await sleep((error as DeviceClientError).retryAfterMs, undefined, signal ? { signal } : {});
          }
        },
      },
    );
  }

  close(): void {
    this.#client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
