import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { Producer } from '@platformatic/kafka';
import { gridDisk, gridDistance, latLngToCell } from 'h3-js';
import { loadProcessorConfig, startProcessor } from '../src/index.ts';
import {
  expectedView,
  generatePings,
  normalize,
  producePings,
  readLatest,
  type TestPing,
  waitCaughtUp,
} from './helpers.ts';

function env(
  topics: { ingestion: string; aggregated: string },
  groupId: string,
  extra: Record<string, string> = {},
) {
  return {
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    GROUP_ID: groupId,
    INSTANCE_ID: `t-${randomBytes(3).toString('hex')}`,
    OPS_PORT: '0',
    LOG_LEVEL: 'warn',
    EMIT_INTERVAL_MS: '200',
    ...extra,
  };
}

const DAY = Date.UTC(2025, 0, 15);
const at = (h: number, m: number, s = 0) => DAY + ((h * 60 + m) * 60 + s) * 1000;

test('worked example of docs/insights.md: exact occupancy and visits, then a late ping raises counts', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-${randomBytes(4).toString('hex')}`;
  const handle = await startProcessor(loadProcessorConfig(env(topics, groupId)));
  t.after(() => handle.close());

  const X = latLngToCell(52.52, 13.405, 10);
  const X2 = gridDisk(X, 1).find((c) => c !== X) as string;
  const Y = gridDisk(X, 3).find((c) => gridDistance(X, c) === 3) as string;
  const ping = (deviceId: string, pingId: string, eventTimeMs: number, cell: string): TestPing => ({
    deviceId,
    pingId,
    eventTimeMs,
    cell,
    accuracyM: 10,
    latitude: 52.52,
    longitude: 13.405,
  });
  const base = [
    ping('A', 'a1', at(12, 0, 10), X),
    ping('B', 'b1', at(12, 1), X),
    ping('A', 'a2', at(12, 2, 30), X2),
    ping('C', 'c1', at(12, 3, 20), Y),
    ping('C', 'c2', at(12, 3, 40), Y),
    ping('C', 'c3', at(12, 4, 50), Y),
    ping('A', 'a3', at(12, 6), X),
    ping('B', 'b2', at(12, 20), X),
  ];
  await producePings(kafkaBootstrap(), topics.ingestion, base, 6);
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);

  const occ = (cell: string, m: number, devices: number, pings: number): [string, string] => [
    `occ:${cell}:${at(12, m)}`,
    JSON.stringify({
      region: handleRegion(cell),
      occupancy: { cell, bucketStartMs: at(12, m), bucketMs: 60_000, devices, pings },
    }),
  ];
  const visit = (d: string, cell: string, start: number, end: number, pings: number): [string, string] => [
    `visit:${d}:${cell}:${start}`,
    JSON.stringify({
      region: handleRegion(cell),
      visit: { deviceId: d, cell, startMs: start, endMs: end, pings, closed: false },
    }),
  ];
  const phase1 = new Map([
    occ(X, 0, 1, 1),
    occ(X, 1, 2, 1),
    occ(X, 2, 1, 1),
    occ(X, 3, 1, 0),
    occ(X, 4, 1, 0),
    occ(X, 5, 1, 0),
    occ(X, 6, 1, 1),
    occ(X, 20, 1, 1),
    occ(Y, 3, 1, 2),
    occ(Y, 4, 1, 1),
    visit('A', X, at(12, 0, 10), at(12, 6), 3),
  ]);
  assert.deepEqual(normalize(await readLatest(kafkaBootstrap(), topics.aggregated)), sortMap(phase1));

  // The late ping of B at 12:10 joins B's pings into one stay: X counts 2 at 12:02–12:06, 1 at 12:07–12:19.
  await producePings(kafkaBootstrap(), topics.ingestion, [ping('B', 'b3', at(12, 10), X)], 6);
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  const phase2 = new Map(phase1);
  for (const m of [2, 3, 4, 5, 6]) phase2.set(...occ(X, m, 2, m === 2 || m === 6 ? 1 : 0));
  for (let m = 7; m <= 19; m++) phase2.set(...occ(X, m, 1, m === 10 ? 1 : 0));
  phase2.set(...visit('B', X, at(12, 1), at(12, 20), 3));
  assert.deepEqual(normalize(await readLatest(kafkaBootstrap(), topics.aggregated)), sortMap(phase2));
});

function handleRegion(cell: string): string {
  // The aggregator's region = parent at REGION_RESOLUTION 5.
  return regionOfCell(cell);
}

import { regionOf as regionOfCell } from '@footfall/domain';

function sortMap(m: Map<string, string>): Map<string, string> {
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
}

test('generated stream: output equals a single-pass aggregation (latest per key)', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-${randomBytes(4).toString('hex')}`;
  const pings = generatePings({ devices: 300, pingsPerDevice: 30, startMs: DAY, seed: 7 });
  await producePings(kafkaBootstrap(), topics.ingestion, pings, 6);
  const handle = await startProcessor(loadProcessorConfig(env(topics, groupId)));
  t.after(() => handle.close());
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  const actual = normalize(await readLatest(kafkaBootstrap(), topics.aggregated));
  const expected = normalize(expectedView(pings, 6));
  assert.ok(expected.size > 100, `expected a meaningful dataset, got ${expected.size} keys`);
  assert.deepEqual(actual, expected);
});

