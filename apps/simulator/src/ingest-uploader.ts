import { randomUUID } from 'node:crypto';
import type { Ping } from '@footfall/contracts';
import type { DeviceClient, DeviceClientOptions, DeviceIdentity } from '@footfall/ingest';
import { LRUCache } from 'lru-cache';
import pRetry from 'p-retry';
import type { PingUploader, UploadOutcome } from './uploader.ts';

/** Options of {@link createIngestUploader}. */
export interface IngestUploaderOptions {
  /**
   * gRPC target of the ingest service: `host:port`, or several instances as
   * `ipv4:127.0.0.1:5001,127.0.0.1:5002` (with a round_robin service config in `channelOptions`).
   */
  target: string;
  /** gRPC channel options of every device client (e.g. `grpc.service_config` for round_robin). */
  channelOptions?: DeviceClientOptions['channelOptions'];
  /** Enrollments in flight at most (default 16). */
  enrollConcurrency?: number;
  /** Device clients kept open (LRU; identities are kept for all devices). Default 2000. */
  maxOpenClients?: number;
  /** Platform sent at enrollment (default `dev`: the server needs ALLOW_DEV_ATTESTATION=true). */
  platform?: string;
  /**
   * Prefix of install ids (default a random UUID): two runs with the same seed then enroll distinct
   * devices, so their (deterministic) ping ids never collide downstream.
   */
  runId?: string;
  /** Attempts per upload for retryable refusals (rate limited, overloaded), default 8. */
  maxAttempts?: number;
  /**
   * Called for every failed attempt whose outcome is unknown (`DeviceClientError.outcomeUnknown`:
   * ingest answered INGEST_OUTCOME_UNKNOWN, or the call got no answer): its pings may reach
   * `ingestion` once more than they are acknowledged; ping ids deduplicate them downstream. Attempts
   * refused with any other code wrote nothing, so their retries never duplicate.
   */
  onOutcomeUnknown?: (simDeviceId: string, pings: readonly Ping[], error: unknown) => void;
}

const RETRYABLE_STATUS = new Set([4, 8, 14]); // DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE

/**
 * A {@link PingUploader} over the real ingest service with the device SDK (`DeviceClient`): each
 * simulator device is enrolled once, lazily, with at most `enrollConcurrency` enrollments at a time; a
 * rate-limited or overloaded upload is retried with backoff and the same ping ids.
 */
export class IngestUploader implements PingUploader {
  readonly #options: Required<Omit<IngestUploaderOptions, 'onOutcomeUnknown' | 'channelOptions'>> &
    Pick<IngestUploaderOptions, 'onOutcomeUnknown' | 'channelOptions'>;
  readonly #sdk: typeof import('@footfall/ingest');
  readonly #identities = new Map<string, DeviceIdentity>();
  readonly #enrolling = new Map<string, Promise<DeviceIdentity>>();
  /** Open device clients, least recently used closed first (identities are kept for all devices). */
  readonly #clients: LRUCache<string, DeviceClient>;
  #enrollSlots: number;
  readonly #enrollWaiters: (() => void)[] = [];
  enrolled = 0;
  retriedUploads = 0;
  /** Failed attempts whose outcome was unknown (see `onOutcomeUnknown`). */
  unknownAttempts = 0;

