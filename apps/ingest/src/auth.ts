import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { PingBatch } from '@footfall/contracts';
import {
  DEVICE_ID_PATTERN,
  type DeviceKeyring,
  deriveDeviceSecret,
  deviceKeyVersion,
} from './credentials.ts';
import { IngestError } from './errors.ts';

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

/**
 * Remembers (device, nonce) pairs for `ttlMs`, at most `max` of them. A Map iterates in insertion order
 * and every entry has the same TTL, so the oldest entries are the first to expire: eviction only ever
 * looks at the head. If `max` is reached before entries expire, the oldest are forgotten early (counted
 * in `evictedEarly`); a replay of such a nonce is still harmless downstream (ping-id dedup).
 */
export class NonceCache {
  readonly #entries = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;
  evictedEarly = 0;
  constructor(ttlMs: number, max: number) {
    this.#ttlMs = ttlMs;
    this.#max = max;
  }
  get size(): number {
    return this.#entries.size;
  }
  /** True if `key` was new (and is now remembered); false if it was seen within the TTL. */
  add(key: string, nowMs: number): boolean {
    for (const [k, expires] of this.#entries) {
      if (expires > nowMs) break;
      this.#entries.delete(k);
    }
    const expires = this.#entries.get(key);
    if (expires !== undefined && expires > nowMs) return false;
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.evictedEarly++;
    }
    this.#entries.set(key, nowMs + this.#ttlMs);
    return true;
  }
}

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export interface AuthenticatorOptions {
  keyring: DeviceKeyring;
  revokedDeviceIds?: Iterable<string>;
  /** Erased devices (the erasure log, followed live): refused with INGEST_DEVICE_ERASED. */
  erased?: { has(deviceId: string): boolean; readonly loaded: boolean };
  /** Accepted |now - sent_at_ms|, ms; also the nonce TTL. */
  replayWindowMs: number;
  nonceCacheMax: number;
}

export interface AuthenticatedBatch {
  deviceId: string;
  batch: PingBatch;
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
  readonly #erased: { has(deviceId: string): boolean; readonly loaded: boolean } | undefined;
  readonly #windowMs: number;
  readonly nonces: NonceCache;
  /**
   * device id → its derived secret as a KeyObject. Deriving is an HMAC and importing a raw key into an
   * HMAC costs about as much again, per upload; both depend only on the device id and the keyring, which
   * is fixed for the life of the process (revocation is checked before the cache). Bounded: cleared when
   * it reaches SECRET_CACHE_MAX devices.
   */
  readonly #secrets = new Map<string, KeyObject>();

  constructor(options: AuthenticatorOptions) {
    this.#keyring = options.keyring;
    this.#revoked = new Set(options.revokedDeviceIds ?? []);
    this.#erased = options.erased;
    this.#windowMs = options.replayWindowMs;
    this.nonces = new NonceCache(options.replayWindowMs, options.nonceCacheMax);
  }

  authenticate(
    deviceId: string,
    batchBytes: Uint8Array,
    signature: Uint8Array,
    nowMs: number,
  ): AuthenticatedBatch {
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
      if (this.#secrets.size >= SECRET_CACHE_MAX) this.#secrets.clear();
      this.#secrets.set(deviceId, secret);
    }
    // Same check as verifyBatchSignature (32-byte HMAC-SHA256, constant-time), with the cached key.
    if (
      signature.length !== 32 ||
      !timingSafeEqual(createHmac('sha256', secret).update(batchBytes).digest(), signature)
    ) {
      throw new IngestError('INGEST_BAD_SIGNATURE', 'signature does not match the batch for this device');
    }
    // After the signature: only the device itself learns that it was erased (docs/privacy.md).
    if (this.#erased && !this.#erased.loaded) {
      // Fail closed: until the log is read we cannot tell an erased device from any other.
      throw new IngestError('INGEST_KAFKA_UNAVAILABLE', 'erasure log not loaded yet (Kafka); retry');
    }
    if (this.#erased?.has(deviceId)) {
      throw new IngestError(
        'INGEST_DEVICE_ERASED',
        'this device was erased; enroll again for a new identity',
      );
    }
    let batch: PingBatch;
    try {
      batch = PingBatch.decode(batchBytes);
    } catch (error) {
      throw new IngestError('INGEST_MALFORMED', 'batch is not a valid PingBatch', { cause: error });
    }
    if (batch.deviceId !== deviceId) {
      throw new IngestError('INGEST_DEVICE_MISMATCH', 'batch.device_id does not match device_id');
    }
    if (!NONCE_PATTERN.test(batch.nonce)) {
      throw new IngestError('INGEST_BAD_NONCE', 'nonce must be 16-64 url-safe characters');
    }
    const skew = nowMs - batch.sentAtMs;
    if (!Number.isFinite(skew) || Math.abs(skew) > this.#windowMs) {
      throw new IngestError(
        'INGEST_EXPIRED',
        `sent_at_ms is ${Math.round(skew / 1000)} s from server time (window ±${this.#windowMs / 1000} s): check the clock and re-sign`,
      );
    }
    if (!this.nonces.add(`${deviceId}/${batch.nonce}`, nowMs)) {
      throw new IngestError(
        'INGEST_REPLAYED',
        'nonce already used: sign each upload (and retry) with a fresh nonce',
      );
    }
    return { deviceId, batch };
  }
}
