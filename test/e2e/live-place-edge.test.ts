// The live edge of a named place on real Kafka + real PostgreSQL (docs/places.md, "Live edge"): devices
// whose latest pings lie in the place's cells are counted provisionally up to now, each once although
// they are in two cells of the place; their later pings confirm the bucket; past finalAtMs the same
// bucket answers `final` with the exact distinct count, and the provisional rows never touched
// `place_occupancy`. Short buckets (10 s) and horizon (20 s) keep the wait short; every wait is on an
// API answer, never a fixed sleep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PingRecord } from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { createTopics, footfallTopics, javaPartition } from '@footfall/kafka';
import { type Stack, startStack } from '@footfall/stack';
import { createTemporaryDatabase, kafkaBootstrap, waitFor } from '@footfall/testing';
import { Producer } from '@platformatic/kafka';
import { cellToBoundary, cellToLatLng, gridRingUnsafe, latLngToCell } from 'h3-js';

const BUCKET_MS = 10_000;
const HORIZON_MS = 20_000;
const PARTITIONS = 2;
const X = latLngToCell(52.5251, 13.3694, 10);
/** Two rings from X (beyond the jitter ring): a device pinging X then Z is present in both cells. */
const Z = gridRingUnsafe(X, 2)[0] as string;

/** GeoJSON ring ([lon, lat]) of a cell's hexagon, enlarged by 5 % (contains its centre only). */
function hexRing(cell: string): [number, number][] {
  const [clat, clon] = cellToLatLng(cell);
  const pts = cellToBoundary(cell).map(
    ([lat, lon]) => [clon + (lon - clon) * 1.05, clat + (lat - clat) * 1.05] as [number, number],
  );
  return [...pts, pts[0] as [number, number]];
}

interface Answer {
  devices: number | null;
  state: 'provisional' | 'final';
  finalAtMs: number;
  completeness: number;
  nowcast: { observed: number | null; confirmed: number | null; estimate: number | null } | null;
}

test('a provisional place count (distinct across its cells) is confirmed, then turns final with the exact count', async (t) => {
  const temp = await createTemporaryDatabase();
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
  const created = await fetch(`${s.apiUrl}/v1/places`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'Live station',
      category: 'station',
      geometry: { type: 'MultiPolygon', coordinates: [[hexRing(X)], [hexRing(Z)]] },
      effectiveFrom: String(Date.now() - 10 * 60_000),
    }),
  });
  assert.equal(created.status, 201);
  const placeId = ((await created.json()) as { id: string }).id;
  await waitFor('the place known to the processor', () => s.processor.processor.places.index.get(placeId));

  const producer = new Producer({ clientId: 'live-place-test', bootstrapBrokers: [s.kafkaBootstrap] });
  t.after(() => producer.close());
  const region = regionOf(X, 5);
  const send = (pings: { deviceId: string; cell: string; eventTimeMs: number; tag: string }[]) =>
    producer.send({
      messages: pings.map(({ deviceId, cell, eventTimeMs, tag }) => {
        const [latitude, longitude] = cellToLatLng(cell);
        return {
          topic: topics.ingestion,
          key: Buffer.from(region),
          partition: javaPartition(region, PARTITIONS),
          value: Buffer.from(
            PingRecord.encode({
              pingId: `${deviceId}-${tag}`,
              deviceId,
              eventTimeMs,
              receivedAtMs: Date.now(),
              latitude,
              longitude,
              accuracyM: 8,
              cell,
              activity: 0,
            }).finish(),
          ),
        };
      }),
    });
  const get = async (b: number): Promise<Answer> => {
    const r = await fetch(`${s.apiUrl}/v1/places/${placeId}/occupancy?at=${b}`);
    assert.equal(r.status, 200);
    return (await r.json()) as Answer;
  };

  // The current bucket b. In the bucket before it: A in X then Z (two cells of the place), B in X,
  // C in Z. Nothing in b has arrived: three devices carried, never four.
  const b = Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS;
  await send([
    { deviceId: 'A', cell: X, eventTimeMs: b - 6_000, tag: '1' },
    { deviceId: 'A', cell: Z, eventTimeMs: b - 3_000, tag: '2' },
    { deviceId: 'B', cell: X, eventTimeMs: b - 5_000, tag: '1' },
    { deviceId: 'C', cell: Z, eventTimeMs: b - 4_000, tag: '1' },
  ]);
  const provisional = await waitFor('a provisional place count carried into the current bucket', async () => {
    const a = await get(b);
    return a.state === 'provisional' && a.nowcast?.observed === 3 ? a : undefined;
  });
  t.diagnostic(`provisional: ${JSON.stringify(provisional)}`);
  assert.equal(provisional.devices, null, 'no ping of b has arrived: the confirmed count is 0 (suppressed)');
  assert.equal(provisional.nowcast?.confirmed, null);
  assert.ok((provisional.nowcast?.estimate ?? 0) >= 3);
  assert.equal(provisional.finalAtMs, b + BUCKET_MS + HORIZON_MS);

  // The later pings arrive: in b, A again in X then Z (two cells: the cells count it twice), B, C.
  const t1 = Math.max(b + 500, Math.min(Date.now() - 2_000, b + BUCKET_MS - 2_000));
  await send([
    { deviceId: 'A', cell: X, eventTimeMs: t1, tag: '3' },
    { deviceId: 'A', cell: Z, eventTimeMs: t1 + 1_000, tag: '4' },
    { deviceId: 'B', cell: X, eventTimeMs: t1, tag: '2' },
    { deviceId: 'C', cell: Z, eventTimeMs: t1, tag: '2' },
  ]);
  const confirmed = await waitFor('the place bucket confirmed by the arrived pings', async () => {
    const a = await get(b);
    return a.devices === 3 && a.nowcast?.confirmed === 3 ? a : undefined;
  });
  t.diagnostic(`confirmed: ${JSON.stringify(confirmed)}`);
  assert.equal(confirmed.state, 'provisional');

  // Past finalAtMs the same bucket is final: the exact distinct count, no nowcast.
  const final = await waitFor(
    'the place bucket to turn final',
    async () => {
      const a = await get(b);
      return a.state === 'final' ? a : undefined;
    },
    BUCKET_MS + HORIZON_MS + 30_000,
  );
  assert.deepEqual([final.devices, final.nowcast, final.completeness], [3, null, 1]);
  const cells = await s.db.query<{ devices: number }>(
    'SELECT devices FROM occupancy WHERE cell = ANY($1::text[]) AND bucket_start = to_timestamp($2 / 1000.0)',
    [[X, Z], b],
  );
  assert.equal(
    cells.rows.reduce((n, r) => n + r.devices, 0),
    4,
    'the cells count A twice; the place once',
  );
  // The provisional rows never wrote the final table; they were stored separately.
  const { rows } = await s.db.query<{ devices: number }>(
    'SELECT devices FROM place_occupancy WHERE place_id = $1',
    [placeId],
  );
  assert.ok(rows.length > 0 && rows.every((r) => r.devices === 3), JSON.stringify(rows));
  const live = await s.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM place_occupancy_live WHERE place_id = $1',
    [placeId],
  );
  assert.ok((live.rows[0]?.n ?? 0) > 0, 'the place live edge was stored separately');
});
