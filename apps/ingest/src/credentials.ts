// Stateless device and user credentials. Imported by the query API too (`@footfall/ingest/credentials`),
// so this file depends on nothing but node:crypto and jose: no gRPC, no Kafka.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';

/** Domain-separation prefix of the device-secret derivation; bump with a new scheme. */
export const DEVICE_SECRET_CONTEXT = 'footfall-device-v1:';
/** `aud` of user tokens. */
export const USER_TOKEN_AUDIENCE = 'footfall-api';
export const USER_TOKEN_ISSUER = 'footfall-ingest';

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

/** Issues the bearer token of the query API's "my time" endpoints (HS256, sub = device id). */
export async function issueUserToken(
  secret: string,
  deviceId: string,
  ttlS: number,
  nowMs = Date.now(),
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(deviceId)
    .setAudience(USER_TOKEN_AUDIENCE)
    .setIssuer(USER_TOKEN_ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlS)
    .sign(new TextEncoder().encode(secret));
}

export interface UserIdentity {
  deviceId: string;
  /** Token expiry, ms since epoch. */
  expiresAtMs: number;
}

/**
 * Verifies a user token (signature, `aud`, `iss`, `exp`, HS256 only) and returns the device id it speaks
 * for. Throws (jose's errors, `code` e.g. `ERR_JWT_EXPIRED`) when invalid: map that to HTTP 401.
 */
export async function verifyUserToken(
  token: string,
  secret: string,
  options: { nowMs?: number; clockToleranceS?: number } = {},
): Promise<UserIdentity> {
  const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
    algorithms: ['HS256'],
    audience: USER_TOKEN_AUDIENCE,
    issuer: USER_TOKEN_ISSUER,
    clockTolerance: options.clockToleranceS ?? 30,
    ...(options.nowMs === undefined ? {} : { currentDate: new Date(options.nowMs) }),
  });
  if (
    typeof payload.sub !== 'string' ||
    !DEVICE_ID_PATTERN.test(payload.sub) ||
    typeof payload.exp !== 'number'
  ) {
    throw new Error('user token has no valid device subject');
  }
  return { deviceId: payload.sub, expiresAtMs: payload.exp * 1000 };
}
