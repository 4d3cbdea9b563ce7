import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import {
  DEVICE_ID_PATTERN,
  type DeviceKeyring,
  deriveDeviceSecret,
  deviceKeyVersion,
} from './credentials.ts';
import { IngestError } from './errors.ts';
import { NonceCache } from './nonce-cache.ts';
import { type BatchHeader, decodeBatchHeader } from './ping-codec.ts';

// ---------------------------------------------------------------------------------------------------
// Enrollment: platform attestation

export interface AttestationInput {
  installId: string;
  platform: string;
  attestation: Uint8Array;
}

/**
 * Proves that an enrollment comes from our genuine app on a genuine device. Production implementations:
 * iOS App Attest (verify the attestation object's certificate chain to Apple's root and the app id),
 * Android Play Integrity (decrypt/verify the integrity verdict via Google's API), or Firebase App Check.
 * Called once per enrollment, never per upload (attestation is slow and quota-limited).
 * Resolve to accept; throw an IngestError (INGEST_ATTESTATION_FAILED / INGEST_PLATFORM_NOT_ALLOWED) to refuse.
 */
export interface AttestationVerifier {
  verify(input: AttestationInput, signal?: AbortSignal): Promise<void>;
}

/**
 * Development verifier: accepts platform "dev" (no attestation) only when ALLOW_DEV_ATTESTATION=true, and
 * refuses every other platform, because it cannot check real attestations. Never enable in production.
 */
