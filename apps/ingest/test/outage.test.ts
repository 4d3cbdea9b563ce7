// Kafka outage on a dedicated broker: uploads fail fast with UNAVAILABLE, memory stays bounded, and after
// the broker comes back every acknowledged ping is on the topic.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { erasuresTopicSpec } from '@footfall/erasure';
import { type LocalBroker, startLocalBroker } from '@footfall/kafka';
import { waitFor } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import { DeviceClient, DeviceClientError, type PingInput } from '../src/sdk/index.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, readTopic, testConfig } from './helpers.ts';

const TOPIC = 'ingestion-outage';
const PRODUCE_TIMEOUT_MS = 2_000;
const MAX_INFLIGHT = 400;
let broker: LocalBroker;
let ingest: IngestHandle;
const clients: DeviceClient[] = [];

before(async () => {
  broker = await startLocalBroker({ topics: [{ name: TOPIC, partitions: 3 }, erasuresTopicSpec()] });
  ingest = await startIngest(
    testConfig({
      kafkaBootstrap: [broker.bootstrap],
      topicIngestion: TOPIC,
      produceTimeoutMs: PRODUCE_TIMEOUT_MS,
      maxInflightPings: MAX_INFLIGHT,
      rateLimitPingsPerSec: 100_000,
      rateLimitBurstPings: 100_000,
    }),
  );
});
after(async () => {
  for (const c of clients) c.close();
  await ingest?.close();
  await broker?.close();
});

/** grpc.health.v1 Check for the whole server: 1 = SERVING, 2 = NOT_SERVING. */
function healthStatus(port: number): Promise<number> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<number>((resolve, reject) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (error, response) => (error ? reject(error) : resolve(response?.[1] ?? 0)),
    );
  }).finally(() => client.close());
}

const readyz = async () => (await fetch(`http://127.0.0.1:${ingest.opsPort}/readyz`)).status;

test('broker down → UNAVAILABLE within the timeout, bounded in-flight; back up → nothing acknowledged is lost', async () => {
  const target = `127.0.0.1:${ingest.port}`;
  const acked = new Set<string>();
  const client = async (maxAttempts: number) => {
    const c = new DeviceClient({ target, maxAttempts, initialBackoffMs: 200, maxBackoffMs: 2_000 });
    clients.push(c);
    await c.enroll();
    return c;
  };

  // 1. Healthy baseline.
  const devices = await Promise.all(Array.from({ length: 20 }, () => client(1)));
  for (const d of devices) for (const id of (await d.upload(makePings(50))).pingIds) acked.add(id);
  assert.equal(await healthStatus(ingest.port), 1);
  assert.equal(await readyz(), 200);

  // 2. Broker stops. Twenty devices upload 50 pings each at once (1000 > MAX_INFLIGHT 400).
  await broker.stop();
  let maxInflight = 0;
  const sampler = setInterval(() => {
    maxInflight = Math.max(maxInflight, ingest.producer.inflight);
  }, 5);
  const heapBefore = process.memoryUsage().heapUsed;
  const failed: PingInput[][] = [];
  /** Ping ids of uploads answered "nothing written" (every code but INGEST_OUTCOME_UNKNOWN). */
  const notWritten = new Set<string>();
  const started = performance.now();
  const outcomes = await Promise.all(
    devices.map(async (d) => {
      const pings = makePings(50).map((p, i) => ({
        ...p,
        pingId: `outage-${d.identity?.deviceId.slice(3, 15)}-${i}`,
      }));
      const t0 = performance.now();
      try {
        const r = await d.upload(pings);
        for (const id of r.pingIds) acked.add(id);
        return { ok: true, ms: performance.now() - t0 };
      } catch (error) {
        assert.ok(error instanceof DeviceClientError, String(error));
        // INGEST_OVERLOADED (the in-flight cap) is RESOURCE_EXHAUSTED; Kafka itself failing is UNAVAILABLE.
        const expected =
          error.errorCode === 'INGEST_OVERLOADED' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE;
        assert.equal(error.code, expected, `${error.errorCode}: ${error.message}`);
        assert.ok(
          ['INGEST_OVERLOADED', 'INGEST_KAFKA_UNAVAILABLE', 'INGEST_OUTCOME_UNKNOWN'].includes(
            error.errorCode ?? '',
          ),
          `${error.errorCode}: ${error.message}`,
        );
        if (!error.outcomeUnknown) for (const p of pings) notWritten.add(p.pingId as string);
        failed.push(pings);
        return { ok: false, ms: performance.now() - t0, code: error.errorCode };
      }
    }),
  );
  clearInterval(sampler);
  const elapsed = performance.now() - started;
  assert.ok(failed.length > 0, 'uploads fail while the broker is down');
  for (const o of outcomes) assert.ok(o.ms < PRODUCE_TIMEOUT_MS + 1_500, `answered in ${o.ms.toFixed(0)} ms`);
  assert.ok(elapsed < PRODUCE_TIMEOUT_MS + 2_000);
  assert.ok(maxInflight <= MAX_INFLIGHT, `in-flight peaked at ${maxInflight}`);
  assert.ok(
    outcomes.some((o) => o.code === 'INGEST_OVERLOADED'),
    'beyond the cap: refused, not buffered',
  );
  assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'heap stays bounded');
  await waitFor('readiness to drop', async () => (await readyz()) === 503, 10_000);
  await waitFor('gRPC health NOT_SERVING', async () => (await healthStatus(ingest.port)) === 2, 5_000);

  // 3. Broker back: readiness returns, clients retry the failed batches with the same ping ids.
  await broker.restart();
  await waitFor('readiness to return', async () => (await readyz()) === 200, 30_000);
  await waitFor('gRPC health SERVING', async () => (await healthStatus(ingest.port)) === 1, 5_000);
  const retrier = await client(8);
  for (const pings of failed) {
    const r = await retrier.upload(pings);
    for (const id of r.pingIds) acked.add(id);
    // A retry attempt of unknown outcome may itself have written a copy (deduplicated downstream).
    if (r.unknownAttempts > 0) for (const id of r.pingIds) notWritten.delete(id);
  }
  for (const d of devices.slice(0, 5))
    for (const id of (await d.upload(makePings(10))).pingIds) acked.add(id);
  await waitFor('in-flight back to 0', () => ingest.producer.inflight === 0, 10_000);

  const records = await readTopic(
    TOPIC,
    (rs) => {
      const have = new Set(rs.map((r) => r.value.pingId));
      return [...acked].every((id) => have.has(id));
    },
    30_000,
    broker.bootstrap,
  );
  const have = new Set(records.map((r) => r.value.pingId));
  const lost = [...acked].filter((id) => !have.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged pings missing`);
  // "Told it failed" and "in Kafka" never both: a ping refused as not written and then retried once
  // is on the topic exactly once.
  assert.ok(notWritten.size > 0, 'some uploads were refused as not written');
  const copies = new Map<string, number>();
  for (const r of records) copies.set(r.value.pingId, (copies.get(r.value.pingId) ?? 0) + 1);
  const twice = [...notWritten].filter((id) => copies.get(id) !== 1);
  assert.deepEqual(twice, [], 'pings answered "not written" are on the topic once after their retry');
});
