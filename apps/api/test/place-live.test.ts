// Place answers carry the live-edge state (docs/places.md, "Live edge") through the one k-anonymity rule
// of provisional numbers: rows of place_occupancy_live (migration 006) written here as the sink would,
// read through the real API and PostgreSQL. No broker needed (KAFKA_BOOTSTRAP unused: no place write).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart } from '@footfall/domain';
import { createTemporaryDatabase, type TemporaryDatabase } from '@footfall/testing';
import { pino } from 'pino';
import { type Api, loadApiConfig, startApi } from '../src/index.ts';

const logger = pino({ level: 'silent' });
const K = 5;
const BUCKET = 60_000;
const HORIZON = 900_000;

// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
const get = async (api: Api, path: string): Promise<any> => {
  const res = await fetch(`${api.url}${path}`);
  assert.equal(res.status, 200, path);
  return res.json();
};

describe('place answers carry the live-edge state, k-anonymised', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let api: Api;
  const b = bucketStart(Date.now(), BUCKET);
  const old = b - 3 * 3_600_000;

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    api = await startApi(
      loadApiConfig(
        { K_ANONYMITY: String(K), API_POPULAR_CACHE_MS: '0', API_PLACES_CACHE_MS: '0' },
        { port: 0, host: '127.0.0.1', kafkaBootstrap: ['127.0.0.1:1'], logLevel: 'silent' },
      ),
      { db, logger },
    );
    await db.query(
      `INSERT INTO places (id, name, category, geometry, cells, region, min_lon, min_lat, max_lon, max_lat,
                           effective_from)
       SELECT id, name, 'station', '{"type":"Polygon","coordinates":[]}', ARRAY['8a1f1d48945ffff'],
              '851f1d4bfffffff', 13.3, 52.5, 13.4, 52.6, to_timestamp(0)
         FROM (VALUES ('busy', 'Busy'), ('small', 'Small'), ('wide', 'Wide')) AS t(id, name)`,
    );
    const TS = (p: string) => `(timestamptz 'epoch' + ${p}::bigint * interval '1 millisecond')`;
    // busy: confirmed 3 (< k), interval reaching below k; small: observed 4 (< k); wide: publishable.
    await db.query(
      `INSERT INTO place_occupancy_live (place_id, bucket_start, bucket_ms, region, observed, confirmed,
                                         estimate, lower, upper, completeness, final_at, computed_at, version)
       SELECT t.id, ${TS('$1')}, ${BUCKET}, 'r', t.o, t.c, t.e, t.l, t.u, 0.4, ${TS('$2')}, now(), 1
         FROM (VALUES ('busy', 12, 3, 14, 4, 22), ('small', 4, 0, 9, 2, 14), ('wide', 30, 20, 33, 25, 41))
              AS t(id, o, c, e, l, u)`,
      [b, b + BUCKET + HORIZON],
    );
    await db.query(
      `INSERT INTO place_occupancy (place_id, bucket_start, bucket_ms, devices, version)
       VALUES ('busy', ${TS('$1')}, ${BUCKET}, 3, 1), ('wide', ${TS('$1')}, ${BUCKET}, 20, 1),
              ('busy', ${TS('$2')}, ${BUCKET}, 17, 1)`,
      [b, old],
    );
  });

  after(async () => {
    await api?.close();
    await db?.close();
    await tmp?.drop();
  });

  it('point: provisional with the nowcast; confirmed and a lower bound below k are null; below k nothing', async () => {
    const busy = await get(api, `/v1/places/busy/occupancy?at=${b}`);
    assert.deepEqual(
      [busy.state, busy.finalAtMs, busy.completeness, busy.devices, busy.suppressed],
      ['provisional', b + BUCKET + HORIZON, 0.4, null, true],
    );
    assert.deepEqual(busy.nowcast, {
      observed: 12,
      confirmed: null,
      estimate: 14,
      lower: null,
      upper: 22,
      suppressed: false,
    });
    const small = await get(api, `/v1/places/small/occupancy?at=${b}`);
    assert.deepEqual(small.nowcast, {
      observed: null,
      confirmed: null,
      estimate: null,
      lower: null,
      upper: null,
      suppressed: true,
    });
    const past = await get(api, `/v1/places/busy/occupancy?at=${old}`);
    assert.deepEqual([past.state, past.devices, past.completeness, past.nowcast], ['final', 17, 1, null]);
  });

  it('series: the provisional tail is marked and its points carry their nowcast', async () => {
    const s = await get(api, `/v1/places/wide/occupancy/series?from=${b - 20 * 60_000}&to=${b + BUCKET}`);
    assert.equal(s.points.length, 21);
    assert.ok(s.provisionalFromMs !== null && s.provisionalFromMs <= b, String(s.provisionalFromMs));
    const last = s.points.at(-1);
    assert.deepEqual(
      [last.startMs, last.state, last.devices, last.nowcast.estimate],
      [b, 'provisional', 20, 33],
    );
    assert.equal(s.points[0].state, 'final');
  });

  it('popular: the nowcast ranking holds publishable places only', async () => {
    const p = await get(api, `/v1/places/popular?at=${b}&k=10`);
    assert.equal(p.state, 'provisional');
    assert.deepEqual(
      p.places.map((x: { placeId: string }) => x.placeId),
      ['wide'],
      'confirmed counts below k excluded',
    );
    assert.deepEqual(
      p.nowcast.map((x: { placeId: string; estimate: number; lower: number | null }) => [
        x.placeId,
        x.estimate,
        x.lower,
      ]),
      [
        ['wide', 33, 25],
        ['busy', 14, null],
      ],
    );
    assert.equal(p.completeness, 0.4);
    const final = await get(api, `/v1/places/popular?at=${old}&k=10`);
    assert.deepEqual([final.state, final.nowcast, final.completeness], ['final', [], 1]);
  });

  it('popular-times: live carries the state and the estimate of the current bucket', async () => {
    const pt = await get(api, `/v1/places/wide/popular-times?at=${b + 1_000}`);
    assert.deepEqual(
      [pt.live.state, pt.live.estimate, pt.live.current, pt.live.nowcast.estimate],
      ['provisional', 33, 20, 33],
    );
    const small = await get(api, `/v1/places/small/popular-times?at=${b + 1_000}`);
    assert.deepEqual([small.live.estimate, small.live.nowcast.suppressed], [null, true]);
  });
});
