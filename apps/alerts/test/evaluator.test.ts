// The evaluator's transaction on real PostgreSQL: a batch read again (a crash between the DB commit and
// the Kafka offset commit) fires nothing twice, and alert payloads pass the k-anonymity gate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insertSubscription, listEvents } from '@footfall/alerts';
import { openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTemporaryDatabase, occRecord, placeOccRecord, type TestRecord } from '@footfall/testing';
import { type EvalRecord, evaluateBatch } from '../src/index.ts';

const options = { groupId: 'g', topic: 't', kAnonymity: 5, bucketMs: 60_000 };

test('replayed records are skipped (offsets in the same transaction); below-K counts are published as null', async (t) => {
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url, poolSize: 2 });
  t.after(async () => {
    await db.close();
    await temp.drop();
  });
  const A = cellOf(52.52, 13.405);
  const b = bucketStart(Date.now(), 60_000);
  const sub = await insertSubscription(db, {
    kind: 'below',
    cell: A,
    placeId: null,
    region: regionOf(A),
    threshold: 8,
    hysteresis: 2,
    webhookUrl: null,
    webhookSecret: null,
  });
  let offset = 0n;
  const records = (...devices: number[]): EvalRecord[] =>
    devices.map((d) => {
      const r = occRecord({ cell: A, bucketStartMs: b, devices: d });
      return { partition: 0, offset: offset++, timestamp: BigInt(Date.now()), key: r.key, value: r.value };
    });

  assert.equal((await evaluateBatch(db, records(12), options)).fired.length, 0, 'baseline');
  const drop = records(3);
  const first = await evaluateBatch(db, drop, options);
  assert.equal(first.fired.length, 1);
  assert.equal(first.fired[0]?.devices, null, '3 devices is below K: published like nobody');

  const again = await evaluateBatch(db, drop, options);
  assert.deepEqual(again.fired, []);
  assert.equal(again.outcomes.replayed, 1);
  assert.equal((await listEvents(db, sub.id, { limit: 10 })).length, 1);
});

test('a place subscription folds `place:` records: its distinct count fires where its cells alone would not', async (t) => {
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url, poolSize: 2 });
  t.after(async () => {
    await db.close();
    await temp.drop();
  });
  const A = cellOf(52.52, 13.405);
  const B = cellOf(52.53, 13.41);
  const region = regionOf(A);
  assert.equal(regionOf(B), region);
  const placeId = '00000000-0000-4000-8000-0000000000aa';
  const b = bucketStart(Date.now(), 60_000);
  const watch = (target: { cell: string; placeId: null } | { cell: null; placeId: string }) =>
    insertSubscription(db, {
      kind: 'above',
      ...target,
      region,
      threshold: 10,
      hysteresis: 2,
      webhookUrl: null,
      webhookSecret: null,
    });
  const place = await watch({ cell: null, placeId });
  const cellA = await watch({ cell: A, placeId: null });
  const cellB = await watch({ cell: B, placeId: null });

  let offset = 0n;
  const batch = (...rs: TestRecord[]): EvalRecord[] =>
    rs.map((r) => ({
      partition: 0,
      offset: offset++,
      timestamp: BigInt(Date.now()),
      key: r.key,
      value: r.value,
    }));
  const state = async (id: string) =>
    (
      await db.query<{ condition: boolean | null }>(
        'SELECT condition FROM alert_subscriptions WHERE id = $1',
        [id],
      )
    ).rows[0]?.condition;

  // Baseline: 3 + 3 devices in the cells, 5 distinct in the place (one device was in both).
  const base = await evaluateBatch(
    db,
    batch(
      occRecord({ cell: A, bucketStartMs: b, devices: 3 }),
      occRecord({ cell: B, bucketStartMs: b, devices: 3 }),
      placeOccRecord({ placeId, region, bucketStartMs: b, devices: 5 }),
    ),
    options,
  );
  assert.deepEqual(base.fired, []);
  assert.equal(await state(place.id), false, 'the place has its baseline');

  // The place reaches 11 distinct devices; neither of its cells (7 and 6) reaches the threshold.
  const crossed = await evaluateBatch(
    db,
    batch(
      occRecord({ cell: A, bucketStartMs: b, devices: 7 }),
      occRecord({ cell: B, bucketStartMs: b, devices: 6 }),
      placeOccRecord({ placeId, region, bucketStartMs: b, devices: 11 }),
    ),
    options,
  );
  assert.equal(crossed.fired.length, 1, 'only the place fires');
  const alert = crossed.fired[0];
  assert.equal(alert?.subscriptionId, place.id);
  assert.equal(alert?.placeId, placeId);
  assert.equal(alert?.cell, null);
  assert.equal(alert?.devices, 11);
  assert.equal(alert?.rank, 1, 'the only place of the region is first among its places');
  assert.equal(await state(cellA.id), false);
  assert.equal(await state(cellB.id), false);

  // Hysteresis as for cells: 9 is inside the dead band [8, 10), so dropping to it and coming back fires
  // nothing; the counts survive in alert_place_counts between batches.
  for (const devices of [9, 12]) {
    const r = await evaluateBatch(
      db,
      batch(placeOccRecord({ placeId, region, bucketStartMs: b, devices })),
      options,
    );
    assert.deepEqual(r.fired, [], `devices ${devices}`);
  }
  const { rows } = await db.query<{ devices: number }>(
    'SELECT devices FROM alert_place_counts WHERE place_id = $1',
    [placeId],
  );
  assert.deepEqual(rows, [{ devices: 12 }]);
  assert.equal((await listEvents(db, place.id, { limit: 10 })).length, 1);
});

test("top-K of a place is among its region's places (ranked apart from cells)", async (t) => {
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url, poolSize: 2 });
  t.after(async () => {
    await db.close();
    await temp.drop();
  });
  const A = cellOf(52.52, 13.405);
  const region = regionOf(A);
  const [p1, p2] = ['00000000-0000-4000-8000-0000000000b1', '00000000-0000-4000-8000-0000000000b2'];
  const b = bucketStart(Date.now(), 60_000);
  const sub = await insertSubscription(db, {
    kind: 'enters_top',
    cell: null,
    placeId: p2,
    region,
    threshold: 1,
    hysteresis: 0,
    webhookUrl: null,
    webhookSecret: null,
  });
  let offset = 0n;
  const batch = (...rs: TestRecord[]): EvalRecord[] =>
    rs.map((r) => ({
      partition: 0,
      offset: offset++,
      timestamp: BigInt(Date.now()),
      key: r.key,
      value: r.value,
    }));
  // Baseline: p1 leads p2. A busy cell (50) does not take a place's rank.
  const base = await evaluateBatch(
    db,
    batch(
      occRecord({ cell: A, bucketStartMs: b, devices: 50 }),
      placeOccRecord({ placeId: p1, region, bucketStartMs: b, devices: 20 }),
      placeOccRecord({ placeId: p2, region, bucketStartMs: b, devices: 12 }),
    ),
    options,
  );
  assert.deepEqual(base.fired, []);
  const overtakes = await evaluateBatch(
    db,
    batch(placeOccRecord({ placeId: p2, region, bucketStartMs: b, devices: 25 })),
    options,
  );
  assert.equal(overtakes.fired.length, 1);
  assert.equal(overtakes.fired[0]?.subscriptionId, sub.id);
  assert.equal(overtakes.fired[0]?.rank, 1);
  assert.equal(overtakes.fired[0]?.devices, 25);
});
