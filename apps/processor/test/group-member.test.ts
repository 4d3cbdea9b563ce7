import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createLogger } from '@footfall/observability';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { GroupMember } from '../src/group-member.ts';
import { loadProcessorConfig, startProcessor } from '../src/index.ts';
import { createProcessorMetrics } from '../src/metrics.ts';
import { generatePings, producePings, waitCaughtUp } from './helpers.ts';

async function setup(extra: Record<string, string> = {}) {
  const topics = await uniqueTopics(2);
  const config = loadProcessorConfig({
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    GROUP_ID: `g-member-${randomBytes(4).toString('hex')}`,
    INSTANCE_ID: `m-${randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'silent',
    ...extra,
  });
  const metrics = createProcessorMetrics(config.instanceId);
  return { config, metrics, member: new GroupMember(config, createLogger('test', 'silent'), metrics) };
}

test('a lost group (the client gave up rejoining) is rejoined: a new assignment follows', async (t) => {
  const { member, metrics } = await setup();
  t.after(() => member.close());
  await member.join(AbortSignal.timeout(60_000));
  await waitFor('the first assignment', () => member.takeAssignment());
  // What the client emits when its own rejoin failed and it stopped heartbeating.
  member.consumer.emit('error', new Error('joinGroup failed 4 times'));
  assert.ok(member.lost, 'lost is reported (the processor is then not ready)');
  await member.rejoin(AbortSignal.timeout(60_000));
  assert.equal(member.lost, undefined);
  const next = await waitFor('an assignment after the rejoin', () => member.takeAssignment());
  assert.deepEqual(next.partitions, [0, 1]);
  assert.equal((await metrics.groupRejoins.get()).values[0]?.value, 1);
  assert.equal((await metrics.groupErrors.get()).values[0]?.value, 1);
});

test('a group that cannot be rejoined ends in a non-retryable PROCESSOR_GROUP_LOST (the process exits non-zero)', async () => {
  const { member } = await setup({ PROCESSOR_MAX_REJOIN_FAILURES: '2' });
  await member.join(AbortSignal.timeout(60_000));
  member.consumer.emit('error', new Error('joinGroup failed'));
  // A closed client cannot join: every attempt fails.
  await member.close();
  await member.rejoin(AbortSignal.timeout(60_000));
  await assert.rejects(member.rejoin(AbortSignal.timeout(60_000)), (error: unknown) => {
    assert.equal((error as { code?: string }).code, 'PROCESSOR_GROUP_LOST');
    assert.equal((error as { retryable?: boolean }).retryable, false);
    return true;
  });
});

test('progress() for liveness: caught up (lag 0) with a progress time after the input arrived', async (t) => {
  const topics = await uniqueTopics(2);
  const groupId = `g-live-${randomBytes(4).toString('hex')}`;
  const handle = await startProcessor(
    loadProcessorConfig({
      KAFKA_BOOTSTRAP: kafkaBootstrap(),
      TOPIC_INGESTION: topics.ingestion,
      TOPIC_AGGREGATED: topics.aggregated,
      GROUP_ID: groupId,
      INSTANCE_ID: `l-${randomBytes(3).toString('hex')}`,
      OPS_PORT: '0',
      LOG_LEVEL: 'warn',
    }),
  );
  t.after(() => handle.close());
  const before = Date.now();
  await producePings(
    kafkaBootstrap(),
    topics.ingestion,
    generatePings({ devices: 50, pingsPerDevice: 10, startMs: Date.UTC(2025, 0, 15), seed: 3 }),
    2,
  );
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  const progress = await waitFor('progress after the input', () => {
    const p = handle.processor.progress();
    return p.lag === 0 && p.lastProgressMs >= before ? p : undefined;
  });
  assert.equal(progress.stopped, false);
  const text = await handle.processor.metrics.registry.metrics();
  assert.match(text, /footfall_processor_last_progress_timestamp_seconds\{[^}]*\} \d/);
  assert.match(text, /footfall_processor_consumer_lag_total\{[^}]*\} 0/);
});
