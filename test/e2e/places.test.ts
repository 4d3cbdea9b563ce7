// Named places end to end (issue 17) on the real broker and PostgreSQL: an operator creates places
// through the API; the definition reaches the processor over the compacted `places` topic; pings
// uploaded through ingest then show up as exact per-place counts (a device in two cells of one place in
// one bucket counted once), popular places, dwell and a user's time per place, all through the
// k-anonymity gate (K_ANONYMITY=2 here). Every wait is on the pipeline's own state, never a sleep.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { DeviceClient } from '@footfall/ingest/sdk';
import { createTopics, footfallTopics } from '@footfall/kafka';
import { type Stack, startStack } from '@footfall/stack';
import { createTemporaryDatabase, kafkaBootstrap, waitFor } from '@footfall/testing';
import { cellToBoundary, cellToLatLng, gridRingUnsafe, latLngToCell } from 'h3-js';

const MIN = 60_000;
const X = latLngToCell(52.5251, 13.3694, 10);
/** Two rings from X: a ping there starts a new stay (beyond the jitter ring), so X and Z are two cells. */
const Z = gridRingUnsafe(X, 2)[0] as string;
const Y = gridRingUnsafe(X, 6)[0] as string;

/** GeoJSON ring ([lon, lat]) of a cell's hexagon, enlarged by 5 % around its centre (contains its centre only). */
function hexRing(cell: string): [number, number][] {
  const [clat, clon] = cellToLatLng(cell);
  const pts = cellToBoundary(cell).map(
    ([lat, lon]) => [clon + (lon - clon) * 1.05, clat + (lat - clat) * 1.05] as [number, number],
  );
  return [...pts, pts[0] as [number, number]];
}

const at = (cell: string, eventTimeMs: number) => {
  const [latitude, longitude] = cellToLatLng(cell);
  return { latitude, longitude, accuracyM: 8, eventTimeMs, speedMps: 0, headingDeg: 0, altitudeM: 0 };
};

