// PRIVACY_MODE=dp on the real PostgreSQL: one stored release per bucket answered on every channel
// (REST occupancy, series, popular, the live stream), empty and below-threshold cells answered alike,
// and the budget ledger refusing what the period cannot pay for (docs/privacy.md).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '@footfall/config';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf, seededRandomSource } from '@footfall/domain';
import { createTemporaryDatabase, type TemporaryDatabase, waitFor } from '@footfall/testing';
import { cellToLatLng } from 'h3-js';
import { pino } from 'pino';
import {
  type Api,
  dpGate,
  type LiveChange,
  ledgerOf,
  loadApiConfig,
  periodOf,
  startApi,
} from '../src/index.ts';
import { openSse } from './sse.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const logger = pino({ level: 'silent' });
const SEED = process.env.TEST_SEED ? Number(process.env.TEST_SEED) : 5_005;

const BUSY = cellOf(52.52, 13.405);
const LONE = cellOf(52.53, 13.41);
const EMPTY = cellOf(52.5, 13.39);

async function put(db: Database, cell: string, bucketStartMs: number, devices: number): Promise<void> {
  const [lat, lon] = cellToLatLng(cell);
  await db.query(
    `INSERT INTO occupancy (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
     VALUES ($1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond', 60000, $3, $4, $5, $6, $6)
     ON CONFLICT (cell, bucket_start) DO UPDATE SET devices = EXCLUDED.devices, updated_at = now()`,
    [cell, bucketStartMs, regionOf(cell), lat, lon, devices],
  );
}