  constructor(sdk: typeof import('@footfall/ingest'), options: IngestUploaderOptions) {
    this.#sdk = sdk;
    this.#options = {
      enrollConcurrency: 16,
      maxOpenClients: 2000,
      platform: 'dev',
      runId: randomUUID(),
      maxAttempts: 8,
      ...options,
    };
    this.#enrollSlots = this.#options.enrollConcurrency;
    this.#clients = new LRUCache<string, DeviceClient>({
      max: this.#options.maxOpenClients,
      dispose: (client) => client.close(),
    });
  }

  deviceIdOf(simDeviceId: string): string | undefined {
    return this.#identities.get(simDeviceId)?.deviceId;
  }

  /** Simulator id → server-issued device id, for every enrolled device. */
  deviceIds(): Map<string, string> {
    return new Map([...this.#identities].map(([k, v]) => [k, v.deviceId]));
  }

  /** The enrolled identity (user token included, for the API's "my time" endpoints). */
  identityOf(simDeviceId: string): DeviceIdentity | undefined {
    return this.#identities.get(simDeviceId);
  }

  async #identity(simDeviceId: string): Promise<DeviceIdentity> {
    const known = this.#identities.get(simDeviceId);
    if (known) return known;
    let pending = this.#enrolling.get(simDeviceId);
    if (pending === undefined) {
      pending = this.#enroll(simDeviceId);
      this.#enrolling.set(simDeviceId, pending);
      pending.then(
        () => this.#enrolling.delete(simDeviceId),
        () => this.#enrolling.delete(simDeviceId),
      );
    }
    return pending;
  }

  #clientOptions(): DeviceClientOptions {
    const { target, channelOptions } = this.#options;
    return channelOptions === undefined ? { target } : { target, channelOptions };
  }

  async #enroll(simDeviceId: string): Promise<DeviceIdentity> {
    if (this.#enrollSlots === 0) await new Promise<void>((resolve) => this.#enrollWaiters.push(resolve));
    else this.#enrollSlots--;
    try {
      const client = new this.#sdk.DeviceClient(this.#clientOptions());
      const identity = await client.enroll({
        installId: `${this.#options.runId}-${simDeviceId}`,
        platform: this.#options.platform,
      });
      this.#identities.set(simDeviceId, identity);
      this.#clients.set(simDeviceId, client);
      this.enrolled++;
      return identity;
    } finally {
      const next = this.#enrollWaiters.shift();
      if (next) next();
      else this.#enrollSlots++;
    }
  }

  async upload(simDeviceId: string, pings: readonly Ping[], signal?: AbortSignal): Promise<UploadOutcome> {
    const identity = await this.#identity(simDeviceId);
    let client = this.#clients.get(simDeviceId);
    if (client === undefined) {
      client = new this.#sdk.DeviceClient({ ...this.#clientOptions(), identity });
      this.#clients.set(simDeviceId, client);
    }
    const open = client;
    // Same ping ids on every attempt, so a retry after an unseen success is deduplicated downstream.
    const onAttemptFailed = (error: unknown) => {
      if (error instanceof this.#sdk.DeviceClientError && error.outcomeUnknown) {
        this.unknownAttempts++;
        this.#options.onOutcomeUnknown?.(simDeviceId, pings, error);
      }
    };
    const r = await pRetry(
      () => open.upload([...pings], { onAttemptFailed, ...(signal ? { signal } : {}) }),
      {
        retries: this.#options.maxAttempts - 1,
        minTimeout: 200,
        maxTimeout: 10_000,
        factor: 2,
        randomize: true,
        ...(signal ? { signal } : {}),
        shouldRetry: ({ error }) => this.#retryable(error),
        onFailedAttempt: ({ error, retriesLeft }) => {
          if (retriesLeft > 0 && this.#retryable(error)) this.retriedUploads++;
        },
      },
    );
    return { accepted: r.accepted, rejected: r.rejected };
  }

  /** Rate limited or overloaded: worth another try; anything else is final. */
  #retryable(error: unknown): boolean {
    return (
      error instanceof this.#sdk.DeviceClientError &&
      (RETRYABLE_STATUS.has(error.code) ||
        (error.errorCode !== undefined &&
          (this.#sdk.INGEST_ERRORS as Record<string, { retryable?: boolean }>)[error.errorCode]?.retryable ===
            true))
    );
  }

  async close(): Promise<void> {
    this.#clients.clear(); // closes each (dispose)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Loads the device SDK (`@footfall/ingest`) and returns an uploader to `options.target`. */
export async function createIngestUploader(options: IngestUploaderOptions): Promise<IngestUploader> {
  const sdk = await import('@footfall/ingest');
  return new IngestUploader(sdk, options);
}
