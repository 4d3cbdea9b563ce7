// Smoke test of the load generator against the real ingest service and the test broker: every batch it
// offers is answered OK (distinct nonces: the replay guard never fires), and the pings the service
// acknowledged are exactly the records on the ingestion topic.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type IngestHandle, loadIngestConfig, startIngest } from '@footfall/ingest';
import { kafkaBootstrap, uniqueTopics } from '@footfall/testing';
import { Consumer } from '@platformatic/kafka';
import { citySpots, parseSteps, runLoad, type SecondReport } from '../src/index.ts';

let ingest: IngestHandle;
let topic: string;

before(async () => {
  topic = (await uniqueTopics(3)).ingestion;
  ingest = await startIngest(
    loadIngestConfig(
      {},
      {
        kafkaBootstrap: [kafkaBootstrap()],
        grpcHost: '127.0.0.1',
        grpcPort: 0,
        opsPort: 0,
        logLevel: 'silent',
        topicIngestion: topic,
        deviceKeySecret: 'loadgen-test-device-key-secret-0123456789',
        userTokenSecret: 'loadgen-test-user-token-secret-0123456789',
        allowDevAttestation: true,
      },
    ),
  );
});
after(async () => {
  await ingest?.close();
});

async function recordsOn(name: string): Promise<number> {
  const consumer = new Consumer({
    clientId: 'loadgen-test',
    groupId: 'loadgen-test',
    bootstrapBrokers: [kafkaBootstrap()],
  });
  try {
    const ends = (await consumer.listOffsets({ topics: [name] })).get(name) ?? [];
    return ends.reduce((n, end) => n + Number(end), 0);
  } finally {
    await consumer.close(true);
  }
}

test('parseSteps reads `pings/s x seconds` lists and names a bad one', () => {
  assert.deepEqual(parseSteps('10000x60, 2.5x1'), [
    { pingsPerSec: 10000, seconds: 60 },
    { pingsPerSec: 2.5, seconds: 1 },
  ]);
  assert.throws(() => parseSteps('10000'), /LOADGEN_STEPS: "10000"/);
});

test('offers its rate open-loop from worker threads; every acknowledged ping is on the topic', async () => {
  const seconds: SecondReport[] = [];
  const result = await runLoad({
    target: `127.0.0.1:${ingest.port}`,
    steps: [{ pingsPerSec: 1_000, seconds: 3 }],
    devices: 40,
    workers: 2,
    batchPings: 20,
    sessionsPerWorker: 1,
    timeoutMs: 10_000,
    lookaheadMs: 500,
    spots: citySpots(7),
    seed: 7,
    onSecond: (s) => seconds.push(s),
  });
  assert.equal(result.devices, 40);
  const step = result.steps[0];
  assert.ok(step);
  const { totals } = step;
  // Each worker schedules floor(t × rate) batches: 3 s × 25 batches/s per worker.
  assert.ok(totals.offeredBatches >= 140, `offered ${totals.offeredBatches} batches`);
  assert.equal(totals.skippedNoStream, 0);
  // The stop waits for the calls in flight, so every offered batch has its answer by now.
  const answered = seconds.reduce((n, s) => n + s.answered, 0);
  const offered = seconds.reduce((n, s) => n + s.offeredBatches, 0);
  const ok = seconds.reduce((n, s) => n + (s.codes.OK ?? 0), 0);
  const accepted = seconds.reduce((n, s) => n + s.acceptedPings, 0);
  assert.equal(answered, offered);
  assert.equal(ok, offered, `answers: ${JSON.stringify(seconds.map((s) => s.codes))}`);
  assert.equal(accepted, offered * 20, 'every ping of every batch accepted');
  assert.ok(step.okLatencyMs.count > 0 && step.okLatencyMs.p50 > 0);
  assert.ok(step.generatorCpuSec >= 0);
  assert.equal(await recordsOn(topic), accepted, 'acknowledged pings = records on ingestion');
});
