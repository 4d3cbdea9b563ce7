import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PingBatch, UploadRequest } from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import { uniqueTopics, waitFor } from '@footfall/testing';
import { status } from '@grpc/grpc-js';
import { cellToParent, latLngToCell } from 'h3-js';
import {
  createKeyring,
  deriveDeviceSecret,
  newDeviceId,
  signBatch,
  verifyUserToken,
} from '../src/credentials.ts';
import {
  buildUploadRequest,
  DeviceClient,
  DeviceClientError,
  type DeviceIdentity,
  newPingId,
} from '../src/sdk/index.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, rawUpload, readTopic, testConfig, USER_TOKEN_SECRET } from './helpers.ts';

describe('ingest against the real broker', () => {
  let ingest: IngestHandle;
  let topic: string;
  let target: string;
  const clients: DeviceClient[] = [];
  const client = (identity?: DeviceIdentity) => {
    const c = new DeviceClient({ target, ...(identity ? { identity } : {}), maxAttempts: 1 });
    clients.push(c);
    return c;
  };

  before(async () => {
    topic = (await uniqueTopics(6)).ingestion;
    ingest = await startIngest(
      testConfig({ topicIngestion: topic, rateLimitPingsPerSec: 1_000, rateLimitBurstPings: 5_000 }),
    );
    target = `127.0.0.1:${ingest.port}`;
  });
  after(async () => {
    for (const c of clients) c.close();
    await ingest?.close();
  });

  test('enroll issues a device id, secret and a user token the API can verify', async () => {
    const identity = await client().enroll({ platform: 'dev' });
    assert.match(identity.deviceId, /^k1\.[A-Za-z0-9_-]{22}$/);
    assert.equal(identity.deviceSecret.length, 32);
    const user = await verifyUserToken(identity.userToken, USER_TOKEN_SECRET);
    assert.equal(user.deviceId, identity.deviceId);
    assert.ok(user.expiresAtMs > Date.now() + 29 * 86_400_000);
  });

  test('an authenticated batch lands on the topic: one record per ping, in its region partition', async () => {
    const c = client();
    const identity = await c.enroll();
    const pings = makePings(50);
    const result = await c.upload(pings);
    assert.equal(result.accepted, 50);
    assert.deepEqual(result.rejected, []);
    const ids = new Set(result.pingIds);
    const records = await readTopic(topic, (rs) => rs.filter((r) => ids.has(r.value.pingId)).length >= 50);
    const mine = records.filter((r) => ids.has(r.value.pingId));
    assert.equal(mine.length, 50, 'one record per ping');
    assert.equal(new Set(mine.map((r) => r.value.pingId)).size, 50);
    for (const r of mine) {
      const ping = pings[result.pingIds.indexOf(r.value.pingId)];
      assert.ok(ping);
      const cell = latLngToCell(ping.latitude as number, ping.longitude as number, 10);
      assert.equal(r.value.cell, cell);
      assert.equal(r.key, cellToParent(cell, 5));
      assert.equal(r.key, regionOf(cell, 5));
      assert.equal(r.partition, javaPartition(r.key, 6), 'partition = javaPartition(region, 6)');
      assert.equal(r.value.deviceId, identity.deviceId);
      assert.equal(r.value.eventTimeMs, ping.eventTimeMs);
      assert.ok(Number(r.timestamp) === r.value.receivedAtMs, 'record timestamp = receive time');
    }
    assert.ok(new Set(mine.map((r) => r.partition)).size > 1, 'test pings span several partitions');
  });

  test('a retried identical batch keeps the same ping ids', async () => {
    const c = client();
    await c.enroll();
    const pings = makePings(5).map((p) => ({ ...p, pingId: newPingId() }));
    const first = await c.upload(pings);
    const second = await c.upload(pings); // what a retry after a lost response does
    assert.deepEqual(second.pingIds, first.pingIds);
    const ids = new Set(first.pingIds);
    const records = await readTopic(topic, (rs) => rs.filter((r) => ids.has(r.value.pingId)).length >= 10);
    const mine = records.filter((r) => ids.has(r.value.pingId));
    assert.equal(mine.length, 10, 'both uploads produced');
    assert.equal(
      new Set(mine.map((r) => r.value.pingId)).size,
      5,
      'but only 5 distinct ids: dedup downstream',
    );
  });

  test('per-ping problems are listed, the rest accepted', async () => {
    const c = client();
    await c.enroll();
    const now = Date.now();
    const [good] = makePings(1, now);
    assert.ok(good);
    const result = await c.upload([
      good,
      { ...good, latitude: 91 },
      { ...good, longitude: Number.NaN },
      { ...good, accuracyM: 0 },
      { ...good, accuracyM: 20_000 },
      { ...good, eventTimeMs: now + 10 * 60_000 },
      { ...good, eventTimeMs: now - 3 * 86_400_000 },
      { ...good, pingId: 'short' },
    ]);
    assert.equal(result.accepted, 1);
    assert.deepEqual(
      result.rejected.map((r) => [r.index, r.reason]),
      [
        [1, 2],
        [2, 3],
        [3, 4],
        [4, 4],
        [5, 5],
        [6, 6],
        [7, 1],
      ],
    );
  });

  test('health: gRPC health SERVING and /readyz 200 while Kafka is up', async () => {
    const res = await fetch(`http://127.0.0.1:${ingest.opsPort}/readyz`);
    assert.equal(res.status, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${ingest.opsPort}/metrics`)).text();
    assert.match(metrics, /footfall_ingest_pings_accepted_total\{service="ingest"\} \d+/);
    assert.match(metrics, /footfall_ingest_produce_latency_seconds_bucket/);
  });
});

describe('bad input never reaches Kafka', () => {
  let ingest: IngestHandle;
  let topic: string;
  let port: number;
  let identity: DeviceIdentity;
  let sdk: DeviceClient;

  before(async () => {
    // One partition: once the marker batch sent last is read, everything produced before it was too.
    topic = (await uniqueTopics(1)).ingestion;
    ingest = await startIngest(
      testConfig({
        topicIngestion: topic,
        maxBatchPings: 20,
        rateLimitBurstPings: 100,
        rateLimitPingsPerSec: 1,
      }),
    );
    port = ingest.port;
    sdk = new DeviceClient({ target: `127.0.0.1:${port}`, maxAttempts: 1 });
    identity = await sdk.enroll();
  });
  after(async () => {
    sdk?.close();
    await ingest?.close();
  });

  const pings = () => makePings(3).map((p) => ({ ...p, pingId: newPingId(), activity: 0 as const }));
  const encode = (deviceId: string, batch: Uint8Array, signature: Uint8Array) =>
    Buffer.from(
      UploadRequest.encode({
        deviceId,
        batch: Buffer.from(batch),
        signature: Buffer.from(signature),
      }).finish(),
    );
  const signed = (over: Partial<PingBatch> = {}, id = identity) => {
    const batch = PingBatch.encode({
      deviceId: id.deviceId,
      nonce: newPingId(),
      sentAtMs: Date.now(),
      pings: pings(),
      ...over,
    }).finish();
    return { batch, sig: signBatch(id.deviceSecret, batch) };
  };

  const cases: [string, () => Buffer, status, string][] = [
    [
      'bad signature',
      () => encode(identity.deviceId, signed().batch, Buffer.alloc(32)),
      status.UNAUTHENTICATED,
      'INGEST_BAD_SIGNATURE',
    ],
    [
      'short signature',
      () => encode(identity.deviceId, signed().batch, Buffer.alloc(3)),
      status.UNAUTHENTICATED,
      'INGEST_BAD_SIGNATURE',
    ],
    [
      'tampered body',
      () => {
        const { batch, sig } = signed();
        const copy = Buffer.from(batch);
        copy[copy.length - 3] = (copy[copy.length - 3] as number) ^ 0x01;
        return encode(identity.deviceId, copy, sig);
      },
      status.UNAUTHENTICATED,
      'INGEST_BAD_SIGNATURE',
    ],
    [
      'expired sent_at',
      () => {
        const { batch, sig } = signed({ sentAtMs: Date.now() - 6 * 60_000 });
        return encode(identity.deviceId, batch, sig);
      },
      status.UNAUTHENTICATED,
      'INGEST_EXPIRED',
    ],
    [
      'sent_at in the future',
      () => {
        const { batch, sig } = signed({ sentAtMs: Date.now() + 6 * 60_000 });
        return encode(identity.deviceId, batch, sig);
      },
      status.UNAUTHENTICATED,
      'INGEST_EXPIRED',
    ],
    [
      'unknown device (well-formed id, no secret)',
      () => {
        const fake = { ...identity, deviceId: newDeviceId('k1') };
        const { batch } = signed({}, fake);
        return encode(fake.deviceId, batch, signBatch(identity.deviceSecret, batch));
      },
      status.UNAUTHENTICATED,
      'INGEST_BAD_SIGNATURE',
    ],
    [
      'secret derived from another server key',
      () => {
        const other = createKeyring('k1', 'another-key-another-key-another-key-1234');
        const secret = deriveDeviceSecret(other, identity.deviceId) as Buffer;
        const { batch } = signed();
        return encode(identity.deviceId, batch, signBatch(secret, batch));
      },
      status.UNAUTHENTICATED,
      'INGEST_BAD_SIGNATURE',
    ],
    [
      'retired key version',
      () => {
        const { batch, sig } = signed();
        return encode(`k0.${identity.deviceId.slice(3)}`, batch, sig);
      },
      status.PERMISSION_DENIED,
      'INGEST_DEVICE_REVOKED',
    ],
    [
      'batch signed for another device id',
      () => {
        const { batch, sig } = signed({ deviceId: newDeviceId('k1') });
        return encode(identity.deviceId, batch, sig);
      },
      status.UNAUTHENTICATED,
      'INGEST_DEVICE_MISMATCH',
    ],
    [
      'bad device id',
      () => encode('not a device', signed().batch, Buffer.alloc(32)),
      status.INVALID_ARGUMENT,
      'INGEST_BAD_DEVICE_ID',
    ],
    [
      'bad nonce',
      () => {
        const { batch, sig } = signed({ nonce: 'x' });
        return encode(identity.deviceId, batch, sig);
      },
      status.INVALID_ARGUMENT,
      'INGEST_BAD_NONCE',
    ],
    [
      'empty batch',
      () => {
        const { batch, sig } = signed({ pings: [] });
        return encode(identity.deviceId, batch, sig);
      },
      status.INVALID_ARGUMENT,
      'INGEST_EMPTY_BATCH',
    ],
    [
      'too many pings',
      () => {
        const many = makePings(21).map((p) => ({ ...p, pingId: newPingId(), activity: 0 as const }));
        const { batch, sig } = signed({ pings: many });
        return encode(identity.deviceId, batch, sig);
      },
      status.INVALID_ARGUMENT,
      'INGEST_TOO_MANY_PINGS',
    ],
    [
      'signed garbage batch bytes',
      () => {
        const batch = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
        return encode(identity.deviceId, batch, signBatch(identity.deviceSecret, batch));
      },
      status.INVALID_ARGUMENT,
      'INGEST_MALFORMED',
    ],
    // field 1 with wire type 7 (does not exist): no decoder can accept it
    [
      'garbage bytes',
      () => Buffer.from([0x0f, 0xff, 0xff, 0xff, 0x01]),
      status.INVALID_ARGUMENT,
      'INGEST_MALFORMED',
    ],
    [
      'truncated request',
      () => buildUploadRequest(identity, pings() as never).subarray(0, 40),
      status.INVALID_ARGUMENT,
      'INGEST_MALFORMED',
    ],
  ];

  for (const [name, body, code, errorCode] of cases) {
    test(`${name} → ${status[code]} ${errorCode}`, async () => {
      const result = await rawUpload(port, body());
      assert.equal(result.code, code, result.details);
      assert.equal(result.errorCode, errorCode);
    });
  }

  test('invalid pings only → OK with everything rejected, nothing produced', async () => {
    const result = await sdk.upload(pings().map((p) => ({ ...p, latitude: 200 })));
    assert.equal(result.accepted, 0);
    assert.equal(result.rejected.length, 3);
  });

  test('replayed nonce → UNAUTHENTICATED INGEST_REPLAYED (first copy accepted once)', async () => {
    const body = buildUploadRequest(identity, pings() as never);
    assert.equal((await rawUpload(port, body)).code, status.OK);
    const again = await rawUpload(port, body);
    assert.equal(again.code, status.UNAUTHENTICATED);
    assert.equal(again.errorCode, 'INGEST_REPLAYED');
  });

  test('enroll: "ios" without a real verifier → PERMISSION_DENIED; malformed → INVALID_ARGUMENT', async () => {
    const c = new DeviceClient({ target: `127.0.0.1:${port}` });
    try {
      await assert.rejects(
        c.enroll({ platform: 'ios' }),
        (e: unknown) => e instanceof DeviceClientError && e.code === status.PERMISSION_DENIED,
      );
      await assert.rejects(
        c.enroll({ platform: 'DEV!' }),
        (e: unknown) => e instanceof DeviceClientError && e.code === status.INVALID_ARGUMENT,
      );
    } finally {
      c.close();
    }
    const garbage = await rawUpload(port, Buffer.from([0xff, 0xff, 0xff]), 'Enroll');
    assert.equal(garbage.code, status.INVALID_ARGUMENT);
  });

  test('rate limit → RESOURCE_EXHAUSTED with a retry hint', async () => {
    const c = new DeviceClient({ target: `127.0.0.1:${port}`, maxAttempts: 1 });
    try {
      await c.enroll();
      // burst 100, 1 ping/s: five 20-ping uploads pass, the sixth is refused
      for (let i = 0; i < 5; i++) assert.equal((await c.upload(makePings(20))).accepted, 20);
      await assert.rejects(
        c.upload(makePings(20)),
        (e: unknown) =>
          e instanceof DeviceClientError &&
          e.code === status.RESOURCE_EXHAUSTED &&
          e.errorCode === 'INGEST_RATE_LIMITED',
      );
    } finally {
      c.close();
    }
  });

  test('the topic holds only the accepted pings', async () => {
    const marker = await sdk.upload(pings());
    const markerIds = new Set(marker.pingIds);
    const records = await readTopic(
      topic,
      (rs) => rs.filter((r) => markerIds.has(r.value.pingId)).length === 3,
    );
    // accepted before the marker: replay test (3) + rate-limit test (5 × 20)
    assert.equal(records.length, 3 + 100 + 3, `records on the topic: ${records.length}`);
  });
});

describe('graceful shutdown', () => {
  test('in-flight uploads complete, the producer flushes, then new calls are refused', async (t) => {
    const topic = (await uniqueTopics(2)).ingestion;
    // A long linger keeps the upload queued in the micro-batcher when close() starts.
    const ingest = await startIngest(testConfig({ topicIngestion: topic, produceLingerMs: 300 }));
    const c = new DeviceClient({ target: `127.0.0.1:${ingest.port}`, maxAttempts: 1 });
    t.after(() => c.close());
    await c.enroll();
    const inflight = c.upload(makePings(10));
    // Close only once the server has admitted the batch (it then waits in the linger window).
    await waitFor('the upload is in flight', async () => {
      const gauge = (await ingest.registry.getSingleMetric('footfall_ingest_inflight_pings')?.get())
        ?.values[0];
      return (gauge?.value ?? 0) >= 10;
    });
    const closing = ingest.close();
    const result = await inflight;
    assert.equal(result.accepted, 10, 'the in-flight upload was acknowledged');
    await closing;
    await assert.rejects(
      c.upload(makePings(1)),
      (e: unknown) => e instanceof DeviceClientError && e.code === status.UNAVAILABLE,
    );
    const ids = new Set(result.pingIds);
    const records = await readTopic(topic, (rs) => rs.filter((r) => ids.has(r.value.pingId)).length === 10);
    assert.equal(records.filter((r) => ids.has(r.value.pingId)).length, 10);
  });
});
