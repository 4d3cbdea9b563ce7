// Regression tests for the contract defects found by an independent client (issue 15), each named
// after the bug, against the real broker.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Ping, PingBatch, RejectReason, UploadRequest, UploadResponse } from '@footfall/contracts';
import { uniqueTopics } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import { signBatch } from '../src/credentials.ts';
import { DeviceClient, DeviceClientError, type DeviceIdentity, newPingId } from '../src/sdk/index.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, readTopic, testConfig } from './helpers.ts';

const MAX_BATCH = 2_000;

/** Signs `pings` as the SDK would and sends them; the decoded response or the status it failed with. */
function upload(
  client: grpc.Client,
  identity: DeviceIdentity,
  pings: Ping[],
): Promise<{ response?: UploadResponse; code: grpc.status; details: string; errorCode?: string }> {
  const batch = PingBatch.encode({
    deviceId: identity.deviceId,
    nonce: newPingId(),
    sentAtMs: Date.now(),
    pings,
  }).finish();
  const body = Buffer.from(
    UploadRequest.encode({
      deviceId: identity.deviceId,
      batch: Buffer.from(batch),
      signature: signBatch(identity.deviceSecret, batch),
    }).finish(),
  );
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/footfall.ingest.v1.IngestService/Upload',
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (error, response) => {
        if (!error) {
          resolve({ response: UploadResponse.decode(response as Buffer), code: grpc.status.OK, details: '' });
          return;
        }
        const value = error.metadata?.get('footfall-error-code')[0];
        resolve({
          code: error.code,
          details: error.details,
          ...(typeof value === 'string' ? { errorCode: value } : {}),
        });
      },
    );
  });
}

/** Valid pings with the longest ids the contract allows (the response used to echo them). */
const longIdPings = (n: number): Ping[] =>
  makePings(n).map((p, i) => ({
    ...p,
    pingId: `${newPingId()}${String(i).padStart(6, '0')}`.padEnd(64, 'z'),
    activity: 0,
  }));

