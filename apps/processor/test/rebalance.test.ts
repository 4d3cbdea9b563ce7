import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { loadProcessorConfig, startProcessor } from '../src/index.ts';
import { expectedView, generatePings, normalize, producePings, readLatest, waitCaughtUp } from './helpers.ts';

test('two instances: the second joins mid-stream, partitions rebalance, aggregates stay exact', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-rb-${randomBytes(4).toString('hex')}`;
  const config = (instance: string) =>
    loadProcessorConfig({
      KAFKA_BOOTSTRAP: kafkaBootstrap(),
      TOPIC_INGESTION: topics.ingestion,
      TOPIC_AGGREGATED: topics.aggregated,
      GROUP_ID: groupId,
      INSTANCE_ID: `${instance}-${randomBytes(3).toString('hex')}`,
      OPS_PORT: '0',
      LOG_LEVEL: 'warn',
      EMIT_INTERVAL_MS: '200',
    });
  const pings = generatePings({
    devices: 1500,
    pingsPerDevice: 40,
    startMs: Date.UTC(2025, 0, 15),
    seed: 23,
  });
  const third = Math.floor(pings.length / 3);

  const a = await startProcessor(config('a'));
  t.after(() => a.close());
  await waitFor('a owns all partitions', () => a.processor.assignedPartitions.length === 6, 30_000);
  await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(0, third), 6);

  const b = await startProcessor(config('b'));
  t.after(() => b.close());
  const producing = producePings(kafkaBootstrap(), topics.ingestion, pings.slice(third, 2 * third), 6, 2_000);
  await waitFor(
    'partitions split between a and b',
    () =>
      a.processor.assignedPartitions.length > 0 &&
      b.processor.assignedPartitions.length > 0 &&
      a.processor.assignedPartitions.length + b.processor.assignedPartitions.length === 6,
    60_000,
  );
  await producing;
  assert.deepEqual(
    [...a.processor.assignedPartitions, ...b.processor.assignedPartitions].sort(),
    [0, 1, 2, 3, 4, 5],
  );
  await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(2 * third), 6);
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId, 120_000);

  const actual = normalize(await readLatest(kafkaBootstrap(), topics.aggregated));
  const expected = normalize(expectedView(pings, 6));
  assert.deepEqual(actual, expected);
  const rebuilds = await b.processor.metrics.rebuilds.get();
  assert.ok(
    rebuilds.values.some((v) => v.value > 0),
    'b rebuilt the partitions it took over',
  );
});