test('a place created through the API counts live pings exactly (distinct across its cells)', async (t) => {
  const temp = await createTemporaryDatabase();
  let stack: Stack | undefined;
  const clients: DeviceClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
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
    footfallTopics(3).map((spec) => ({ ...spec, name: topics[spec.name as keyof typeof topics] })),
  );
  stack = await startStack({
    kafkaBootstrap: kafkaBootstrap(),
    topics,
    partitions: 3,
    databaseUrl: temp.url,
    groupSuffix: `-${suffix}`,
    env: { K_ANONYMITY: '2', EMIT_INTERVAL_MS: '200', PLACES_MAX_CELLS: '50' },
    logLevel: process.env.E2E_LOG_LEVEL ?? 'warn',
  });
  const s = stack;
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    token: string | null = s.operatorToken,
  ) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${s.apiUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  // One minute bucket ten minutes ago: inside the allowed lateness, and the places apply from it.
  const b = Math.floor((Date.now() - 10 * MIN) / MIN) * MIN;
  const station = {
    name: 'Test Hauptbahnhof',
    category: 'station',
    geometry: { type: 'MultiPolygon', coordinates: [[hexRing(X)], [hexRing(Z)]] },
    effectiveFrom: String(b),
  };

  // The registry refuses bad input with the reason, and non-operators.
  assert.equal((await call('POST', '/v1/places', station, null)).status, 401);
  const unclosed = await call('POST', '/v1/places', {
    ...station,
    geometry: { type: 'Polygon', coordinates: [hexRing(X).slice(0, -1)] },
  });
  assert.equal(unclosed.status, 400);
  assert.equal(unclosed.body.error.code, 'API_INVALID_GEOMETRY');
  assert.match(unclosed.body.error.message, /unclosed ring/);
  const [lat, lon] = cellToLatLng(X);
  const bowtie = await call('POST', '/v1/places', {
    ...station,
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [lon, lat],
          [lon + 0.01, lat + 0.01],
          [lon + 0.01, lat],
          [lon, lat + 0.01],
          [lon, lat],
        ],
      ],
    },
  });
  assert.equal(bowtie.status, 400);
  assert.match(bowtie.body.error.message, /self-intersecting/);
  const huge = await call('POST', '/v1/places', {
    ...station,
    geometry: {
      type: 'Polygon',
      coordinates: [
        [
          [lon, lat],
          [lon + 0.05, lat],
          [lon + 0.05, lat + 0.05],
          [lon, lat + 0.05],
          [lon, lat],
        ],
      ],
    },
  });
  assert.equal(huge.status, 422);
  assert.equal(huge.body.error.code, 'API_PLACE_UNMAPPABLE');

  const created = await call('POST', '/v1/places', station);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body.cells, [X, Z].sort());
  const stationId: string = created.body.id;
  // Overlapping places are allowed: a kiosk on X, and a quiet place on Y.
  const kiosk = await call('POST', '/v1/places', {
    ...station,
    name: 'Kiosk',
    category: 'shop',
    geometry: { type: 'Polygon', coordinates: [hexRing(X)] },
  });
  assert.equal(kiosk.status, 201);
  const quiet = await call('POST', '/v1/places', {
    ...station,
    name: 'Quiet corner',
    category: 'park',
    geometry: { type: 'Polygon', coordinates: [hexRing(Y)] },
  });
  assert.equal(quiet.status, 201);
  // The definitions reach the processor through the places topic.
  const index = s.processor.processor.places.index;
  await waitFor('places known to the processor', () =>
    [stationId, kiosk.body.id, quiet.body.id].every((id) => index.get(id) !== undefined),
  );

  const device = async () => {
    const client = new DeviceClient({ target: s.ingestTarget, maxAttempts: 1 });
    clients.push(client);
    await client.enroll();
    return client;
  };
  const [a, bDev, c, e, f, q] = await Promise.all([
    device(),
    device(),
    device(),
    device(),
    device(),
    device(),
  ]);
  // A: X then Z in one bucket (present in both cells: the cells count A twice, the station once).
  assert.equal((await a.upload([at(X, b + 5_000), at(Z, b + 40_000)])).accepted, 2);
  assert.equal((await bDev.upload([at(X, b + 10_000)])).accepted, 1);
  assert.equal((await c.upload([at(Z, b + 20_000)])).accepted, 1);
  // E and F stay 6 minutes on X (a visit each); Q alone on Y (below K: suppressed).
  for (const d of [e, f]) {
    const pings = Array.from({ length: 7 }, (_, i) => at(X, b + i * MIN + 1_000));
    assert.equal((await d.upload(pings)).accepted, 7);
  }
  assert.equal((await q.upload([at(Y, b + 15_000)])).accepted, 1);

  const occupancy = async (id: string) =>
    (await call('GET', `/v1/places/${id}/occupancy?at=${b}`, undefined, null)).body;
  const stationNow = await waitFor('station counted', async () => {
    const o = await occupancy(stationId);
    return o?.devices === 5 ? o : undefined;
  });
  assert.equal(stationNow.suppressed, false);
  // The cells' sum would be 6 (A in both X and Z): the place is a union, not a sum.
  const cellSum = await Promise.all(
    [X, Z].map(
      async (cell) => (await call('GET', `/v1/occupancy?cell=${cell}&at=${b}`, undefined, null)).body.devices,
    ),
  );
  assert.deepEqual(cellSum, [4, 2]);
  assert.equal((await occupancy(kiosk.body.id)).devices, 4);
  const quietNow = await waitFor('quiet place counted (suppressed)', () => {
    const d = index.get(quiet.body.id);
    return d !== undefined && occupancy(quiet.body.id);
  });
  assert.equal(quietNow.devices, null);
  assert.equal(quietNow.suppressed, true);

  const popular = (await call('GET', `/v1/places/popular?at=${b}&k=10`, undefined, null)).body;
  assert.deepEqual(
    popular.places.map((p: { placeId: string; devices: number }) => [p.placeId, p.devices]),
    [
      [stationId, 5],
      [kiosk.body.id, 4],
    ],
  );

  // E's and F's stays are visits (≥ MIN_VISIT_MS): dwell of the station on that day, and E's own time.
  const day = new Date(b).toISOString().slice(0, 10);
  const dwell = await waitFor('dwell from visits', async () => {
    const d = (await call('GET', `/v1/places/${stationId}/dwell?date=${day}`, undefined, null)).body;
    return d?.visits === 2 ? d : undefined;
  });
  assert.deepEqual(
    dwell.buckets.map((x: { visits: number | null }) => x.visits),
    [null, 2, null, null, null],
  );
  assert.equal(dwell.medianMs, 6 * MIN);
  const mine = await call(
    'GET',
    `/v1/users/${e.identity?.deviceId}/places/time`,
    undefined,
    e.identity?.userToken,
  );
  assert.equal(mine.status, 200);
  assert.deepEqual(
    mine.body.places
      .map((p: { placeId: string; timeSpentMs: number; visits: number }) => [
        p.placeId,
        p.timeSpentMs,
        p.visits,
      ])
      .sort(),
    [
      [kiosk.body.id, 6 * MIN, 1],
      [stationId, 6 * MIN, 1],
    ].sort(),
  );
  // Another user's place time is theirs only.
  const other = await call(
    'GET',
    `/v1/users/${e.identity?.deviceId}/places/time`,
    undefined,
    f.identity?.userToken,
  );
  assert.equal(other.status, 403);

  // Public registry reads carry no counts; deletion propagates as a tombstone.
  const found = (await call('GET', '/v1/places?q=test%20haupt', undefined, null)).body;
  assert.equal(found.total, 1);
  assert.equal(found.places[0].id, stationId);
  assert.equal('devices' in found.places[0], false);
  assert.equal(
    (await call('DELETE', `/v1/places/${kiosk.body.id}`, undefined, f.identity?.userToken)).status,
    403,
  );
  assert.equal((await call('DELETE', `/v1/places/${kiosk.body.id}`)).status, 204);
  await waitFor('kiosk deleted in the processor', () => index.get(kiosk.body.id) === undefined);
  assert.equal(
    (await call('GET', `/v1/places/${kiosk.body.id}/occupancy?at=${b}`, undefined, null)).status,
    404,
  );
});
