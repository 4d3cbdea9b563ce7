import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Ping, PingBatch } from '@footfall/contracts';
import { DevAttestationVerifier, UploadAuthenticator } from '../src/auth.ts';
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
import { INGEST_ERRORS, IngestError } from '../src/errors.ts';
import { NonceCache } from '../src/nonce-cache.ts';
import { TokenBucketLimiter } from '../src/rate-limit.ts';
import { codeOf, NOW, validPing } from './helpers.ts';

const KEY = 'unit-test-device-key-0123456789abcdef0123';
const TOKEN_KEY = 'unit-test-token-key-0123456789abcdef01234';
const ping = (over: Partial<Ping> = {}): Ping => validPing(NOW, over);

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
      clockSkewMs: 60_000,
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
    assert.equal(a.authenticate(deviceId, b, signBatch(secret, b), NOW).header.pingRanges.length, 2);
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
  test('replayed batch accepted after 5 minutes (regression: nonce TTL counted from receipt)', () => {
    // A device clock 5 min ahead: sent_at = now + window is still fresh until now + 2·window. The old
    // cache forgot the nonce at receipt + window and took the identical signed batch a second time.
    const a = auth();
    const b = body({ sentAtMs: NOW + 300_000 });
    const sig = signBatch(secret, b);
    assert.equal(
      codeOf(() => a.authenticate(deviceId, b, sig, NOW)),
      'no error',
    );
    for (let t = NOW + 1; t <= NOW + 2 * 300_000 + 60_000 + 1; t += 7_919) {
      const code = codeOf(() => a.authenticate(deviceId, b, sig, t));
      assert.ok(code === 'INGEST_REPLAYED' || code === 'INGEST_EXPIRED', `replay at +${t - NOW} ms: ${code}`);
    }
    assert.equal(
      codeOf(() => a.authenticate(deviceId, b, sig, NOW + 300_001)),
      'INGEST_REPLAYED',
    );
  });
  test('nonce cache: kept until its own expiry, never forgotten early, full → refuse', () => {
    const cache = new NonceCache({ max: 3, bucketMs: 100 });
    assert.equal(cache.add('a', 1_000, 0), 'new');
    assert.equal(cache.add('a', 1_000, 999), 'replayed');
    assert.equal(cache.add('a', 1_000, 1_000), 'replayed', 'expiry is inclusive');
    assert.equal(cache.add('b', 5_000, 1_000), 'new');
    assert.equal(cache.add('c', 5_000, 1_000), 'new');
    assert.equal(cache.add('d', 5_000, 1_000), 'full', 'a is live until 1 000: nothing is evicted');
    assert.equal(cache.size, 3);
    assert.equal(cache.add('d', 5_000, 1_001), 'new', 'a expired and was purged');
    assert.equal(cache.add('b', 5_000, 4_999), 'replayed');
    assert.equal(cache.add('e', 9_000, 86_400_000), 'new', 'a long idle spell purges everything');
    assert.equal(cache.size, 1);
    assert.equal(cache.refusedFull, 1);
  });
  test('a full nonce cache refuses uploads with a retryable code', () => {
    const a = new UploadAuthenticator({ keyring, replayWindowMs: 300_000, clockSkewMs: 0, nonceCacheMax: 1 });
    const b1 = body({ nonce: 'nonce-aaaaaaaaaaaaaaa' });
    const b2 = body({ nonce: 'nonce-bbbbbbbbbbbbbbb' });
    assert.equal(
      codeOf(() => a.authenticate(deviceId, b1, signBatch(secret, b1), NOW)),
      'no error',
    );
    const code = codeOf(() => a.authenticate(deviceId, b2, signBatch(secret, b2), NOW));
    assert.equal(code, 'INGEST_NONCE_CACHE_FULL');
    assert.equal(INGEST_ERRORS[code].retryable, true);
  });
  test('revocation hook: erased devices are refused with PERMISSION_DENIED', () => {
    const a = new UploadAuthenticator({
      keyring,
      replayWindowMs: 300_000,
      clockSkewMs: 0,
      nonceCacheMax: 10,
      isRevoked: (id) => id === deviceId && 'INGEST_DEVICE_ERASED',
    });
    const b = body();
    const code = codeOf(() => a.authenticate(deviceId, b, signBatch(secret, b), NOW));
    assert.equal(code, 'INGEST_DEVICE_ERASED');
    assert.equal(INGEST_ERRORS[code].status, 7 /* PERMISSION_DENIED */);
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
