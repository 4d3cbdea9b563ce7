import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTemporaryDatabase, openDatabase } from '@footfall/db';

test('migrations apply on the real PostgreSQL server, once', async (t) => {
  const temp = await createTemporaryDatabase();
  t.after(() => temp.drop());
  const db = await openDatabase({ url: temp.url });
  t.after(() => db.close());
  assert.equal(db.kind, 'postgres');
  const version = await db.query<{ server_version: string }>('SHOW server_version');
  assert.match(version.rows[0]?.server_version ?? '', /^\d+/);
  const tables = await db.query<{ relname: string; relkind: string }>(
    `SELECT relname, relkind FROM pg_class WHERE relname IN ('occupancy','visits') ORDER BY relname`,
  );
  // 'p' = partitioned table: retention drops partitions instead of deleting rows.
  assert.deepEqual(tables.rows, [
    { relname: 'occupancy', relkind: 'p' },
    { relname: 'visits', relkind: 'p' },
  ]);
  const again = await openDatabase({ url: temp.url });
  await again.close();
  const applied = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM schema_migrations WHERE version > 0',
  );
  assert.ok((applied.rows[0]?.n ?? 0) >= 1);
});

test('transactions roll back on error against the real server', async (t) => {
  const temp = await createTemporaryDatabase();
  t.after(() => temp.drop());
  const db = await openDatabase({ url: temp.url });
  t.after(() => db.close());
  await assert.rejects(
    db.transaction(async (tx) => {
      await tx.query(`INSERT INTO erased_devices (device_id) VALUES ($1)`, ['d1']);
      throw new Error('boom');
    }),
    /boom/,
  );
  const rows = await db.query('SELECT * FROM erased_devices');
  assert.equal(rows.rows.length, 0);
});

test('the embedded PGlite runs the same migrations', async (t) => {
  const db = await openDatabase({ pgliteDir: 'memory://' });
  t.after(() => db.close());
  assert.equal(db.kind, 'pglite');
  await db.query(`INSERT INTO erased_devices (device_id) VALUES ($1)`, ['d1']);
  const rows = await db.query<{ device_id: string }>('SELECT device_id FROM erased_devices');
  assert.deepEqual(rows.rows, [{ device_id: 'd1' }]);
});
