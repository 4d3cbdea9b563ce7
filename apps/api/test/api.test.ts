import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { USER_TOKEN_RULES } from '@footfall/auth';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf, rollUpCell } from '@footfall/domain';
import { loadSinkConfig, type Sink, startSink } from '@footfall/sink';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  produce,
  type TemporaryDatabase,
  tombstone,
  uniqueTopics,
  visitRecord,
  waitFor,
} from '@footfall/testing';
import { cellToParent } from 'h3-js';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { type Api, loadApiConfig, startApi } from '../src/index.ts';

const MIN = 60_000;
const USER_SECRET = 'test-user-secret-0123456789abcdef';
const OPERATOR = 'test-operator-token';
const logger = pino({ level: 'silent' });

const A = cellOf(52.52, 13.405);
const B = cellOf(52.53, 13.41);
const C = cellOf(52.5, 13.39);
const D = cellOf(48.8566, 2.3522); // Paris: another region
const T0 = bucketStart(Date.now() - 3 * 3600_000, 3600_000); // an hour boundary, 2–3 h ago

const userToken = (sub: string, aud = 'footfall-api', secret = USER_SECRET) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setAudience(aud)
    .setIssuer(USER_TOKEN_RULES.issuer)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));

describe('API on real Kafka + PostgreSQL (through the sink)', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let sink: Sink;
  let api: Api;
  let topic: string;

  const get = async (path: string, token?: string) => {
    const res = await fetch(
      `${api.url}${path}`,
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    );
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').includes('json');
    return { status: res.status, body: json && text ? JSON.parse(text) : undefined, text };
  };

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    topic = (await uniqueTopics()).aggregated;
    sink = await startSink(
      loadSinkConfig(
        {},
        {
          kafkaBootstrap: [kafkaBootstrap()],
          topicAggregated: topic,
          // Own group per test file: files sharing a group on different topics rebalance each other.
          groupId: `footfall-sink-${topic}`,
          opsPort: 0,
          flushIntervalMs: 50,
          logLevel: 'silent',
        },
      ),
      { db, logger },
    );
    api = await startApi(
      loadApiConfig(
        {},
        {
          port: 0,
          host: '127.0.0.1',
          kafkaBootstrap: [kafkaBootstrap()], // DELETE publishes the erasure to Kafka
          userTokenSecret: USER_SECRET,
          operatorToken: OPERATOR,
          liveIntervalMs: 200,
          popularCacheMs: 0,
          logLevel: 'silent',
        },
      ),
      { db, logger },
    );
    await produce(
      kafkaBootstrap(),
      topic,
      [
        occRecord({ cell: A, bucketStartMs: T0, devices: 20 }), // superseded below: counts may go down
        occRecord({ cell: A, bucketStartMs: T0 + MIN, devices: 12 }),
        occRecord({ cell: A, bucketStartMs: T0 + 2 * MIN, devices: 3 }),
        occRecord({ cell: A, bucketStartMs: T0 + 5 * MIN, devices: 7 }),
        occRecord({ cell: B, bucketStartMs: T0, devices: 10 }),
        occRecord({ cell: C, bucketStartMs: T0, devices: 4 }),
        occRecord({ cell: D, bucketStartMs: T0, devices: 6 }),
        visitRecord({ deviceId: 'alice', cell: A, startMs: T0, endMs: T0 + 10 * MIN }),
        visitRecord({
          deviceId: 'alice',
          cell: A,
          startMs: T0 + 5 * MIN,
          endMs: T0 + 20 * MIN,
          closed: true,
        }),
        visitRecord({
          deviceId: 'alice',
          cell: B,
          startMs: T0 + 30 * MIN,
          endMs: T0 + 35 * MIN,
          closed: true,
        }),
        visitRecord({ deviceId: 'alice', cell: C, startMs: T0 + 40 * MIN, endMs: T0 + 50 * MIN }),
        visitRecord({ deviceId: 'bob', cell: A, startMs: T0, endMs: T0 + 6 * MIN }),
      ],
      { transactional: true },
    );
    await produce(kafkaBootstrap(), topic, [
      occRecord({ cell: A, bucketStartMs: T0, devices: 8 }),
      tombstone({ deviceId: 'alice', cell: C, startMs: T0 + 40 * MIN }),
    ]);
    await waitFor('sink caught up', async () => {
      const m = await sink.metrics.recordsRead.get();
      return (m.values[0]?.value ?? 0) >= 14;
    });
  });

  after(async () => {
    await api?.close();
    await sink?.close();
    await db?.close();
    await tmp?.drop();
  });

  describe('occupancy', () => {
    it('answers a point query by cell, by lat/lon, ISO or epoch ms', async () => {
      const r = await get(`/v1/occupancy?cell=${A}&at=${T0 + 30_000}`);
      assert.equal(r.status, 200);
      assert.deepEqual(
        { ...r.body, at: undefined },
        {
          cell: A,
          at: undefined,
          bucketStartMs: T0,
          bucketMs: MIN,
          devices: 8,
          suppressed: false,
          kAnonymity: 5,
          // Hours old: final (the live edge no longer applies).
          state: 'final',
          finalAtMs: T0 + MIN + 900_000,
          completeness: 1,
          nowcast: null,
        },
      );
      const byLatLon = await get(`/v1/occupancy?lat=52.52&lon=13.405&at=${new Date(T0 + MIN).toISOString()}`);
      assert.equal(byLatLon.body.cell, A);
      assert.equal(byLatLon.body.devices, 12);
    });
    it('suppresses counts below K (and empty buckets)', async () => {
      const r = await get(`/v1/occupancy?cell=${A}&at=${T0 + 2 * MIN}`);
      assert.equal(r.body.devices, null);
      assert.equal(r.body.suppressed, true);
      const empty = await get(`/v1/occupancy?cell=${A}&at=${T0 + 3 * MIN}`);
      assert.equal(empty.body.suppressed, true);
    });
    it('series: peak per step, suppressed steps marked', async () => {
      const r = await get(`/v1/occupancy/series?cell=${A}&from=${T0}&to=${T0 + 10 * MIN}&step=${5 * MIN}`);
      assert.equal(r.status, 200);
      const final = (startMs: number, stepMs: number) => ({
        state: 'final',
        finalAtMs: startMs + stepMs + 900_000, // its last bucket's end + horizon
        completeness: 1,
        nowcast: null,
      });
      assert.equal(r.body.provisionalFromMs, null);
      assert.deepEqual(r.body.points, [
        { startMs: T0, devices: 12, suppressed: false, ...final(T0, 5 * MIN) },
        { startMs: T0 + 5 * MIN, devices: 7, suppressed: false, ...final(T0 + 5 * MIN, 5 * MIN) },
      ]);
      const fine = await get(
        `/v1/occupancy/series?cell=${A}&from=${T0 + 10_000}&to=${T0 + 6 * MIN}&step=${2 * MIN}`,
      );
      assert.equal(fine.body.fromMs, T0);
      assert.deepEqual(fine.body.points, [
        { startMs: T0, devices: 12, suppressed: false, ...final(T0, 2 * MIN) },
        { startMs: T0 + 2 * MIN, devices: null, suppressed: true, ...final(T0 + 2 * MIN, 2 * MIN) },
        // The last step is cut by `to` (T0 + 6 min): its last bucket starts at T0 + 5 min.
        { startMs: T0 + 4 * MIN, devices: 7, suppressed: false, ...final(T0 + 4 * MIN, 2 * MIN) },
      ]);
    });
  });

  describe('popular', () => {
    it('top-K excludes suppressed cells; ties and order as defined', async () => {
      const r = await get(`/v1/popular?at=${T0}`);
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.body.locations.map((l: { cell: string; devices: number; rank: number }) => [
          l.rank,
          l.cell,
          l.devices,
        ]),
        [
          [1, B, 10],
          [2, A, 8],
          [3, D, 6],
        ],
      );
      const k2 = await get(`/v1/popular?at=${T0}&k=2`);
      assert.deepEqual(
        k2.body.locations.map((l: { cell: string }) => l.cell),
        [B, A],
      );
    });
    it('filters by bbox and by region', async () => {
      const berlin = await get(`/v1/popular?at=${T0}&bbox=13.0,52.3,13.8,52.7`);
      assert.deepEqual(
        berlin.body.locations.map((l: { cell: string }) => l.cell),
        [B, A],
      );
      const paris = await get(`/v1/popular?at=${T0}&region=${regionOf(D)}`);
      assert.deepEqual(
        paris.body.locations.map((l: { cell: string }) => l.cell),
        [D],
      );
      const fine = await get(`/v1/popular?at=${T0}&region=${cellToParent(A, 9)}`);
      assert.deepEqual(
        fine.body.locations.map((l: { cell: string }) => l.cell),
        [A],
      );
    });
    it('rolls up to a coarser resolution: sum of publishable children', async () => {
      const r = await get(`/v1/popular?at=${T0}&resolution=6`);
      const expected = new Map<string, number>();
      for (const [cell, n] of [
        [A, 8],
        [B, 10],
        [D, 6], // C (4) is below K: not added to its parent
      ] as const)
        expected.set(rollUpCell(cell, 6), (expected.get(rollUpCell(cell, 6)) ?? 0) + n);
      const want = [...expected].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
      assert.deepEqual(
        r.body.locations.map((l: { cell: string; devices: number }) => [l.cell, l.devices]),
        want,
      );
      assert.equal(want[0]?.[1], 18); // A and B share their res-6 parent
    });
  });

  describe('users', () => {
    it('time spent: merged overlaps, clipped to the range, most first; tombstoned visit gone', async () => {
      const token = await userToken('alice');
      const r = await get(`/v1/users/alice/time?from=${T0}&to=${T0 + 3600_000}`, token);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body.locations, [
        { cell: A, timeSpentMs: 20 * MIN, visits: 1 },
        { cell: B, timeSpentMs: 5 * MIN, visits: 1 },
      ]);
      assert.equal(r.body.totalMs, 25 * MIN);
      const clipped = await get(`/v1/users/alice/time?from=${T0 + 10 * MIN}&to=${T0 + 32 * MIN}`, token);
      assert.deepEqual(clipped.body.locations, [
        { cell: A, timeSpentMs: 10 * MIN, visits: 1 },
        { cell: B, timeSpentMs: 2 * MIN, visits: 1 },
      ]);
    });
    it('visit list merges overlapping visits of one cell', async () => {
      const r = await get(`/v1/users/alice/visits?from=${T0}&to=${T0 + 3600_000}`, OPERATOR);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.visits, [
        { cell: A, startMs: T0, endMs: T0 + 20 * MIN, durationMs: 20 * MIN, pings: 6, closed: false },
        {
          cell: B,
          startMs: T0 + 30 * MIN,
          endMs: T0 + 35 * MIN,
          durationMs: 5 * MIN,
          pings: 3,
          closed: true,
        },
      ]);
    });
    it('access control: 401 without/with a bad token, 403 for another user, operator ok, 404 unknown', async () => {
      const path = `/v1/users/alice/time?from=${T0}&to=${T0 + 3600_000}`;
      const none = await get(path);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'API_UNAUTHENTICATED');
      assert.equal((await get(path, 'garbage')).status, 401);
      assert.equal((await get(path, await userToken('alice', 'other-aud'))).status, 401);
      assert.equal((await get(path, await userToken('alice', 'footfall-api', 'wrong-secret'))).status, 401);
      const other = await get(path, await userToken('bob'));
      assert.equal(other.status, 403);
      assert.equal(other.body.error.code, 'API_FORBIDDEN');
      assert.equal((await get(path, OPERATOR)).status, 200);
      const unknown = await get(`/v1/users/nobody/time`, OPERATOR);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, 'API_USER_NOT_FOUND');
      const bobDel = await fetch(`${api.url}/v1/users/alice`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${await userToken('bob')}` },
      });
      assert.equal(bobDel.status, 403);
    });
    it('DELETE erases visits, records the erasure, says what it cannot erase; later records dropped', async () => {
      const res = await fetch(`${api.url}/v1/users/alice`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${await userToken('alice')}` },
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { visitsDeleted: number; notErased: { data: string }[] };
      assert.equal(body.visitsDeleted, 3);
      assert.ok(body.notErased.some((x) => x.data === 'occupancy'));
      const after = await get(`/v1/users/alice/time`, OPERATOR);
      assert.equal(after.status, 410);
      assert.equal(after.body.error.code, 'API_USER_ERASED');
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM visits WHERE device_id = 'alice'`,
      );
      assert.equal(rows[0]?.n, 0);
      // A late record of the erased user does not bring her back; bob's does land.
      await produce(kafkaBootstrap(), topic, [
        visitRecord({ deviceId: 'alice', cell: B, startMs: T0 + 70 * MIN, endMs: T0 + 80 * MIN }),
        visitRecord({ deviceId: 'bob', cell: B, startMs: T0 + 70 * MIN, endMs: T0 + 80 * MIN }),
      ]);
      await waitFor('bob visit', async () => {
        const r = await db.query(`SELECT 1 FROM visits WHERE device_id = 'bob' AND cell = $1`, [B]);
        return r.rows.length > 0;
      });
      const again = await db.query(`SELECT 1 FROM visits WHERE device_id = 'alice'`);
      assert.equal(again.rows.length, 0);
      // Occupancy is unchanged by an erasure.
      assert.equal((await get(`/v1/occupancy?cell=${A}&at=${T0}`)).body.devices, 8);
    });
  });

  describe('bad input → 4xx with a JSON error, never 500', () => {
    const cases: [string, number, string][] = [
      ['/v1/occupancy?cell=notacell', 400, 'API_INVALID_CELL'],
      [`/v1/occupancy?cell=${cellToParent(cellOf(52.52, 13.405), 9)}`, 400, 'API_INVALID_CELL'],
      ['/v1/occupancy?lat=100&lon=13', 400, 'API_INVALID_COORDINATES'],
      ['/v1/occupancy?lat=52&lon=-181', 400, 'API_INVALID_COORDINATES'],
      ['/v1/occupancy?lat=abc&lon=13', 400, 'API_BAD_REQUEST'],
      ['/v1/occupancy', 400, 'API_BAD_REQUEST'],
      [`/v1/occupancy?cell=${A}&at=yesterday`, 400, 'API_INVALID_TIME'],
      [`/v1/occupancy?cell=${A}&lat=1&lon=2`, 400, 'API_BAD_REQUEST'],
      [
        `/v1/occupancy/series?cell=${A}&from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z`,
        400,
        'API_INVALID_RANGE',
      ],
      [
        `/v1/occupancy/series?cell=${A}&from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z`,
        400,
        'API_RANGE_TOO_LARGE',
      ],
      [`/v1/occupancy/series?cell=${A}&from=${T0}&to=${T0 + 3600_000}&step=90000`, 400, 'API_INVALID_STEP'],
      [`/v1/occupancy/series?cell=${A}&from=${T0}`, 400, 'API_BAD_REQUEST'],
      ['/v1/popular?bbox=1,2,3', 400, 'API_INVALID_BBOX'],
      ['/v1/popular?bbox=10,50,5,40', 400, 'API_INVALID_BBOX'],
      ['/v1/popular?region=zzz', 400, 'API_INVALID_REGION'],
      ['/v1/popular?resolution=12', 400, 'API_INVALID_RESOLUTION'],
      ['/v1/popular?k=0', 400, 'API_BAD_REQUEST'],
      ['/v1/popular?k=101', 400, 'API_BAD_REQUEST'],
      ['/v1/popular?at=-5', 400, 'API_INVALID_TIME'],
      ['/v1/nope', 404, 'API_NOT_FOUND'],
      [`/v1/users/bob/time?from=${T0 + 10}&to=${T0}`, 400, 'API_INVALID_RANGE'],
    ];
    for (const [path, status, code] of cases) {
      it(`${path} → ${status} ${code}`, async () => {
        const r = await get(path, OPERATOR);
        assert.equal(r.status, status, r.text);
        assert.equal(r.body.error.code, code);
        assert.equal(typeof r.body.error.message, 'string');
        assert.doesNotMatch(r.text, /\bat .*\.ts:\d+|stack/);
      });
    }
  });

  describe('operations', () => {
    it('serves a valid OpenAPI 3 document', async () => {
      const doc = (await get('/openapi.json')).body;
      assert.equal(doc.openapi, '3.0.3');
      await SwaggerParser.validate(structuredClone(doc));
      for (const p of [
        '/v1/occupancy',
        '/v1/occupancy/series',
        '/v1/popular',
        '/v1/users/{id}/time',
        '/v1/users/{id}/visits',
        '/v1/users/{id}',
        '/v1/live',
      ]) {
        assert.ok(doc.paths[p], `path ${p} documented`);
      }
    });
    it('healthz, readyz and request-duration metrics', async () => {
      assert.equal((await get('/healthz')).status, 200);
      assert.equal((await get('/readyz')).status, 200);
      const metrics = (await get('/metrics')).text;
      assert.match(
        metrics,
        /footfall_api_request_duration_seconds_count\{[^}]*route="\/v1\/occupancy"[^}]*status="200"/,
      );
      assert.match(metrics, /footfall_api_request_duration_seconds_count\{[^}]*status="400"/);
    });
    it('live SSE stream delivers popular + occupancy events after new data lands', async () => {
      const controller = new AbortController();
      const res = await fetch(`${api.url}/v1/live?k=3`, { signal: controller.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
      assert.ok(res.body);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      const events: {
        event: string;
        data: {
          locations?: { cell: string; devices: number }[];
          changes?: { cell: string; devices: number }[];
        };
      }[] = [];
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          let i = buffer.indexOf('\n\n');
          while (i >= 0) {
            const chunk = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(chunk)?.[1];
            const data = /^data: (.*)$/m.exec(chunk)?.[1];
            if (ev && data) events.push({ event: ev, data: JSON.parse(data) });
            i = buffer.indexOf('\n\n');
          }
        }
      })().catch(() => {});
      await waitFor('first popular event', () => events.some((e) => e.event === 'popular'));
      const now = bucketStart(Date.now(), MIN);
      await produce(kafkaBootstrap(), topic, [occRecord({ cell: C, bucketStartMs: now, devices: 9 })]);
      await waitFor('live top-K shows the new cell', () =>
        events.some(
          (e) => e.event === 'popular' && e.data.locations?.some((l) => l.cell === C && l.devices === 9),
        ),
      );
      await waitFor('occupancy change event', () =>
        events.some(
          (e) => e.event === 'occupancy' && e.data.changes?.some((c) => c.cell === C && c.devices === 9),
        ),
      );
      assert.equal(api.live.clients, 1);
      controller.abort();
      await pump;
      await waitFor('client removed', () => api.live.clients === 0);
    });
  });
});
