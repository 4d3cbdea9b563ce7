// Erasure end to end on the real broker and PostgreSQL (issue 13, defect 3): enroll and upload through
// the real ingest gRPC service, erase through the API, then
// - the erased device's next upload is refused with PERMISSION_DENIED / INGEST_DEVICE_ERASED, while a
//   re-enrolled install gets a fresh, unlinked identity that may upload;
// - the processor, restarted, rebuilds its state by replaying `ingestion` and no longer counts the
//   erased device's raw pings (which are still on the topic until retention deletes them);
// - `notErased` states what remains, until when, from the broker's real topic settings.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AggregateRecord } from '@footfall/contracts';
import { describeRetention, erasuresTopicSpec, RETENTION_CHECK_INTERVAL_MS } from '@footfall/erasure';
import { DeviceClient, DeviceClientError } from '@footfall/ingest/sdk';
import { createTopics, footfallTopics, javaPartition } from '@footfall/kafka';
import { type Stack, startStack } from '@footfall/stack';
import { createTemporaryDatabase, kafkaBootstrap, waitFor } from '@footfall/testing';
import { status } from '@grpc/grpc-js';
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import { cellToParent, latLngToCell } from 'h3-js';

const PARTITIONS = 3;
const LAT = 38.7223;
const LON = -9.1393;
const CELL = latLngToCell(LAT, LON, 10);
const PARTITION = javaPartition(cellToParent(CELL, 5), PARTITIONS);

interface NotErased {
  data: string;
  reason: string;
  untilMs: number | null;
}

function ping(eventTimeMs: number) {
  return {
    latitude: LAT,
    longitude: LON,
    accuracyM: 8,
    eventTimeMs,
    speedMps: 0,
    headingDeg: 0,
    altitudeM: 0,
  };
}

/** Offsets the processor's group committed on `ingestion` (its outputs commit in the same transaction). */
async function processorCaughtUp(stack: Stack, topic: string): Promise<boolean> {
  const consumer = new Consumer({
    clientId: 'erasure-e2e',
    bootstrapBrokers: [stack.kafkaBootstrap],
    groupId: stack.processor.processor.config.groupId,
  });
  try {
    const partitions = Array.from({ length: PARTITIONS }, (_, i) => i);
    const ends = (
      await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })
    ).get(topic);
    const committed = (await consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })).get(topic);
    // A partition that never had a record has nothing to commit (-1).
    return partitions.every((p) => (ends?.[p] ?? 0n) === 0n || (committed?.[p] ?? -1n) >= (ends?.[p] ?? 0n));
  } finally {
    await consumer.close();
  }
}

/** Every committed occupancy value of (CELL, bucket) on `aggregated`, in log order. */
async function occupancyHistory(stack: Stack, topic: string, bucketStartMs: number): Promise<number[]> {
  const consumer = new Consumer({
    clientId: 'erasure-e2e',
    bootstrapBrokers: [stack.kafkaBootstrap],
    groupId: 'unused',
  });
  try {
    const metadata = await consumer.metadata({ topics: [topic] });
    const t = metadata.topics.get(topic);
    assert.ok(t);
    const key = `occ:${CELL}:${bucketStartMs}`;
    const out: number[] = [];
    let position = 0n;
    for (;;) {
      const response = await consumer.fetch({
        node: t.partitions[PARTITION]?.leader as number,
        topics: [
          {
            topicId: t.id,
            partitions: [
              {
                partition: PARTITION,
                fetchOffset: position,
                partitionMaxBytes: 4 << 20,
                currentLeaderEpoch: -1,
                lastFetchedEpoch: -1,
              },
            ],
          },
        ],
        maxWaitTime: 10,
        minBytes: 1,
        maxBytes: 4 << 20,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      });
      const p = response.responses[0]?.partitions[0];
      assert.ok(p && p.errorCode === 0, `fetch error ${p?.errorCode}`);
      const aborted = new Set((p.abortedTransactions ?? []).map((a) => a.producerId));
      for (const batch of p.records ?? []) {
        position = batch.firstOffset + BigInt(batch.lastOffsetDelta) + 1n;
        if ((batch.attributes & 0x20) !== 0 || aborted.has(batch.producerId)) continue;
        for (const r of batch.records) {
          if (r.key?.toString() !== key || r.value === null) continue;
          const devices = AggregateRecord.decode(r.value).occupancy?.devices;
          if (devices !== undefined) out.push(devices);
        }
      }
      if (position >= p.lastStableOffset || (p.records ?? []).length === 0) return out;
    }
  } finally {
    await consumer.close();
  }
}

