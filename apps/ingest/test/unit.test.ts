import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Ping, PingBatch, RejectReason } from '@footfall/contracts';
import { DevAttestationVerifier, NonceCache, UploadAuthenticator } from '../src/auth.ts';
import { loadIngestConfig } from '../src/config.ts';
import {
  createKeyring,
  deriveDeviceSecret,
  issueUserToken,
  newDeviceId,
  signBatch,
  verifyBatchSignature,
  verifyUserToken,
} from '../src/credentials.ts';
import { IngestError } from '../src/errors.ts';
import { TokenBucketLimiter } from '../src/rate-limit.ts';
import { validateBatch } from '../src/validate.ts';

const KEY = 'unit-test-device-key-0123456789abcdef0123';
const TOKEN_KEY = 'unit-test-token-key-0123456789abcdef01234';
const NOW = 1_750_000_000_000;
const limits = { maxBatchPings: 10, maxClockSkewMs: 60_000, maxPingAgeMs: 48 * 3_600_000 };
const ping = (over: Partial<Ping> = {}): Ping => ({
  pingId: 'abcdefghijklmnop',
  eventTimeMs: NOW - 1000,
  latitude: 52.5,
  longitude: 13.4,
  accuracyM: 10,
  activity: 0,
  ...over,
});
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as IngestError).code;
  }
  return 'no error';
};

