// The batched loaders answer each lookup of a batch exactly as if it had been sent alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTemporaryDatabase, mulberry32, type TemporaryDatabase } from '@footfall/testing';
import { occupancyLoader, seriesLoader, topKLoader, visitsLoader } from '../src/loaders.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const SEED = Number(process.env.TEST_SEED ?? 20_261_201);

describe('batched loaders (real PostgreSQL)', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  const T0 = bucketStart(Date.now(), DAY);
  const cells = Array.from({ length: 12 }, (_, i) => cellOf(52.4 + i * 0.01, 13.3 + i * 0.01));
  const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    const from = new Date(T0 - DAY).toISOString();
    const to = new Date(T0 + 2 * DAY).toISOString();
    for (const t of ['occupancy', 'visits']) {
      await db.query(`CREATE TABLE ${t}_pl PARTITION OF ${t} FOR VALUES FROM ('${from}') TO ('${to}')`);
    }
    const random = mulberry32(SEED);
    const occ: [string, number, number][] = [];
    for (const cell of cells)
      for (let m = 0; m < 60; m++)
        if (random() < 0.6) occ.push([cell, T0 + m * MIN, Math.floor(random() * 20)]);
    await db.query(
      `INSERT INTO occupancy (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
       SELECT c, timestamptz 'epoch' + b * interval '1 millisecond', 60000, r, 0, 0, d, d
         FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[]) AS t(c, b, d, r)`,
      [occ.map((o) => o[0]), occ.map((o) => o[1]), occ.map((o) => o[2]), occ.map((o) => regionOf(o[0]))],
    );
    for (const user of users) {
      for (let v = 0; v < 4; v++) {
        const cell = cells[Math.floor(random() * cells.length)] ?? '';
        const start = T0 + Math.floor(random() * 50) * MIN;
        await db.query(
          `INSERT INTO visits (device_id, cell, start_at, end_at, region, pings, closed)
           VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 millisecond',
                   timestamptz 'epoch' + $4::bigint * interval '1 millisecond', $5, 3, $6)
           ON CONFLICT DO NOTHING`,
          [user, cell, start, start + Math.floor(random() * 20) * MIN, regionOf(cell), random() < 0.5],
        );
      }
    }
  });

  after(async () => {
    await db?.close();
    await tmp?.drop();
  });

  /** Loads every key at once (one batch) and one by one (one batch each); the answers must agree. */
  async function sameAsAlone<K, V>(make: () => { load(k: K): Promise<V> }, keys: K[]): Promise<void> {
    const loader = make();
    const batched = await Promise.all(keys.map((k) => loader.load(k)));
    const alone: V[] = [];
    for (const k of keys) alone.push(await make().load(k));
    assert.deepEqual(batched, alone, `seed ${SEED}`);
  }

  it('point occupancy', async () => {
    const keys = cells.flatMap((cell) => [0, 7, 59, 61].map((m) => ({ cell, b: T0 + m * MIN })));
    await sameAsAlone(() => occupancyLoader(db), keys);
  });

  it('series', async () => {
    const keys = cells.flatMap((cell) => [
      { cell, fromMs: T0, toMs: T0 + 60 * MIN, stepMs: 5 * MIN },
      { cell, fromMs: T0 + 10 * MIN, toMs: T0 + 20 * MIN, stepMs: MIN },
    ]);
    await sameAsAlone(() => seriesLoader(db), keys);
  });

  it('top-K, duplicates included', async () => {
    const keys = [0, 1, 2, 1, 0, 30].flatMap((m) => [3, 10].map((k) => ({ b: T0 + m * MIN, k })));
    await sameAsAlone(() => topKLoader(db, 5), keys);
  });

  it('visits', async () => {
    const keys = users.flatMap((deviceId) => [
      { deviceId, fromMs: T0, toMs: T0 + DAY },
      { deviceId, fromMs: T0 + 20 * MIN, toMs: T0 + 30 * MIN },
    ]);
    await sameAsAlone(() => visitsLoader(db), keys);
  });
});
