import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '@footfall/db';
import { createTemporaryDatabase } from '@footfall/testing';
import pg from 'pg';

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

test('bigint and numeric come back as numbers from our pool, and pg’s global parsers are untouched', async (t) => {
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url, skipMigrations: true });
  const plain = new pg.Client({ connectionString: temp.url });
  t.after(async () => {
    await plain.end();
    await db.close();
    await temp.drop();
  });
  const ours = await db.query<{ big: unknown; num: unknown }>(
    'SELECT 9007199254740::int8 AS big, 1.5::numeric AS num',
  );
  assert.deepEqual(ours.rows, [{ big: 9007199254740, num: 1.5 }]);
  // Importing @footfall/db used to call pg.types.setTypeParser: every other pg client in the process
  // then got numbers too. A plain client must still see pg's default (strings).
  assert.equal(pg.types.getTypeParser(pg.types.builtins.INT8, 'text')('42'), '42');
  await plain.connect();
  const theirs = await plain.query('SELECT 42::int8 AS big');
  assert.deepEqual(theirs.rows, [{ big: '42' }]);
});