describe('validateBatch', () => {
  const batch = (pings: Ping[]): PingBatch => ({ deviceId: 'd', nonce: 'n', sentAtMs: NOW, pings });
  test('accepts valid pings, edge values included', () => {
    const r = validateBatch(
      batch([
        ping(),
        ping({ pingId: 'b'.repeat(16), latitude: 90, longitude: -180, accuracyM: 10_000 }),
        ping({
          pingId: '123e4567-e89b-12d3-a456-426614174000',
          eventTimeMs: NOW + 60_000,
          speedMps: 0,
          headingDeg: 360,
        }),
      ]),
      NOW,
      limits,
    );
    assert.equal(r.accepted.length, 3);
    assert.deepEqual(r.rejected, []);
  });
  test('rejects each bad field with its reason and index', () => {
    const bad: [Partial<Ping>, RejectReason][] = [
      [{ pingId: 'short' }, RejectReason.REJECT_REASON_BAD_ID],
      [{ pingId: 'has spaces in it!!' }, RejectReason.REJECT_REASON_BAD_ID],
      [{ latitude: 90.0001 }, RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE],
      [{ latitude: Number.NaN }, RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE],
      [{ longitude: Number.POSITIVE_INFINITY }, RejectReason.REJECT_REASON_LONGITUDE_OUT_OF_RANGE],
      [{ accuracyM: 0 }, RejectReason.REJECT_REASON_BAD_ACCURACY],
      [{ accuracyM: -1 }, RejectReason.REJECT_REASON_BAD_ACCURACY],
      [{ accuracyM: 10_000.5 }, RejectReason.REJECT_REASON_BAD_ACCURACY],
      [{ eventTimeMs: NOW + 60_001 }, RejectReason.REJECT_REASON_IN_FUTURE],
      [{ eventTimeMs: NOW - 48 * 3_600_000 - 1 }, RejectReason.REJECT_REASON_TOO_OLD],
      [{ speedMps: -1 }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
      [{ headingDeg: 361 }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
      [{ activity: 42 as never }, RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD],
    ];
    for (const [over, reason] of bad) {
      const r = validateBatch(batch([ping({ pingId: 'okokokokokokokok' }), ping(over)]), NOW, limits);
      assert.equal(r.accepted.length, 1, JSON.stringify(over));
      assert.deepEqual([r.rejected[0]?.index, r.rejected[0]?.reason], [1, reason], JSON.stringify(over));
    }
  });
  test('duplicate ping id in a batch keeps the first', () => {
    const r = validateBatch(batch([ping(), ping()]), NOW, limits);
    assert.equal(r.accepted.length, 1);
    assert.equal(r.rejected[0]?.reason, RejectReason.REJECT_REASON_DUPLICATE_IN_BATCH);
  });
  test('request-level problems throw', () => {
    assert.equal(
      codeOf(() => validateBatch(batch([]), NOW, limits)),
      'INGEST_EMPTY_BATCH',
    );
    const many = Array.from({ length: 11 }, (_, i) =>
      ping({ pingId: `ping-${String(i).padStart(12, '0')}` }),
    );
    assert.equal(
      codeOf(() => validateBatch(batch(many), NOW, limits)),
      'INGEST_TOO_MANY_PINGS',
    );
  });
});

describe('credentials', () => {
  const keyring = createKeyring('k2', KEY, ['k1:old-key-old-key-old-key-old-key-0000']);
  test('device secrets are deterministic per id and key version', () => {
    const id = newDeviceId('k2');
    assert.deepEqual(deriveDeviceSecret(keyring, id), deriveDeviceSecret(createKeyring('k2', KEY), id));
    assert.notDeepEqual(deriveDeviceSecret(keyring, id), deriveDeviceSecret(keyring, newDeviceId('k2')));
    assert.ok(deriveDeviceSecret(keyring, newDeviceId('k1')), 'previous key still verifies');
    assert.equal(deriveDeviceSecret(keyring, newDeviceId('k9')), undefined, 'unknown version');
    assert.equal(deriveDeviceSecret(keyring, 'garbage'), undefined);
  });
  test('batch signatures', () => {
    const secret = deriveDeviceSecret(keyring, newDeviceId('k2')) as Buffer;
    const body = Buffer.from('payload');
    const sig = signBatch(secret, body);
    assert.ok(verifyBatchSignature(secret, body, sig));
    assert.ok(!verifyBatchSignature(secret, Buffer.from('payloaD'), sig));
    assert.ok(!verifyBatchSignature(secret, body, sig.subarray(0, 31)));
  });
  test('user tokens: valid, expired, wrong key, tampered', async () => {
    const id = newDeviceId('k2');
    const token = await issueUserToken(TOKEN_KEY, id, 3600, NOW);
    assert.deepEqual(await verifyUserToken(token, TOKEN_KEY, { nowMs: NOW + 1000 }), {
      deviceId: id,
      expiresAtMs: NOW - (NOW % 1000) + 3_600_000,
    });
    await assert.rejects(verifyUserToken(token, TOKEN_KEY, { nowMs: NOW + 3_700_000 }), /exp/);
    await assert.rejects(verifyUserToken(token, `${TOKEN_KEY}x`, { nowMs: NOW }));
    await assert.rejects(verifyUserToken(`${token}x`, TOKEN_KEY, { nowMs: NOW }));
  });
});

describe('UploadAuthenticator', () => {
  const keyring = createKeyring('k1', KEY);
  const deviceId = newDeviceId('k1');
  const secret = deriveDeviceSecret(keyring, deviceId) as Buffer;
  const auth = () =>
    new UploadAuthenticator({
      keyring,
      replayWindowMs: 300_000,
      nonceCacheMax: 1000,
      revokedDeviceIds: ['k1.AAAAAAAAAAAAAAAAAAAAAA'],
    });
  const body = (over: Partial<PingBatch> = {}) =>
    PingBatch.encode({
      deviceId,
      nonce: 'nonce-0123456789ab',
      sentAtMs: NOW,
      pings: [ping()],
      ...over,
    }).finish();
  test('accepts a good batch once, then refuses the replay', () => {
    const a = auth();
    const b = body();
    assert.equal(a.authenticate(deviceId, b, signBatch(secret, b), NOW).batch.pings.length, 1);
    assert.equal(
      codeOf(() => a.authenticate(deviceId, b, signBatch(secret, b), NOW + 1)),
      'INGEST_REPLAYED',
    );
  });
  test('time window is ± REPLAY_WINDOW_MS', () => {
    const a = auth();
    for (const [sentAtMs, code] of [
      [NOW - 300_000, 'no error'],
      [NOW + 300_000, 'no error'],
      [NOW - 300_001, 'INGEST_EXPIRED'],
      [NOW + 300_001, 'INGEST_EXPIRED'],
    ] as const) {
      const b = body({ sentAtMs, nonce: `nonce-${sentAtMs}-abcdef` });
      assert.equal(
        codeOf(() => a.authenticate(deviceId, b, signBatch(secret, b), NOW)),
        code,
      );
    }
  });
  test('revoked and retired devices → PERMISSION_DENIED code', () => {
    const b = body();
    assert.equal(
      codeOf(() => auth().authenticate('k1.AAAAAAAAAAAAAAAAAAAAAA', b, signBatch(secret, b), NOW)),
      'INGEST_DEVICE_REVOKED',
    );
    assert.equal(
      codeOf(() => auth().authenticate(newDeviceId('k0'), b, signBatch(secret, b), NOW)),
      'INGEST_DEVICE_REVOKED',
    );
  });
  test('nonce cache: TTL and bound', () => {
    const cache = new NonceCache(1000, 3);
    assert.ok(cache.add('a', 0));
    assert.ok(!cache.add('a', 999));
    assert.ok(cache.add('a', 1000), 'expired');
    for (const k of ['b', 'c', 'd']) cache.add(k, 1001);
    assert.equal(cache.size, 3);
    assert.equal(cache.evictedEarly, 1);
  });
  test('dev attestation only with the flag', async () => {
    await new DevAttestationVerifier(true).verify({
      installId: 'x',
      platform: 'dev',
      attestation: new Uint8Array(),
    });
    await assert.rejects(
      new DevAttestationVerifier(false).verify({
        installId: 'x',
        platform: 'dev',
        attestation: new Uint8Array(),
      }),
      IngestError,
    );
    await assert.rejects(
      new DevAttestationVerifier(true).verify({
        installId: 'x',
        platform: 'ios',
        attestation: new Uint8Array(),
      }),
      IngestError,
    );
  });
});

describe('TokenBucketLimiter', () => {
  test('burst, refill, refusal takes nothing, oversize never passes', () => {
    const l = new TokenBucketLimiter({ ratePerSec: 50, burst: 100, maxKeys: 10 });
    assert.equal(l.take('d', 100, 0), 0);
    assert.equal(l.take('d', 1, 0), 20, '1 token takes 20 ms at 50/s');
    assert.equal(l.take('d', 50, 1000), 0, 'refilled 50 in 1 s');
    assert.ok(l.take('d', 1, 1000) > 0);
    assert.equal(l.take('e', 101, 0), Number.POSITIVE_INFINITY);
    assert.equal(l.take('e', 100, 0), 0, 'refused request took nothing');
  });
  test('bounded number of buckets (LRU)', () => {
    const l = new TokenBucketLimiter({ ratePerSec: 1, burst: 10, maxKeys: 2 });
    l.take('a', 10, 0);
    l.take('b', 1, 0);
    l.take('c', 1, 0); // evicts a
    assert.equal(l.size, 2);
    assert.equal(l.take('a', 10, 0), 0, 'a starts over with a full bucket');
  });
});

describe('config', () => {
  const base = { DEVICE_KEY_SECRET: KEY, USER_TOKEN_SECRET: TOKEN_KEY };
  test('defaults', () => {
    const c = loadIngestConfig(base);
    assert.equal(c.replayWindowMs, 300_000);
    assert.equal(c.maxBatchPings, 500);
    assert.equal(c.topicIngestion, 'ingestion');
    assert.ok(Object.isFrozen(c));
  });
  test('secrets are required and long; burst must fit a batch', () => {
    assert.throws(() => loadIngestConfig({}), /DEVICE_KEY_SECRET is required/);
    assert.throws(
      () => loadIngestConfig({ ...base, DEVICE_KEY_SECRET: 'short' }),
      /DEVICE_KEY_SECRET must be at least 32/,
    );
    assert.throws(
      () => loadIngestConfig({ ...base, RATE_LIMIT_BURST_PINGS: '10' }),
      /RATE_LIMIT_BURST_PINGS/,
    );
  });
});
