// Overload (issue 20 item 5): past INGEST_MAX_INFLIGHT_UPLOADS calls in progress, an upload is refused at
// once with RESOURCE_EXHAUSTED INGEST_OVERLOADED and a footfall-retry-after-ms trailer, before the service
// decodes or verifies it; the uploads it admitted are all on the topic once Kafka catches up.
// Deterministic: the producer is held (its sends wait on a gate), so calls stay in progress without sleeps.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { uniqueTopics, waitFor } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import type { OutgoingRecord } from '../src/producer.ts';
import { DeviceClient, DeviceClientError } from '../src/sdk/index.ts';
import { RETRY_AFTER_HEADER } from '../src/server.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, rawUpload, readTopic, testConfig } from './helpers.ts';

const MAX_UPLOADS = 3;
const RETRY_AFTER_MS = 750;
let ingest: IngestHandle;
let topic: string;
const clients: DeviceClient[] = [];

before(async () => {
  topic = (await uniqueTopics(3)).ingestion;
  ingest = await startIngest(
    testConfig({
      topicIngestion: topic,
      maxInflightUploads: MAX_UPLOADS,
      overloadRetryAfterMs: RETRY_AFTER_MS,
      // The held sends must not time out while the test holds them.
      produceTimeoutMs: 120_000,
      rateLimitPingsPerSec: 100_000,
      rateLimitBurstPings: 100_000,
    }),
  );
});
after(async () => {
  for (const c of clients) c.close();
  await ingest?.close();
});

async function device(): Promise<DeviceClient> {
  const c = new DeviceClient({ target: `127.0.0.1:${ingest.port}`, maxAttempts: 1 });
  clients.push(c);
  await c.enroll();
  return c;
}

test('beyond INGEST_MAX_INFLIGHT_UPLOADS: RESOURCE_EXHAUSTED + retry hint before decoding; admitted pings land exactly once', async () => {
  const devices = await Promise.all(Array.from({ length: MAX_UPLOADS + 1 }, device));

  // Hold the producer: every send waits for the gate, so admitted uploads stay in progress.
  const producer = ingest.producer;
  const realSend = producer.send.bind(producer);
  const gate = Promise.withResolvers<void>();
  let held = 0;
  producer.send = (records: OutgoingRecord[]) => {
    held++;
    return gate.promise.then(() => realSend(records));
  };

  const admitted = devices.slice(0, MAX_UPLOADS).map((d) => d.upload(makePings(20)));
  await waitFor(`${MAX_UPLOADS} uploads held at the producer`, () => held === MAX_UPLOADS, 30_000, 10);

  // The next upload, valid and signed, is refused at once with the hint.
  const refused = await (devices[MAX_UPLOADS] as DeviceClient).upload(makePings(20)).then(
    () => assert.fail('an upload beyond the limit was accepted'),
    (error: unknown) => error,
  );
  assert.ok(refused instanceof DeviceClientError, String(refused));
  assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED, refused.message);
  assert.equal(refused.errorCode, 'INGEST_OVERLOADED');
  const trailers = (refused.cause as grpc.ServiceError).metadata;
  assert.deepEqual(trailers.get(RETRY_AFTER_HEADER), [String(RETRY_AFTER_MS)]);
  assert.equal(refused.retryAfterMs, RETRY_AFTER_MS, 'the SDK reads the hint (and retries no sooner)');

  // Garbage gets the same answer: admission runs before decoding and signature checks.
  const garbage = await rawUpload(ingest.port, Buffer.from('not a protobuf'));
  assert.equal(garbage.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(garbage.errorCode, 'INGEST_OVERLOADED');
  assert.equal(held, MAX_UPLOADS, 'refused uploads never reach the producer');

  // Release: the admitted uploads are acknowledged, and room is back for new ones.
  gate.resolve();
  const acked: string[] = [];
  for (const r of await Promise.all(admitted)) {
    assert.equal(r.accepted, 20);
    acked.push(...r.pingIds);
  }
  const retried = await (devices[MAX_UPLOADS] as DeviceClient).upload(makePings(20));
  assert.equal(retried.accepted, 20);
  acked.push(...retried.pingIds);

  const records = await readTopic(topic, (rs) => rs.length >= acked.length, 30_000);
  const ids = records.map((r) => r.value.pingId);
  assert.deepEqual([...ids].sort(), [...acked].sort(), 'every acknowledged ping exactly once');
  const metrics = await (await fetch(`http://127.0.0.1:${ingest.opsPort}/metrics`)).text();
  assert.match(metrics, /footfall_ingest_inflight_uploads(\{[^}]*\})? 0\b/);
});