test('erasure: revoke, refuse, stop counting the raw pings on replay, and an honest notErased', async (t) => {
  const temp = await createTemporaryDatabase();
  // One hook: the stack must be closed (sink drained) before its database is dropped.
  let stack: Stack | undefined;
  t.after(async () => {
    await stack?.close();
    await temp.drop();
  });
  const suffix = randomBytes(4).toString('hex');
  const topics = {
    ingestion: `ingestion-${suffix}`,
    aggregated: `aggregated-${suffix}`,
    erasures: `erasures-${suffix}`,
    places: `places-${suffix}`,
  };
  // The production topic settings (3 h retention on ingestion), so notErased can be checked against them.
  await createTopics(
    kafkaBootstrap(),
    footfallTopics(PARTITIONS).map((spec) => ({ ...spec, name: topics[spec.name as keyof typeof topics] })),
  );
  stack = await startStack({
    kafkaBootstrap: kafkaBootstrap(),
    topics,
    partitions: PARTITIONS,
    databaseUrl: temp.url,
    groupSuffix: `-${suffix}`,
    env: { K_ANONYMITY: '1', EMIT_INTERVAL_MS: '200' },
    logLevel: process.env.E2E_LOG_LEVEL ?? 'warn',
  });
  assert.equal(erasuresTopicSpec(topics.erasures).configs?.['cleanup.policy'], 'compact');

  const clients: DeviceClient[] = [];
  const device = async () => {
    const client = new DeviceClient({ target: stack.ingestTarget, maxAttempts: 1 });
    clients.push(client);
    await client.enroll();
    return client;
  };
  t.after(() => {
    for (const c of clients) c.close();
  });
  const victim = await device();
  const bystander = await device();
  const victimId = victim.identity?.deviceId as string;

  // One cell, one minute bucket ten minutes ago (well inside the processor's allowed lateness).
  const bucket = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000;
  assert.equal((await victim.upload([ping(bucket + 5_000), ping(bucket + 6_000)])).accepted, 2);
  assert.equal((await bystander.upload([ping(bucket + 10_000)])).accepted, 1);
  await waitFor('processor caught up (before erasure)', () => processorCaughtUp(stack, topics.ingestion));
  assert.deepEqual(
    (await occupancyHistory(stack, topics.aggregated, bucket)).at(-1),
    2,
    'both devices counted',
  );

  // --- erase, as the user themself ---
  const response = await fetch(`${stack.apiUrl}/v1/users/${victimId}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${victim.identity?.userToken}` },
  });
  const body = (await response.json()) as { erasedAtMs: number; notErased: NotErased[] };
  assert.equal(response.status, 200, JSON.stringify(body));

  // notErased tells what remains and until when, from the broker's real settings.
  const retention = await describeRetention({ kafkaBootstrap: [stack.kafkaBootstrap] }, [
    topics.ingestion,
    topics.aggregated,
  ]);
  const ingestion = retention.get(topics.ingestion);
  assert.ok(ingestion?.retentionMs === 3 * 3_600_000 && ingestion.segmentMs === 15 * 60_000);
  const byData = new Map(body.notErased.map((n) => [n.data, n]));
  const raw = byData.get(`kafka:${topics.ingestion}`);
  assert.ok(raw, `notErased names the raw topic: ${JSON.stringify(body.notErased)}`);
  assert.equal(
    raw.untilMs,
    body.erasedAtMs + 60_000 + ingestion.segmentMs + ingestion.retentionMs + RETENTION_CHECK_INTERVAL_MS,
  );
  assert.match(raw.reason, /exact position/);
  const aggregated = byData.get(`kafka:${topics.aggregated}`);
  assert.ok(aggregated && aggregated.untilMs !== null && aggregated.untilMs > body.erasedAtMs);
  for (const kept of ['occupancy', 'erasure-record', 'backups'])
    assert.equal(byData.get(kept)?.untilMs, null, kept);

  // --- revoke and refuse: ingest learns the erasure from the log (synchronise on that, not on time) ---
  await stack.ingest.erasures.waitFor(victimId, AbortSignal.timeout(30_000));
  const refused = await victim.upload([ping(bucket + 30_000)]).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(refused instanceof DeviceClientError, `upload after erasure: ${String(refused)}`);
  assert.equal(refused.code, status.PERMISSION_DENIED);
  assert.equal(refused.errorCode, 'INGEST_DEVICE_ERASED');
  // The same install may enroll again: a new pseudonym, unlinked to the erased one, that may upload.
  const reenrolled = await device();
  assert.notEqual(reenrolled.identity?.deviceId, victimId);

  // --- the raw pings stay on `ingestion` until retention, but a rebuild no longer counts them ---
  await stack.processor.processor.erasures.waitFor(victimId, AbortSignal.timeout(30_000));
  await stack.restartProcessor();
  assert.ok(
    stack.processor.processor.erasures.has(victimId),
    'the new processor loaded the erasure log at start-up',
  );
  // A new device in the same bucket makes the processor emit the bucket again, from its rebuilt state:
  // {bystander, newcomer} = 2 with the erasure applied, 3 if the replay still counted the victim.
  const newcomer = await device();
  assert.equal((await newcomer.upload([ping(bucket + 20_000)])).accepted, 1);
  assert.equal((await bystander.upload([ping(bucket + 21_000)])).accepted, 1);
  await waitFor('processor caught up (after restart)', () => processorCaughtUp(stack, topics.ingestion));
  const history = await occupancyHistory(stack, topics.aggregated, bucket);
  t.diagnostic(`occupancy of the bucket over time: ${history.join(' → ')}`);
  assert.equal(history.at(-1), 2, `the rebuilt state excludes the erased device: ${history.join(' → ')}`);
  const restoreMetrics = await stack.processor.processor.metrics.registry.getSingleMetricAsString(
    'footfall_processor_restore_records_total',
  );
  assert.match(restoreMetrics, / [1-9]\d*$/m, 'the new processor did replay the topic');
});
