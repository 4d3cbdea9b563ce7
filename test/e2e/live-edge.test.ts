// The live edge on real Kafka + real PostgreSQL (docs/insights.md, "Live edge"): a device whose latest
// ping is recent is counted provisionally up to now; when its later pings arrive the bucket is confirmed;
// once past finalAtMs the same bucket answers `final` with the exact count, and the provisional output
// never touched the final `occupancy` rows. Short buckets (10 s) and horizon (20 s) keep the wait for
// the clock to pass finalAtMs short; every wait is on an API answer, never a fixed sleep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PingRecord } from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import { startStack } from '@footfall/stack';
import { createTemporaryDatabase, kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { Producer } from '@platformatic/kafka';
import { cellToLatLng, latLngToCell } from 'h3-js';

const BUCKET_MS = 10_000;
const HORIZON_MS = 20_000;
const PARTITIONS = 2;
const CELL = latLngToCell(38.7139, -9.1394, 10);
const [LAT, LON] = cellToLatLng(CELL);
const DEVICES = ['live-a', 'live-b', 'live-c'];

interface Answer {
  devices: number | null;
  state: 'provisional' | 'final';
  finalAtMs: number;
  completeness: number;
  nowcast: { observed: number | null; confirmed: number | null; estimate: number | null } | null;
}

test('a provisional count carried to now is confirmed by later pings, then turns final with the exact count', async (t) => {
  const temp = await createTemporaryDatabase();
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  t.after(async () => {
    await stack?.close();
    await temp.drop();
  });
  const topics = await uniqueTopics(PARTITIONS);
  stack = await startStack({
    kafkaBootstrap: kafkaBootstrap(),
    topics: { ingestion: topics.ingestion, aggregated: topics.aggregated },
    partitions: PARTITIONS,
    databaseUrl: temp.url,
    groupSuffix: `-${randomBytes(4).toString('hex')}`,
    env: {
      K_ANONYMITY: '1',
      API_POPULAR_CACHE_MS: '0',
      EMIT_INTERVAL_MS: '100',
      BUCKET_MS: String(BUCKET_MS),
      NOWCAST_INTERVAL_MS: '100',
      NOWCAST_HORIZON_MS: String(HORIZON_MS),
      NOWCAST_SETTLE_MS: String(HORIZON_MS),
    },
  });
  const s = stack;
  const producer = new Producer({ clientId: 'live-edge-test', bootstrapBrokers: [s.kafkaBootstrap] });
  t.after(() => producer.close());
  const region = regionOf(CELL, 5);
  const send = (eventTimeMs: number, tag: string) =>
    producer.send({
      messages: DEVICES.map((deviceId) => ({
        topic: topics.ingestion,
        key: Buffer.from(region),
        partition: javaPartition(region, PARTITIONS),
        value: Buffer.from(
          PingRecord.encode({
            pingId: `${deviceId}-${tag}`,
            deviceId,
            eventTimeMs,
            receivedAtMs: Date.now(),
            latitude: LAT,
            longitude: LON,
            accuracyM: 10,
            cell: CELL,
            activity: 0,
          }).finish(),
        ),
      })),
    });
  const get = async (b: number): Promise<Answer> => {
    const r = await fetch(`${s.apiUrl}/v1/occupancy?cell=${CELL}&at=${b}`);
    assert.equal(r.status, 200);
    return (await r.json()) as Answer;
  };

  // The current bucket b; the first pings are in the bucket before it (arrived, but nothing in b yet).
  const now0 = Date.now();
  const b = Math.floor(now0 / BUCKET_MS) * BUCKET_MS;
  await send(b - 3_000, 'first');
  const provisional = await waitFor('a provisional count carried into the current bucket', async () => {
    const a = await get(b);
    return a.state === 'provisional' && a.nowcast?.observed === 3 ? a : undefined;
  });
  t.diagnostic(`provisional: ${JSON.stringify(provisional)}`);
  assert.equal(provisional.devices, null, 'no ping of b has arrived: the confirmed count is 0 (suppressed)');
  assert.equal(provisional.nowcast?.confirmed, null);
  assert.ok((provisional.nowcast?.estimate ?? 0) >= 3);
  assert.equal(provisional.finalAtMs, b + BUCKET_MS + HORIZON_MS);

  // The later pings arrive: b is confirmed by them (revision of the provisional value).
  await send(Math.max(b + 1_000, Math.min(Date.now(), b + BUCKET_MS - 1)), 'second');
  const confirmed = await waitFor('the bucket confirmed by the arrived pings', async () => {
    const a = await get(b);
    return a.devices === 3 && a.nowcast?.confirmed === 3 ? a : undefined;
  });
  t.diagnostic(`confirmed: ${JSON.stringify(confirmed)}`);
  assert.equal(confirmed.state, 'provisional');

  // Past finalAtMs the same bucket is final: the exact count, no nowcast.
  const final = await waitFor(
    'the bucket to turn final',
    async () => {
      const a = await get(b);
      return a.state === 'final' ? a : undefined;
    },
    BUCKET_MS + HORIZON_MS + 30_000,
  );
  assert.deepEqual([final.devices, final.nowcast, final.completeness], [3, null, 1]);
  // The provisional rows never wrote the final table: every occupancy row of the cell is an exact count.
  const { rows } = await s.db.query<{ devices: number }>('SELECT devices FROM occupancy WHERE cell = $1', [
    CELL,
  ]);
  assert.ok(rows.length > 0 && rows.every((r) => r.devices === 3), JSON.stringify(rows));
  const live = await s.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM occupancy_live WHERE cell = $1',
    [CELL],
  );
  assert.ok((live.rows[0]?.n ?? 0) > 0, 'the live edge was stored separately');
});
