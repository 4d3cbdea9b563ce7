// Issue 20, "ambiguous uploads": a batch handed to Kafka whose acknowledgement does not come in time is
// answered INGEST_OUTCOME_UNKNOWN (not INGEST_KAFKA_UNAVAILABLE, which promises "nothing written"), and
// the answer is honest: here the held batch is written after the client was told, the SDK's retry
// writes it again, and the result says so (`unknownAttempts`), so a reader of `ingestion` can account
// for every copy. Real broker, real ingest; the Kafka client's send is held on a gate that the test
// opens when the SDK reports the failed attempt (an event, not a sleep).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { uniqueTopics } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import { Producer } from '@platformatic/kafka';
import { DeviceClient, DeviceClientError } from '../src/sdk/index.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, readTopic, testConfig } from './helpers.ts';

const PRODUCE_TIMEOUT_MS = 1_500;
let ingest: IngestHandle;
let topic: string;
let client: DeviceClient | undefined;

before(async () => {
  topic = (await uniqueTopics(3)).ingestion;
  ingest = await startIngest(
    testConfig({
      topicIngestion: topic,
      produceTimeoutMs: PRODUCE_TIMEOUT_MS,
      overloadRetryAfterMs: 50,
      rateLimitPingsPerSec: 100_000,
      rateLimitBurstPings: 100_000,
    }),
  );
});
after(async () => {
  client?.close();
  await ingest?.close();
});

test('a send that outlives PRODUCE_TIMEOUT_MS: OUTCOME_UNKNOWN, written anyway; the retry is counted', async () => {
  // Hold the first Kafka send of the topic (inside the Kafka client, so ingest has handed it over).
  const gate = Promise.withResolvers<void>();
  const realSend = Producer.prototype.send;
  let held = 0;
  Producer.prototype.send = function (this: Producer, ...args: Parameters<Producer['send']>) {
    const options = args[0] as { messages?: { topic?: string }[] };
    if (held === 0 && options.messages?.[0]?.topic === topic) {
      held++;
      return gate.promise.then(() => (realSend as (...a: unknown[]) => unknown).apply(this, args));
    }
    return (realSend as (...a: unknown[]) => unknown).apply(this, args);
  } as Producer['send'];

  try {
    client = new DeviceClient({ target: `127.0.0.1:${ingest.port}`, maxAttempts: 3, initialBackoffMs: 10 });
    await client.enroll();
    const failures: DeviceClientError[] = [];
    const result = await client.upload(makePings(10), {
      onAttemptFailed: (error) => {
        assert.ok(error instanceof DeviceClientError, String(error));
        failures.push(error);
        gate.resolve(); // the client has its answer: now let the held batch reach Kafka
      },
    });

    assert.equal(held, 1);
    assert.equal(failures.length, 1);
    const [failure] = failures as [DeviceClientError];
    assert.equal(failure.code, grpc.status.UNAVAILABLE);
    assert.equal(failure.errorCode, 'INGEST_OUTCOME_UNKNOWN', failure.message);
    assert.equal(failure.outcomeUnknown, true);
    assert.equal(result.accepted, 10);
    assert.equal(result.attempts, 2);
    assert.equal(result.unknownAttempts, 1);

    // Both copies are on the topic: the one the client was told "maybe" about, and the retry's.
    const records = await readTopic(topic, (rs) => rs.length >= 20, 30_000);
    const copies = new Map<string, number>();
    for (const r of records) copies.set(r.value.pingId, (copies.get(r.value.pingId) ?? 0) + 1);
    assert.deepEqual(
      result.pingIds.map((id) => copies.get(id)),
      result.pingIds.map(() => 1 + result.unknownAttempts),
    );
    const metrics = await (await fetch(`http://127.0.0.1:${ingest.opsPort}/metrics`)).text();
    assert.match(metrics, /footfall_ingest_outcome_unknown_total\{[^}]*reason="timeout"[^}]*\} 1\b/);
  } finally {
    Producer.prototype.send = realSend;
    gate.resolve();
  }
});
