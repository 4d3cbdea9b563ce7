// Migration 007 (crowd alerts on places) on a database that already holds cell subscriptions from 004:
// the rows stay valid and unchanged, and the new CHECK admits exactly one target.
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { migrate, openDatabase } from '@footfall/db';
import { createTemporaryDatabase } from '@footfall/testing';
import Postgrator from 'postgrator';

const MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), '../migrations');

test('007: existing cell subscriptions stay valid; a subscription names exactly one of cell and place', async (t) => {
  const temp = await createTemporaryDatabase();
  t.after(() => temp.drop());
  const db = await openDatabase({ url: temp.url, skipMigrations: true });
  t.after(() => db.close());
  await new Postgrator({
    migrationPattern: `${MIGRATIONS}/*`,
    driver: 'pg',
    schemaTable: 'schema_migrations',
    execQuery: (sql: string) => db.query(sql),
  }).migrate('006');
  const { rows: before } = await db.query<{ id: string }>(
    `INSERT INTO alert_subscriptions (kind, cell, region, threshold, hysteresis, condition, fired)
     VALUES ('above', '8a1f1d4a5a0ffff', '851f1d4bfffffff', 10, 2, false, 3) RETURNING id::text AS id`,
  );
  const id = before[0]?.id;

  const applied = await migrate(db);
  assert.ok(
    applied.some((f) => f.endsWith('/007.do.place-alerts.sql')),
    `007 applied: ${applied}`,
  );
  const { rows } = await db.query(
    'SELECT cell, place_id, region, threshold, condition, fired FROM alert_subscriptions WHERE id = $1',
    [id],
  );
  assert.deepEqual(rows, [
    {
      cell: '8a1f1d4a5a0ffff',
      place_id: null,
      region: '851f1d4bfffffff',
      threshold: 10,
      condition: false,
      fired: 3,
    },
  ]);

  const insert = (cell: string | null, place: string | null) =>
    db.query(
      `INSERT INTO alert_subscriptions (kind, cell, place_id, region, threshold, hysteresis)
       VALUES ('above', $1, $2, '851f1d4bfffffff', 10, 2)`,
      [cell, place],
    );
  await insert(null, 'a-place');
  await assert.rejects(insert(null, null), /alert_subscriptions_one_target/);
  await assert.rejects(insert('8a1f1d4a5a0ffff', 'a-place'), /alert_subscriptions_one_target/);
});
