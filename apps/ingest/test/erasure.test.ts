// The upload check for erased devices (issue 13, defect 3), without a broker: the erasure view is a plain
// object here; test/e2e/erasure.test.ts drives the real log end to end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PingBatch } from '@footfall/contracts';
import { status } from '@grpc/grpc-js';
import { erasedDevicesHook, UploadAuthenticator } from '../src/auth.ts';
import { createKeyring, deriveDeviceSecret, newDeviceId, signBatch } from '../src/credentials.ts';
import { INGEST_ERRORS, IngestError } from '../src/errors.ts';

const NOW = 1_764_000_000_000;
const keyring = createKeyring('k1', 'x'.repeat(40));
const erasedId = newDeviceId('k1');
const otherId = newDeviceId('k1');
const view = { loaded: true, has: (id: string) => id === erasedId };

function upload(auth: UploadAuthenticator, deviceId: string, sign: 'own' | 'forged' = 'own'): string {
  const batch = PingBatch.encode({
    deviceId,
    nonce: `nonce-${deviceId.slice(3, 19)}`,
    sentAtMs: NOW,
    pings: [
      {
        pingId: 'p'.repeat(22),
        eventTimeMs: NOW,
        latitude: 1,
        longitude: 1,
        accuracyM: 5,
        speedMps: 0,
        headingDeg: 0,
        altitudeM: 0,
        activity: 0,
      },
    ],
  }).finish();
  const secret = sign === 'own' ? (deriveDeviceSecret(keyring, deviceId) as Buffer) : Buffer.alloc(32);
  try {
    auth.authenticate(deviceId, batch, signBatch(secret, batch), NOW);
    return 'OK';
  } catch (error) {
    assert.ok(error instanceof IngestError);
    return error.code;
  }
}

const authenticator = (erased: { loaded: boolean; has(id: string): boolean }) =>
  new UploadAuthenticator({
    keyring,
    replayWindowMs: 300_000,
    clockSkewMs: 0,
    nonceCacheMax: 100,
    isRevoked: erasedDevicesHook(erased),
  });

test('an erased device is refused with PERMISSION_DENIED INGEST_DEVICE_ERASED; others pass', () => {
  assert.equal(INGEST_ERRORS.INGEST_DEVICE_ERASED.status, status.PERMISSION_DENIED);
  assert.equal(INGEST_ERRORS.INGEST_DEVICE_ERASED.retryable, false);
  const auth = authenticator(view);
  assert.equal(upload(auth, erasedId), 'INGEST_DEVICE_ERASED');
  assert.equal(upload(auth, otherId), 'OK');
});

test('only the genuine device learns it was erased: a forged upload gets BAD_SIGNATURE', () => {
  assert.equal(upload(authenticator(view), erasedId, 'forged'), 'INGEST_BAD_SIGNATURE');
});

test('until the erasure log is loaded every upload is refused as retryable UNAVAILABLE (fail closed)', () => {
  const auth = authenticator({ loaded: false, has: () => false });
  assert.equal(upload(auth, otherId), 'INGEST_KAFKA_UNAVAILABLE');
  assert.equal(INGEST_ERRORS.INGEST_KAFKA_UNAVAILABLE.retryable, true);
});
