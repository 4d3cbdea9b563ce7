import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { kafkaBootstrap, uniqueTopics, waitFor, withSeed } from '@footfall/testing';
import { loadProcessorConfig, type ProcessorHandle, startProcessor } from '../src/index.ts';
import {
  expectedView,
  generatePings,
  normalize,
  partitionOf,
  producePings,
  readLatest,
  waitCaughtUp,
} from './helpers.ts';

async function counter(
  handle: ProcessorHandle,
  name: 'assignments' | 'revokedPartitions' | 'restoreRecords',
) {
  return (await handle.processor.metrics[name].get()).values[0]?.value ?? 0;
}

function configFor(
  topics: { ingestion: string; aggregated: string },
  groupId: string,
  instanceId: string,
  extra = {},
) {
  return loadProcessorConfig({
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    GROUP_ID: groupId,
    INSTANCE_ID: instanceId,
    OPS_PORT: '0',
    LOG_LEVEL: 'warn',
    EMIT_INTERVAL_MS: '200',
    PROCESSOR_IDLE_TIMEOUT_MS: '0',
    ...extra,
  });
}

test('two instances: the second joins mid-stream, a rebalance moves partitions with their state, aggregates stay exact', async (t) => {
  await withSeed(t, async (_random, seed) => {
    const topics = await uniqueTopics(6);
    const groupId = `g-rb-${randomBytes(4).toString('hex')}`;
    const pings = generatePings({ devices: 1500, pingsPerDevice: 40, startMs: Date.UTC(2025, 0, 15), seed });
    const third = Math.floor(pings.length / 3);

    const a = await startProcessor(configFor(topics, groupId, `a-${randomBytes(3).toString('hex')}`));
    t.after(() => a.close());
    await waitFor('a owns all partitions', () => a.processor.assignedPartitions.length === 6, 30_000);
    await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(0, third), 6);
    // a has committed the first third: whoever takes a partition over must rebuild its state from it.
    await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
    const aAssignments = await counter(a, 'assignments');

    const b = await startProcessor(configFor(topics, groupId, `b-${randomBytes(3).toString('hex')}`));
    t.after(() => b.close());
    // The second third is in flight while the group rebalances.
    const producing = producePings(
      kafkaBootstrap(),
      topics.ingestion,
      pings.slice(third, 2 * third),
      6,
      2_000,
    );
    // Synchronise on the rebalance itself (assignment events), not on the input running out.
    await waitFor(
      'a rebalance that moved partitions from a to b',
      async () =>
        (await counter(a, 'assignments')) > aAssignments &&
        (await counter(a, 'revokedPartitions')) > 0 &&
        b.processor.assignedPartitions.length > 0 &&
        a.processor.assignedPartitions.length + b.processor.assignedPartitions.length === 6,
      60_000,
    );
    await producing;
    const aOwns = a.processor.assignedPartitions;
    const bOwns = b.processor.assignedPartitions;
    assert.deepEqual([...aOwns, ...bOwns].sort(), [0, 1, 2, 3, 4, 5], 'every partition has one owner');
    assert.equal(await counter(a, 'revokedPartitions'), bOwns.length, 'a gave up exactly what b took');

    await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(2 * third), 6);
    await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId, 120_000);

    // b rebuilt its partitions from the input a had committed (at least the first third of them).
    const firstThirdOnB = pings.slice(0, third).filter((p) => bOwns.includes(partitionOf(p, 6))).length;
    assert.ok(firstThirdOnB > 0, 'the moved partitions carry data');
    assert.ok(
      (await counter(b, 'restoreRecords')) >= firstThirdOnB,
      `b restored the moved partitions' state (${await counter(b, 'restoreRecords')} >= ${firstThirdOnB})`,
    );
    // a kept its other partitions with their state: transactions the rebalance failed were re-sent, not
    // rebuilt by replay.
    const aRebuilds = Object.fromEntries(
      (await a.processor.metrics.rebuilds.get()).values.map((v) => [v.labels.reason, v.value]),
    );
    assert.deepEqual(aRebuilds, { assigned: 6 }, 'a rebuilt none of the partitions it kept');
    assert.equal(await counter(a, 'restoreRecords'), 0);
    const actual = normalize(await readLatest(kafkaBootstrap(), topics.aggregated));
    const expected = normalize(expectedView(pings, 6));
    assert.deepEqual(actual, expected);
  });
});

test('static membership: a member restarted with the same INSTANCE_ID gets its partitions back without a rebalance', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-static-${randomBytes(4).toString('hex')}`;
  const ids = { a: `a-${randomBytes(3).toString('hex')}`, b: `b-${randomBytes(3).toString('hex')}` };
  const config = (id: string) =>
    configFor(topics, groupId, id, {
      PROCESSOR_STATIC_MEMBERSHIP: 'true',
      KAFKA_SESSION_TIMEOUT_MS: '30000',
    });
  const a = await startProcessor(config(ids.a));
  const b = await startProcessor(config(ids.b));
  t.after(() => b.close());
  await waitFor(
    'partitions split between a and b',
    () =>
      a.processor.assignedPartitions.length > 0 &&
      b.processor.assignedPartitions.length > 0 &&
      a.processor.assignedPartitions.length + b.processor.assignedPartitions.length === 6,
    60_000,
  );
  const aOwned = a.processor.assignedPartitions;
  const bAssignments = await counter(b, 'assignments');
  const bGeneration = (await b.processor.metrics.generation.get()).values[0]?.value;

  // A rolling restart of a: close (a static member sends no LeaveGroup) and start again with its id.
  await a.close();
  const a2 = await startProcessor(config(ids.a));
  t.after(() => a2.close());
  await waitFor('a is back', () => a2.processor.assignedPartitions.length > 0, 60_000);
  assert.deepEqual(a2.processor.assignedPartitions, aOwned, 'a got exactly its partitions back');
  // Had the group rebalanced, b would have had to rejoin (and get a new assignment) before a could get
  // one: a rebalance completes only when every member has rejoined.
  assert.equal(await counter(b, 'assignments'), bAssignments, 'b saw no rebalance');
  assert.equal(await counter(b, 'revokedPartitions'), 0);
  assert.equal((await b.processor.metrics.generation.get()).values[0]?.value, bGeneration);
});