export class DevAttestationVerifier implements AttestationVerifier {
  readonly #allowDev: boolean;
  constructor(allowDev: boolean) {
    this.#allowDev = allowDev;
  }
  async verify(input: AttestationInput): Promise<void> {
    if (input.platform !== 'dev') {
      throw new IngestError(
        'INGEST_PLATFORM_NOT_ALLOWED',
        `platform "${input.platform}" needs a real attestation verifier, none is configured`,
      );
    }
    if (!this.#allowDev) {
      throw new IngestError(
        'INGEST_PLATFORM_NOT_ALLOWED',
        'platform "dev" is disabled (ALLOW_DEV_ATTESTATION=false)',
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Uploads: signature, freshness, replay

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export interface AuthenticatorOptions {
  keyring: DeviceKeyring;
  revokedDeviceIds?: Iterable<string>;
  /**
   * Revocation hook, asked for every upload once its signature is known good, so only the genuine device
   * learns that it was revoked or erased (docs/privacy.md). Synchronous on purpose: it runs per upload, so
   * back it with an in-memory set that the store refreshes, not a query (see {@link erasedDevicesHook}).
   * Return a catalog code to refuse with (PERMISSION_DENIED codes: `INGEST_DEVICE_REVOKED`,
   * `INGEST_DEVICE_ERASED`), or false/undefined to let the upload through; it may throw an IngestError
   * (a retryable UNAVAILABLE while the store cannot answer yet: fail closed).
   */
  isRevoked?: (deviceId: string) => false | undefined | 'INGEST_DEVICE_REVOKED' | 'INGEST_DEVICE_ERASED';
  /** Accepted |now - sent_at_ms|, ms. */
  replayWindowMs: number;
  /** Extra time a nonce is kept past sent_at_ms + replayWindowMs (server clocks differ too), ms. */
  clockSkewMs: number;
  /** Live nonces kept at most; beyond it uploads are refused (INGEST_NONCE_CACHE_FULL), never forgotten early. */
  nonceCacheMax: number;
}

export interface AuthenticatedBatch {
  deviceId: string;
  /** The signed PingBatch bytes (a view, no copy). */
  bytes: Buffer;
  /** The signed PingBatch's envelope; its pings are still bytes (see prepare-batch.ts). */
  header: BatchHeader;
}

const SECRET_CACHE_MAX = 100_000;

/**
 * Checks an UploadRequest before anything else looks at it, in this order (cheapest refusal first, and
 * the signed bytes are decoded only once the signature is known good): device id → key version /
 * revocation → HMAC over the exact `batch` bytes → erasure → decode → device binding → nonce → time window → replay.
 */
export class UploadAuthenticator {
  readonly #keyring: DeviceKeyring;
  readonly #revoked: ReadonlySet<string>;
  readonly #isRevoked: AuthenticatorOptions['isRevoked'];
  readonly #windowMs: number;
  readonly #retainMs: number;
  readonly nonces: NonceCache;
  /**
   * device id → its derived secret as a KeyObject. Deriving is an HMAC and importing a raw key into an
   * HMAC costs about as much again, per upload; both depend only on the device id and the keyring, which
   * is fixed for the life of the process (revocation is checked before the cache). Bounded: the least
   * recently uploading device is dropped beyond SECRET_CACHE_MAX (a miss only costs one derivation).
   */
  readonly #secrets = new LRUCache<string, KeyObject>({ max: SECRET_CACHE_MAX });

  constructor(options: AuthenticatorOptions) {
    this.#keyring = options.keyring;
    this.#revoked = new Set(options.revokedDeviceIds ?? []);
    this.#isRevoked = options.isRevoked;
    this.#windowMs = options.replayWindowMs;
    this.#retainMs = options.replayWindowMs + options.clockSkewMs;
    this.nonces = new NonceCache({ max: options.nonceCacheMax });
  }

  authenticate(
    deviceId: string,
    batch: Uint8Array,
    signature: Uint8Array,
    nowMs: number,
  ): AuthenticatedBatch {
    const batchBytes = Buffer.isBuffer(batch)
      ? batch
      : Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength);
    if (!DEVICE_ID_PATTERN.test(deviceId)) {
      throw new IngestError('INGEST_BAD_DEVICE_ID', 'device_id is not a well-formed device id');
    }
    if (this.#revoked.has(deviceId)) throw new IngestError('INGEST_DEVICE_REVOKED', 'device is revoked');
    let secret = this.#secrets.get(deviceId);
    if (!secret) {
      const raw = deriveDeviceSecret(this.#keyring, deviceId);
      if (!raw) {
        throw new IngestError(
          'INGEST_DEVICE_REVOKED',
          `device key version "${deviceKeyVersion(deviceId)}" is not accepted any more: enroll again`,
        );
      }
      secret = createSecretKey(raw);
      this.#secrets.set(deviceId, secret);
    }
    // Same check as verifyBatchSignature (32-byte HMAC-SHA256, constant-time), with the cached key.
    if (
      signature.length !== 32 ||
      !timingSafeEqual(createHmac('sha256', secret).update(batchBytes).digest(), signature)
    ) {
      throw new IngestError('INGEST_BAD_SIGNATURE', 'signature does not match the batch for this device');
    }
    // After the signature: only the device itself learns that it was revoked or erased (docs/privacy.md).
    const revoked = this.#isRevoked?.(deviceId);
    if (revoked) {
      throw new IngestError(
        revoked,
        revoked === 'INGEST_DEVICE_ERASED'
          ? 'this device was erased; enroll again for a new identity'
          : 'device is revoked: enroll again',
      );
    }
    const header = decodeBatchHeader(batchBytes);
    if (header.deviceId !== deviceId) {
      throw new IngestError('INGEST_DEVICE_MISMATCH', 'batch.device_id does not match device_id');
    }
    if (!NONCE_PATTERN.test(header.nonce)) {
      throw new IngestError('INGEST_BAD_NONCE', 'nonce must be 16-64 url-safe characters');
    }
    const skew = nowMs - header.sentAtMs;
    if (!Number.isFinite(skew) || Math.abs(skew) > this.#windowMs) {
      throw new IngestError(
        'INGEST_EXPIRED',
        `sent_at_ms is ${Math.round(skew / 1000)} s from server time (window ±${this.#windowMs / 1000} s): check the clock and re-sign`,
      );
    }
    // Kept until the batch could no longer pass the freshness check above (plus skew), whatever the
    // receive time: a nonce that expired earlier let the same signed batch in twice (issue 15).
    const verdict = this.nonces.add(`${deviceId}/${header.nonce}`, header.sentAtMs + this.#retainMs, nowMs);
    if (verdict === 'replayed') {
      throw new IngestError(
        'INGEST_REPLAYED',
        'nonce already used: sign each upload (and retry) with a fresh nonce',
      );
    }
    if (verdict === 'full') {
      throw new IngestError(
        'INGEST_NONCE_CACHE_FULL',
        `this instance holds NONCE_CACHE_MAX (${this.nonces.max}) live nonces; retry with backoff`,
      );
    }
    return { deviceId, bytes: batchBytes, header };
  }
}

/** What {@link erasedDevicesHook} reads: the erasure log's table of erased devices (packages/erasure). */
export interface ErasedDevices {
  has(deviceId: string): boolean;
  /** False until the log was read to its end once: until then nobody can be told apart from an erased device. */
  readonly loaded: boolean;
}

/**
 * The revocation hook backed by the erasure log: erased devices get INGEST_DEVICE_ERASED; until the log is
 * loaded every upload gets the retryable INGEST_KAFKA_UNAVAILABLE (fail closed).
 */
export function erasedDevicesHook(erased: ErasedDevices): NonNullable<AuthenticatorOptions['isRevoked']> {
  return (deviceId) => {
    if (!erased.loaded) {
      throw new IngestError('INGEST_KAFKA_UNAVAILABLE', 'erasure log not loaded yet (Kafka); retry');
    }
    return erased.has(deviceId) && 'INGEST_DEVICE_ERASED';
  };
}