describe(`PRIVACY_MODE=dp on real PostgreSQL (seed ${SEED}, replay with TEST_SEED)`, () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let api: Api;
  const today = bucketStart(Date.now(), DAY);
  // Main checks: buckets early yesterday (long released-able, one release period).
  const B1 = today - DAY + 10 * MIN;
  // Budget checks: buckets two days ago (a release period of their own).
  const OLD = today - 2 * DAY + 10 * MIN;

  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
  const get = async (path: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${api.url}${path}`);
    return { status: res.status, body: await res.json() };
  };
  const releases = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM dp_bucket_releases')).rows[0]?.n);

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    const from = new Date(today - 3 * DAY).toISOString();
    const to = new Date(today + 2 * DAY).toISOString();
    await db.query(
      `CREATE TABLE occupancy_pdp PARTITION OF occupancy FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
    for (const b of [B1, OLD, OLD + MIN, OLD + 2 * MIN, OLD + 3 * MIN]) {
      await put(db, BUSY, b, 500);
      await put(db, LONE, b, 1);
    }
    api = await startApi(
      loadApiConfig(
        {
          PRIVACY_MODE: 'dp',
          DP_EPSILON_PER_RELEASE: '1',
          DP_DELTA_PER_RELEASE: '0.000001',
          DP_EPSILON_PER_DAY: '3',
          DP_DELTA_PER_DAY: '0.001',
          // The live feed trails the clock by one bucket + this: 2 min.
          DP_RELEASE_DELAY_MS: '60000',
        },
        { port: 0, host: '127.0.0.1', liveIntervalMs: 100, logLevel: 'silent' },
      ),
      { db, logger, random: seededRandomSource(SEED) },
    );
  });

  after(async () => {
    await api?.close();
    await db?.close();
    await tmp?.drop();
  });

  it('answers the same stored release twice, on every REST channel', async () => {
    const first = await get(`/v1/occupancy?cell=${BUSY}&at=${B1}`);
    assert.equal(first.status, 200);
    assert.equal(first.body.suppressed, false);
    assert.equal(typeof first.body.devices, 'number');
    assert.ok(Math.abs(first.body.devices - 500) < 50, 'noise of scale 1 is small next to 500');
    const again = await get(`/v1/occupancy?cell=${BUSY}&at=${B1}`);
    assert.deepEqual(again.body, first.body, 're-asking gets the stored release, not fresh noise');
    assert.equal(await releases(), 1);
    // Series and top-K are post-processed from the same release.
    const series = await get(`/v1/occupancy/series?cell=${BUSY}&from=${B1}&to=${B1 + MIN}`);
    assert.equal(series.status, 200);
    // (The live-edge fields of a point, state/finalAtMs/…, are checked in api.test.ts and live.test.ts.)
    assert.deepEqual(
      series.body.points.map(({ startMs, devices, suppressed }: Record<string, unknown>) => ({
        startMs,
        devices,
        suppressed,
      })),
      [{ startMs: B1, devices: first.body.devices, suppressed: false }],
    );
    const top = await get(`/v1/popular?at=${B1}&k=5`);
    assert.equal(top.status, 200);
    assert.deepEqual(
      top.body.locations.map((l: { cell: string; devices: number }) => [l.cell, l.devices]),
      [[BUSY, first.body.devices]],
    );
    assert.equal(await releases(), 1, 'no new release for the roll-ups');
    const ledger = await ledgerOf(db, periodOf(B1));
    assert.deepEqual(ledger.get('occupancy'), { epsilon: 1, delta: 0.000001, releases: 1 });
  });

  it('does not reveal an empty cell: a lone device and nobody answer alike', async () => {
    const lone = await get(`/v1/occupancy?cell=${LONE}&at=${B1}`);
    const empty = await get(`/v1/occupancy?cell=${EMPTY}&at=${B1}`);
    assert.equal(lone.status, 200);
    assert.deepEqual({ ...lone.body, cell: 'x' }, { ...empty.body, cell: 'x' });
    assert.equal(lone.body.devices, null);
    assert.equal(lone.body.suppressed, true);
    const rows = await db.query('SELECT cell FROM dp_releases WHERE cell = ANY($1)', [[LONE, EMPTY]]);
    assert.equal(rows.rows.length, 0, 'below-threshold cells are not even stored');
  });

  it('a bucket that is not yet releasable has no value and costs nothing', async () => {
    const before = await releases();
    const now = await get(`/v1/occupancy?cell=${BUSY}`);
    assert.equal(now.status, 200);
    assert.equal(now.body.devices, null);
    assert.equal(await releases(), before);
  });

  it('the ledger refuses releases past the period budget (429 API_PRIVACY_BUDGET_EXHAUSTED), all or nothing', async () => {
    const before = await releases();
    // 4 new buckets cost ε 4 > 3: refused, and none of them is released.
    const tooMuch = await get(`/v1/occupancy/series?cell=${BUSY}&from=${OLD}&to=${OLD + 4 * MIN}`);
    assert.equal(tooMuch.status, 429);
    assert.equal(tooMuch.body.error.code, 'API_PRIVACY_BUDGET_EXHAUSTED');
    assert.equal(await releases(), before);
    // 3 fit exactly; afterwards they are free to re-read, and a 4th is refused.
    const fits = await get(`/v1/occupancy/series?cell=${BUSY}&from=${OLD}&to=${OLD + 3 * MIN}`);
    assert.equal(fits.status, 200);
    assert.equal(fits.body.points.length, 3);
    assert.equal(await releases(), before + 3);
    assert.equal((await get(`/v1/occupancy?cell=${BUSY}&at=${OLD + MIN}`)).status, 200);
    const fourth = await get(`/v1/popular?at=${OLD + 3 * MIN}`);
    assert.equal(fourth.status, 429);
    assert.equal(fourth.body.error.code, 'API_PRIVACY_BUDGET_EXHAUSTED');
    const ledger = await ledgerOf(db, periodOf(OLD));
    assert.deepEqual(ledger.get('series'), { epsilon: 3, delta: 0.000003, releases: 3 });
    assert.equal(ledger.get('popular'), undefined);
  });

  it('two API instances asking at once release a bucket exactly once (one noise draw, one charge)', async () => {
    const b = OLD - 30 * MIN;
    await put(db, BUSY, b, 300);
    const config = loadApiConfig({ PRIVACY_MODE: 'dp', DP_EPSILON_PER_DAY: '50' }, { logLevel: 'silent' });
    // Separate gates = separate release stores (as on two API instances), different noise streams.
    const gates = [1, 2, 3, 4].map((i) => dpGate(config, db, seededRandomSource(`${SEED}-${i}`)));
    const answers = await Promise.all(gates.map((g) => g.counts('occupancy', [{ cell: BUSY, b }])));
    assert.equal(new Set(answers.map((a) => a[0])).size, 1, `one stored value: ${JSON.stringify(answers)}`);
    const n = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM dp_bucket_releases WHERE bucket_start = timestamptz 'epoch' + $1::bigint * interval '1 millisecond'`,
      [b],
    );
    assert.equal(Number(n.rows[0]?.n), 1);
    assert.equal((await ledgerOf(db, periodOf(b))).get('occupancy')?.releases, 1);
  });

  it('the live stream publishes the released bucket through the same gate, never the lone cell', async () => {
    // Rows in every bucket the live feed may pick during the test (it trails the clock by the delay).
    const live = bucketStart(Date.now() - 2 * MIN, MIN);
    for (let b = live - 2 * MIN; b <= live + 2 * MIN; b += MIN) {
      await put(db, BUSY, b, 400);
      await put(db, LONE, b, 1);
    }
    const stream = await openSse(`${api.url}/v1/live?k=10`);
    try {
      const changes = () =>
        stream.events.filter((e) => e.event === 'occupancy').flatMap((e) => e.data.changes as LiveChange[]);
      await waitFor('released busy cell on the stream', () => changes().some((c) => c.cell === BUSY));
      const c = changes().find((x) => x.cell === BUSY) as LiveChange;
      const rest = await get(`/v1/occupancy?cell=${BUSY}&at=${c.bucketStartMs}`);
      assert.equal(rest.body.devices, c.devices, 'the stream shows exactly what REST answers');
      const popular = stream.events.find((e) => e.event === 'popular' && e.data.locations.length > 0);
      assert.equal(popular?.data.locations[0].cell, BUSY);
      assert.ok(!stream.raw().includes(LONE), 'the lone cell never appears on the stream');
    } finally {
      await stream.close();
    }
  });
});

describe('PRIVACY_MODE configuration', () => {
  it('is validated at start-up, and bad dp parameters stop the API with a message naming them', () => {
    assert.equal(loadApiConfig({}).privacyMode, 'k-anonymity');
    assert.equal(loadApiConfig({ PRIVACY_MODE: 'dp' }).privacyMode, 'dp');
    assert.throws(() => loadApiConfig({ PRIVACY_MODE: 'differential' }), ConfigError);
    assert.throws(
      () => loadApiConfig({ PRIVACY_MODE: 'dp', DP_DELTA_PER_RELEASE: '0.5' }),
      /DP_DELTA_PER_RELEASE/,
    );
    assert.throws(() => loadApiConfig({ PRIVACY_MODE: 'dp', DP_EPSILON_PER_RELEASE: '0' }), ConfigError);
  });
});
