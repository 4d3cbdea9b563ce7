// Stateless device credentials (and the user tokens of @footfall/auth). Imported by tools and benchmarks
// (`@footfall/ingest/credentials`), so this file depends on nothing but node:crypto: no gRPC, no Kafka.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { USER_TOKEN_RULES } from '@footfall/auth';

/** Domain-separation prefix of the device-secret derivation; bump with a new scheme. */
export const DEVICE_SECRET_CONTEXT = 'footfall-device-v1:';
/** `aud` and `iss` of user tokens (see @footfall/auth). */
export const USER_TOKEN_AUDIENCE = USER_TOKEN_RULES.audience;
export const USER_TOKEN_ISSUER = USER_TOKEN_RULES.issuer;

/**
 * Device ids are `<keyVersion>.<22 base64url chars>` (16 random bytes). The key version says which
 * DEVICE_KEY_SECRET derived the device's secret, so keys rotate without a shared store: new
 * enrollments use the new version, old versions stay verifiable until retired.
 */
export const DEVICE_ID_PATTERN = /^([a-z0-9]{1,8})\.([A-Za-z0-9_-]{22})$/;

/** Keys by version; `current` signs new enrollments. */
export interface DeviceKeyring {
  current: string;
  keys: ReadonlyMap<string, Uint8Array>;
}

/** Builds a keyring from the current key and `version:secret` strings of older, still-accepted keys. */
export function createKeyring(
  currentVersion: string,
  currentSecret: string,
  previous: readonly string[] = [],
): DeviceKeyring {
  const keys = new Map<string, Uint8Array>([[currentVersion, Buffer.from(currentSecret, 'utf8')]]);
  for (const entry of previous) {
    if (entry === '-' || entry === '') continue;
    const at = entry.indexOf(':');
    if (at <= 0) throw new Error('DEVICE_KEYS_PREVIOUS entries must be `version:secret`');
    keys.set(entry.slice(0, at), Buffer.from(entry.slice(at + 1), 'utf8'));
  }
  return { current: currentVersion, keys };
}

export function newDeviceId(keyVersion: string): string {
  return `${keyVersion}.${randomBytes(16).toString('base64url')}`;
}

/** The key version of a well-formed device id, or undefined. */
export function deviceKeyVersion(deviceId: string): string | undefined {
  return DEVICE_ID_PATTERN.exec(deviceId)?.[1];
}

/**
 * device_secret = HMAC-SHA256(key[version], "footfall-device-v1:" + device_id). Any replica holding the
 * keyring recomputes it, so no device table is needed to verify uploads. Returns undefined when the
 * id is malformed or its key version is not (or no longer) in the keyring.
 */
export function deriveDeviceSecret(keyring: DeviceKeyring, deviceId: string): Buffer | undefined {
  const version = deviceKeyVersion(deviceId);
  const key = version === undefined ? undefined : keyring.keys.get(version);
  if (!key) return undefined;
  return createHmac('sha256', key).update(DEVICE_SECRET_CONTEXT).update(deviceId).digest();
}

/** HMAC-SHA256(device_secret, batch): what the device puts in UploadRequest.signature. */
export function signBatch(deviceSecret: Uint8Array, batch: Uint8Array): Buffer {
  return createHmac('sha256', deviceSecret).update(batch).digest();
}

/** Constant-time check of an upload signature. */
export function verifyBatchSignature(
  deviceSecret: Uint8Array,
  batch: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== 32) return false;
  return timingSafeEqual(signBatch(deviceSecret, batch), signature);
}

// User tokens (issued here at enrollment, verified by the query API) have one home with one set of
// rules: @footfall/auth.
export { issueUserToken, type UserIdentity, verifyUserToken } from '@footfall/auth';
