import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { latLngToCell } from 'h3-js';
import { loadProcessorConfig, startProcessor } from '../src/index.ts';
import { partitionOf, producePings, readLatest, type TestPing, waitCaughtUp } from './helpers.ts';

const T0 = Date.UTC(2025, 0, 15, 9);
const X = latLngToCell(48.8566, 2.3522, 10);
const ping = (deviceId: string, pingId: string, eventTimeMs: number): TestPing => ({
  deviceId,
  pingId,
  eventTimeMs,
  cell: X,
  accuracyM: 10,
  latitude: 48.8566,
  longitude: 2.3522,
});

test('idle partition: the watermark advances with the clock, the open visit closes, a ping behind it is late (also after a restore)', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-idle-${randomBytes(4).toString('hex')}`;
  const config = loadProcessorConfig({
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    GROUP_ID: groupId,
    INSTANCE_ID: `idle-${randomBytes(3).toString('hex')}`,
    OPS_PORT: '0',
    LOG_LEVEL: 'warn',
    EMIT_INTERVAL_MS: '100',
    BUCKET_MS: '1000',
    ALLOWED_LATENESS_MS: '2000',
    PRESENCE_MAX_GAP_MS: '2000',
    MIN_VISIT_MS: '5000',
    PROCESSOR_IDLE_TIMEOUT_MS: '1000',
  });
  const handle = await startProcessor(config);
  t.after(() => handle.close());

  // One device, one 10 s stay, then silence. Without idleness the data watermark stays at T0 + 8 s and
  // the visit would stay open until more pings come to this partition.
  const stay = Array.from({ length: 6 }, (_, i) => ping('D', `d${i}`, T0 + i * 2_000));
  await producePings(kafkaBootstrap(), topics.ingestion, stay, 6);
  const visitKey = `visit:D:${X}:${T0}`;
  const closed = await waitFor(
    'the visit of the quiet partition to close',
    async () => {
      const v = (await readLatest(kafkaBootstrap(), topics.aggregated)).get(visitKey)?.visit;
      return v?.closed ? v : undefined;
    },
    60_000,
    200,
  );
  assert.equal(closed.endMs, T0 + 10_000);
  assert.equal(closed.pings, 6);
  const advances = await handle.processor.metrics.idleAdvances.get();
  assert.ok(
    advances.values.some((v) => v.labels.source === 'wall_clock' && v.value > 0),
    'advanced by the wall clock',
  );

  // The trade-off: a ping that would have been on time had the partition not been idle is now late.
  const partition = partitionOf(stay[0] as TestPing, 6);
  await producePings(kafkaBootstrap(), topics.ingestion, [ping('E', 'e1', T0 + 9_000)], 6);
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  const events = await handle.processor.metrics.events.get();
  assert.equal(events.values.find((v) => v.labels.result === 'late')?.value, 1, 'E is late');
  assert.equal((await readLatest(kafkaBootstrap(), topics.aggregated)).get(visitKey)?.visit?.closed, true);

  // A new owner rebuilds by replay: the gap in the record timestamps re-applies the idle advance, so
  // the replay also finds E late (state equals the original's, not a lower data-only watermark).
  await handle.close();
  const again = await startProcessor(config);
  t.after(() => again.close());
  await waitFor(
    'the restore',
    () => again.processor.ready && again.processor.assignedPartitions.length === 6,
  );
  const restored = again.processor.stats()[partition];
  assert.equal(restored?.lateDropped, 1, 'the replay dropped E as late too');
  assert.equal(restored?.accepted, 6);
});
