// The evaluator's transaction on real PostgreSQL: a batch read again (a crash between the DB commit and
// the Kafka offset commit) fires nothing twice, and alert payloads pass the k-anonymity gate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insertSubscription, listEvents } from '@footfall/alerts';
import { openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTemporaryDatabase, occRecord } from '@footfall/testing';
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