test('late, duplicate and inaccurate pings are counted in metrics', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-${randomBytes(4).toString('hex')}`;
  const handle = await startProcessor(
    loadProcessorConfig(env(topics, groupId, { ALLOWED_LATENESS_MS: '600000' })),
  );
  t.after(() => handle.close());
  const X = latLngToCell(48.8566, 2.3522, 10);
  const p = (pingId: string, eventTimeMs: number, accuracyM = 10): TestPing => ({
    deviceId: 'D',
    pingId,
    eventTimeMs,
    cell: X,
    accuracyM,
    latitude: 48.8566,
    longitude: 2.3522,
  });
  await producePings(
    kafkaBootstrap(),
    topics.ingestion,
    [p('1', at(9, 0)), p('2', at(9, 30)), p('late', at(9, 5)), p('2', at(9, 30)), p('bad', at(9, 31), 500)],
    6,
  );
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  const metric = await handle.processor.metrics.events.get();
  const byResult = Object.fromEntries(metric.values.map((v) => [v.labels.result, v.value]));
  assert.deepEqual(byResult, { accepted: 2, late: 1, duplicate: 1, inaccurate: 1 });
  const text = await handle.processor.metrics.registry.metrics();
  assert.match(text, /footfall_processor_emit_latency_seconds_count\{[^}]*\} 5/);
  assert.match(text, /footfall_processor_consumer_lag\{/);
  assert.match(text, /footfall_processor_state_devices\{/);
  await waitFor('readiness', () => handle.processor.ready);
});

test('corrupt records on ingestion are counted as bad_record and skipped; the pings around them count', async (t) => {
  const topics = await uniqueTopics(1);
  const groupId = `g-${randomBytes(4).toString('hex')}`;
  const handle = await startProcessor(loadProcessorConfig(env(topics, groupId)));
  t.after(() => handle.close());
  const X = latLngToCell(48.8566, 2.3522, 10);
  const good = (pingId: string, eventTimeMs: number): TestPing => ({
    deviceId: 'D',
    pingId,
    eventTimeMs,
    cell: X,
    accuracyM: 10,
    latitude: 48.8566,
    longitude: 2.3522,
  });
  await producePings(kafkaBootstrap(), topics.ingestion, [good('1', at(9, 0))], 1);
  const producer = new Producer({ clientId: 'test-garbage', bootstrapBrokers: [kafkaBootstrap()] });
  try {
    await producer.send({
      messages: [
        // Not protobuf (a truncated varint field), then a tombstone: neither is a PingRecord.
        { topic: topics.ingestion, partition: 0, key: Buffer.from('k'), value: Buffer.from([0x0a, 0xff]) },
        { topic: topics.ingestion, partition: 0, key: Buffer.from('k'), value: null as unknown as Buffer },
      ],
    });
  } finally {
    await producer.close();
  }
  await producePings(kafkaBootstrap(), topics.ingestion, [good('2', at(9, 1))], 1);
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  const byResult = Object.fromEntries(
    (await handle.processor.metrics.events.get()).values.map((v) => [v.labels.result, v.value]),
  );
  assert.deepEqual(byResult, { accepted: 2, bad_record: 2 });
  assert.ok(handle.processor.ready, 'still ready: a bad record never stops the loop');
});

test('a failed transaction keeps the state of partitions still owned and re-sends its work (no rebuild)', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-${randomBytes(4).toString('hex')}`;
  let injected = 0;
  const handle = await startProcessor(loadProcessorConfig(env(topics, groupId)), {
    // Two transactions with input fail right before EndTxn (they abort).
    beforeCommit: (point) => {
      if (point.liveRecords > 0 && injected < 2) {
        injected++;
        throw new Error('injected failure before commit');
      }
    },
  });
  t.after(() => handle.close());
  const pings = generatePings({ devices: 300, pingsPerDevice: 30, startMs: DAY, seed: 5 });
  await producePings(kafkaBootstrap(), topics.ingestion, pings, 6);
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
  assert.equal(injected, 2);
  const m = handle.processor.metrics;
  const aborted = (await m.transactions.get()).values.find((v) => v.labels.outcome === 'aborted');
  assert.equal(aborted?.value, 2);
  const rebuilds = Object.fromEntries((await m.rebuilds.get()).values.map((v) => [v.labels.reason, v.value]));
  assert.deepEqual(rebuilds, { assigned: 6 }, 'nothing rebuilt after the aborts');
  assert.equal((await m.restoreRecords.get()).values[0]?.value ?? 0, 0, 'no replay');
  assert.deepEqual(
    normalize(await readLatest(kafkaBootstrap(), topics.aggregated)),
    normalize(expectedView(pings, 6)),
  );
});
