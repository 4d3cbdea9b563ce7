// TOPIC_INGESTION_WARM (docs/operations.md, "Changing the partition count of ingestion"): a processor
// generation on a new topic with more partitions first replays the previous generation's topic, each
// new partition keeping the records of its own regions in their original order, then reads its own
// topic from its start (the dual-written overlap is dropped by ping id). Its state, and so its output,
// is then that of a single pass over all pings partitioned the new way, with the default JITTER_RING.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { loadProcessorConfig, type ProcessorHandle, startProcessor } from '../src/index.ts';
import { expectedView, generatePings, normalize, producePings, readLatest, waitCaughtUp } from './helpers.ts';

function configFor(topics: { ingestion: string; aggregated: string }, groupId: string, warm: string) {
  return loadProcessorConfig({
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    TOPIC_INGESTION_WARM: warm,
    GROUP_ID: groupId,
    INSTANCE_ID: `w-${randomBytes(3).toString('hex')}`,
    OPS_PORT: '0',
    LOG_LEVEL: 'warn',
    EMIT_INTERVAL_MS: '200',
    // Record-timestamp idleness only: the wall clock must not close stays while the test produces.
    PROCESSOR_IDLE_TIMEOUT_MS: '0',
  });
}

async function metric(handle: ProcessorHandle, name: 'warmRecords' | 'restoreRecords'): Promise<number> {
  return (await handle.processor.metrics[name].get()).values[0]?.value ?? 0;
}

async function duplicates(handle: ProcessorHandle): Promise<number> {
  const values = (await handle.processor.metrics.events.get()).values;
  return values.find((v) => v.labels.result === 'duplicate')?.value ?? 0;
}

test('a new generation (4 partitions) warms from the old topic (2): exact as one pass over 4 partitions, also after a restart', async (t) => {
  const old = await uniqueTopics(2);
  const next = await uniqueTopics(4);
  const groupId = `g-warm-${randomBytes(4).toString('hex')}`;
  const pings = generatePings({ devices: 400, pingsPerDevice: 40, startMs: Date.UTC(2025, 0, 15), seed: 19 });
  const n = pings.length;
  // [0, dual) only in the old topic (before the dual-write); from `dual` on in both.
  const dual = Math.floor(n * 0.4);
  const started = Math.floor(n * 0.6);
  const restarted = Math.floor(n * 0.8);
  const both = async (from: number, to: number) => {
    await producePings(kafkaBootstrap(), old.ingestion, pings.slice(from, to), 2);
    await producePings(kafkaBootstrap(), next.ingestion, pings.slice(from, to), 4);
  };
  await producePings(kafkaBootstrap(), old.ingestion, pings.slice(0, dual), 2);
  await both(dual, started);

  const a = await startProcessor(configFor(next, groupId, old.ingestion));
  t.after(() => a.close());
  await waitFor('generation 2 warm and live', () => a.processor.ready, 60_000);
  // Every old record belongs to exactly one new partition: the warm read all of them once.
  assert.equal(await metric(a, 'warmRecords'), started);
  await both(started, restarted);
  await waitCaughtUp(kafkaBootstrap(), next.ingestion, groupId);
  // The overlap [dual, started) was read twice: its copies on the new topic are duplicates (or late).
  assert.ok((await duplicates(a)) > 0, 'the dual-written overlap is dropped by ping id');
  await a.close();

  // A restart: committed offsets, but the rebuild's horizon reaches the new topic's start, so it warms
  // again (up to the old topic's end now) before replaying the new topic up to its committed offsets.
  const b = await startProcessor(configFor(next, groupId, old.ingestion));
  t.after(() => b.close());
  await waitFor('restarted generation 2 live', () => b.processor.ready, 60_000);
  assert.equal(await metric(b, 'warmRecords'), restarted);
  await both(restarted, n);
  await waitCaughtUp(kafkaBootstrap(), next.ingestion, groupId);

  const actual = normalize(await readLatest(kafkaBootstrap(), next.aggregated));
  const expected = normalize(expectedView(pings, 4));
  assert.ok(expected.size > 1_000, `expected a meaningful dataset, got ${expected.size} keys`);
  let differ = 0;
  for (const [k, v] of expected) if (actual.get(k) !== v) differ++;
  for (const k of actual.keys()) if (!expected.has(k)) differ++;
  assert.equal(differ, 0, `${differ} of ${expected.size} outputs differ from one pass over 4 partitions`);
});

test('without the warm the same input misses the history before the dual-write (the test above can fail)', async (t) => {
  const old = await uniqueTopics(2);
  const next = await uniqueTopics(4);
  const groupId = `g-nowarm-${randomBytes(4).toString('hex')}`;
  const pings = generatePings({ devices: 200, pingsPerDevice: 30, startMs: Date.UTC(2025, 0, 15), seed: 19 });
  const dual = Math.floor(pings.length * 0.4);
  await producePings(kafkaBootstrap(), old.ingestion, pings, 2);
  await producePings(kafkaBootstrap(), next.ingestion, pings.slice(dual), 4);
  const a = await startProcessor(configFor(next, groupId, '-'));
  t.after(() => a.close());
  await waitCaughtUp(kafkaBootstrap(), next.ingestion, groupId);
  assert.equal(await metric(a, 'warmRecords'), 0);
  const actual = normalize(await readLatest(kafkaBootstrap(), next.aggregated));
  assert.notDeepEqual(actual, normalize(expectedView(pings, 4)));
});

test('TOPIC_INGESTION_WARM must have a partition count dividing the input topic', async () => {
  const old = await uniqueTopics(4);
  const next = await uniqueTopics(6);
  await assert.rejects(
    startProcessor(configFor(next, `g-${randomBytes(4).toString('hex')}`, old.ingestion)),
    (error: Error & { code?: string }) =>
      error.code === 'PROCESSOR_TOPIC_MISMATCH' && /does not divide/.test(error.message),
  );
});
