import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { after, before, test } from 'node:test';
import { mulberry32, testSeed, uniqueTopics } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import { buildUploadRequest, DeviceClient, type DeviceIdentity } from '../src/sdk/index.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, rawUpload, testConfig } from './helpers.ts';

let ingest: IngestHandle;
let identity: DeviceIdentity;
let sdk: DeviceClient;
let raw: grpc.Client;

before(async () => {
  const topic = (await uniqueTopics(2)).ingestion;
  ingest = await startIngest(
    // Generous limits: this test is about malformed input, and it sends 60 Enroll calls from one
    // address (the Enroll limit has its own test).
    testConfig({
      topicIngestion: topic,
      rateLimitPingsPerSec: 10_000,
      rateLimitBurstPings: 100_000,
      enrollPerMin: 10_000,
      enrollBurst: 10_000,
    }),
  );
  sdk = new DeviceClient({ target: `127.0.0.1:${ingest.port}`, maxAttempts: 1 });
  identity = await sdk.enroll();
  raw = new grpc.Client(`127.0.0.1:${ingest.port}`, grpc.credentials.createInsecure());
});
after(async () => {
  raw?.close();
  sdk?.close();
  await ingest?.close();
});

const ALLOWED = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
]);

test('random and truncated bytes never crash the server or yield INTERNAL (seeded)', async (t) => {
  const valid = buildUploadRequest(
    identity,
    makePings(20).map((p, i) => ({
      ...p,
      pingId: `fuzz-ping-id-${String(i).padStart(8, '0')}`,
      activity: 0,
    })),
  );
  const seen = new Map<grpc.status, number>();
  // Every failure message carries the seed; TEST_SEED=<seed> replays the same inputs.
  const seed = testSeed();
  t.diagnostic(`seed ${seed}`);
  const random = mulberry32(seed);
  const below = (n: number) => Math.floor(random() * n);
  for (let i = 0; i < 600; i++) {
    let body: Buffer;
    if (i % 3 === 0) body = Buffer.from(Array.from({ length: below(300) }, () => below(256)));
    else if (i % 3 === 1) body = valid.subarray(0, below(valid.length));
    else {
      body = Buffer.from(valid);
      for (let k = 0; k < 3; k++) body[below(body.length)] = below(256);
    }
    const { code, details } = await rawUpload(ingest.port, body, i % 10 === 0 ? 'Enroll' : 'Upload', raw);
    seen.set(code, (seen.get(code) ?? 0) + 1);
    assert.ok(
      ALLOWED.has(code) || (i % 10 === 0 && code === grpc.status.PERMISSION_DENIED),
      `input ${i} (TEST_SEED=${seed}): ${grpc.status[code]} ${details}`,
    );
  }
  assert.ok(
    (seen.get(grpc.status.INVALID_ARGUMENT) ?? 0) > 50,
    `most garbage is INVALID_ARGUMENT (TEST_SEED=${seed})`,
  );
  const ok = await sdk.upload(makePings(3));
  assert.equal(ok.accepted, 3, 'still serving');
});

test('malformed gRPC framing over raw HTTP/2 is refused and the server keeps serving', async () => {
  const session = connect(`http://127.0.0.1:${ingest.port}`);
  try {
    const frames = [
      Buffer.from([0, 0, 0, 0, 100, 1, 2, 3]), // length prefix says 100, body has 3
      Buffer.from([1, 0, 0, 0, 3, 1, 2, 3]), // "compressed" flag without grpc-encoding
      Buffer.from([0, 0xff, 0xff, 0xff, 0xff]), // 4 GiB message announced
      Buffer.from([7]), // not even a frame header
    ];
    for (const frame of frames) {
      const statusCode = await new Promise<string>((resolve) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/footfall.ingest.v1.IngestService/Upload',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        let grpcStatus = 'none';
        stream.on('response', (h) => {
          if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
        });
        stream.on('trailers', (t) => {
          grpcStatus = String(t['grpc-status']);
        });
        stream.on('data', () => {});
        stream.on('close', () => resolve(grpcStatus));
        stream.on('error', () => resolve(grpcStatus));
        stream.end(frame);
      });
      assert.notEqual(statusCode, '0', `frame ${frame.toString('hex')} must not succeed`);
    }
  } finally {
    session.close();
  }
  const ok = await sdk.upload(makePings(2));
  assert.equal(ok.accepted, 2, 'still serving');
});