describe('contract defects (issue 15)', () => {
  let ingest: IngestHandle;
  let topic: string;
  let identity: DeviceIdentity;
  let sdk: DeviceClient;
  let raw: grpc.Client;

  before(async () => {
    topic = (await uniqueTopics(1)).ingestion;
    ingest = await startIngest(
      testConfig({
        topicIngestion: topic,
        maxBatchPings: MAX_BATCH,
        rateLimitBurstPings: 100 * MAX_BATCH,
        rateLimitPingsPerSec: 100_000,
        enrollBurst: 3,
        enrollPerMin: 0.01,
      }),
    );
    const target = `127.0.0.1:${ingest.port}`;
    sdk = new DeviceClient({ target, maxAttempts: 1 });
    identity = await sdk.enroll();
    raw = new grpc.Client(target, grpc.credentials.createInsecure());
  });
  after(async () => {
    sdk?.close();
    raw?.close();
    await ingest?.close();
  });

  test('accepted upload reported as failed: max-size batches get bounded responses', async () => {
    const none = longIdPings(MAX_BATCH);
    const all = longIdPings(MAX_BATCH).map((p) => ({ ...p, latitude: 200 }));
    const half = longIdPings(MAX_BATCH).map((p, i) => (i % 2 ? { ...p, latitude: 200 } : p));
    assert.ok(
      PingBatch.encode({ deviceId: '', nonce: '', sentAtMs: 0, pings: all }).finish().length > 124_000,
    );

    const allRejected = await upload(raw, identity, all);
    assert.equal(allRejected.code, grpc.status.OK, allRejected.details);
    assert.equal(allRejected.response?.accepted, 0);
    assert.equal(allRejected.response?.rejectedCount, MAX_BATCH);
    assert.equal(allRejected.response?.rejected.length, 1_000, 'the list is capped');
    assert.deepEqual(
      allRejected.response?.rejected.slice(0, 2).map((r) => [r.index, r.reason]),
      [
        [0, RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE],
        [1, RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE],
      ],
    );

    const noneRejected = await upload(raw, identity, none);
    assert.equal(noneRejected.code, grpc.status.OK, noneRejected.details);
    assert.equal(noneRejected.response?.accepted, MAX_BATCH);
    assert.equal(noneRejected.response?.rejectedCount, 0);

    // The original failure: pings written to Kafka while the client was told the upload failed.
    const mixed = await upload(raw, identity, half);
    assert.equal(mixed.code, grpc.status.OK, mixed.details);
    assert.equal(mixed.response?.accepted, MAX_BATCH / 2);
    assert.equal(mixed.response?.rejectedCount, MAX_BATCH / 2);

    const ids = new Set([...none, ...half].map((p) => p.pingId));
    const records = await readTopic(topic, (rs) => rs.filter((r) => ids.has(r.value.pingId)).length >= 3_000);
    assert.equal(records.filter((r) => ids.has(r.value.pingId)).length, MAX_BATCH + MAX_BATCH / 2);
  });

  test('one bad timestamp rejects the whole batch: only that ping is refused', async () => {
    const pings = longIdPings(4);
    const beyond = [
      { ...pings[1], eventTimeMs: (2n ** 60n) as never },
      { ...pings[2], eventTimeMs: -(2n ** 60n) as never },
    ] as Ping[];
    const result = await upload(raw, identity, [pings[0] as Ping, ...beyond, pings[3] as Ping]);
    assert.equal(result.code, grpc.status.OK, result.details);
    assert.equal(result.response?.accepted, 2);
    assert.deepEqual(
      result.response?.rejected.map((r) => [r.index, r.reason]),
      [
        [1, RejectReason.REJECT_REASON_IN_FUTURE],
        [2, RejectReason.REJECT_REASON_TOO_OLD],
      ],
    );
  });

  test('missing coordinates count at (0,0): such pings are refused with MISSING_COORDINATES', async () => {
    const [a, b, c] = longIdPings(3) as [Ping, Ping, Ping];
    const result = await upload(raw, identity, [
      { ...a, latitude: undefined },
      { ...b, longitude: undefined },
      // explicitly (0, 0) is a real place (the Gulf of Guinea): accepted
      { ...c, latitude: 0, longitude: 0 },
    ]);
    assert.equal(result.code, grpc.status.OK, result.details);
    assert.equal(result.response?.accepted, 1);
    assert.deepEqual(
      result.response?.rejected.map((r) => [r.index, r.reason]),
      [
        [0, RejectReason.REJECT_REASON_MISSING_COORDINATES],
        [1, RejectReason.REJECT_REASON_MISSING_COORDINATES],
      ],
    );
  });

  test('Enroll is rate limited per source address', async () => {
    // before(): one enrollment of the burst of 3 is spent
    const c = new DeviceClient({ target: `127.0.0.1:${ingest.port}`, maxAttempts: 1 });
    try {
      await c.enroll();
      await c.enroll();
      await assert.rejects(
        c.enroll(),
        (e: unknown) =>
          e instanceof DeviceClientError &&
          e.code === grpc.status.RESOURCE_EXHAUSTED &&
          e.errorCode === 'INGEST_RATE_LIMITED',
      );
    } finally {
      c.close();
    }
  });
});

describe('shutdown answers plain UNAVAILABLE', () => {
  test('calls arriving while in-flight uploads finish get UNAVAILABLE with INGEST_DRAINING', async (t) => {
    const topic = (await uniqueTopics(1)).ingestion;
    // A long linger keeps the first upload queued in the micro-batcher when close() starts.
    const ingest = await startIngest(testConfig({ topicIngestion: topic, produceLingerMs: 1_000 }));
    const c = new DeviceClient({ target: `127.0.0.1:${ingest.port}`, maxAttempts: 1 });
    t.after(() => c.close());
    await c.enroll();
    const inflight = c.upload(makePings(5));
    // Synchronise on the service's state, not on time: the upload is admitted and waiting for Kafka.
    while (ingest.producer.inflight === 0) await new Promise((r) => setImmediate(r));
    const closing = ingest.close();
    await assert.rejects(
      c.upload(makePings(1)),
      (e: unknown) =>
        e instanceof DeviceClientError &&
        e.code === grpc.status.UNAVAILABLE &&
        e.errorCode === 'INGEST_DRAINING',
    );
    assert.equal((await inflight).accepted, 5, 'the in-flight upload was still acknowledged');
    await closing;
  });
});
