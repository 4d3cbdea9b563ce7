// Regression (issue 20, defects 2 and 3): a backend terminated while its transaction is in flight made
// the checked-out pg Client emit 'error' with no listener, an uncaught exception that killed the
// process. Now the transaction rejects with a retryable DatabaseUnavailableError and the pool heals.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { type Database, DatabaseUnavailableError, isDatabaseUnavailable, openDatabase } from '@footfall/db';
import { createTemporaryDatabase, waitFor } from '@footfall/testing';
import pg from 'pg';

async function setup(t: import('node:test').TestContext) {
  const temp = await createTemporaryDatabase();
  const applicationName = `faults-${randomBytes(4).toString('hex')}`;
  const db = await openDatabase({ url: temp.url, applicationName, poolSize: 2 });
  const admin = new pg.Client({ connectionString: temp.url });
  await admin.connect();
  // In this order: DROP DATABASE … WITH (FORCE) would terminate the admin connection under it.
  t.after(async () => {
    await admin.end();
    await db.close();
    await temp.drop();
  });
  /** Backend pids of `db`'s connections in `state` (e.g. waiting on a lock). */
  const backends = async (where = 'true') =>
    (
      await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ${where}`,
        [applicationName],
      )
    ).rows.map((r) => r.pid);
  const terminate = async (pids: number[]) => {
    for (const pid of pids) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  };
  return { db, admin, backends, terminate };
}

const LOCK = 424242;

async function assertHealthy(db: Database) {
  // The broken connection was destroyed, not pooled: the next queries and transactions work.
  for (let i = 0; i < 3; i++) {
    assert.equal((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one, 1);
    assert.equal(
      await db.transaction(async (tx) => (await tx.query<{ n: number }>('SELECT 2 AS n')).rows[0]?.n),
      2,
    );
  }
}

test('a transaction whose backend is terminated while it waits on a lock rejects as retryable', async (t) => {
  const { db, admin, backends, terminate } = await setup(t);
  await admin.query('BEGIN');
  await admin.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
  const tx = db.transaction(async (q) => {
    await q.query(`INSERT INTO erased_devices (device_id) VALUES ('blocked')`);
    await q.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
  });
  // Observe the outcome at once: the rejection may land while terminate() still awaits its own query,
  // and a rejection nobody listens for yet is reported as an unhandled one (this test raced so).
  const outcome = tx.then(
    () => assert.fail('the transaction should fail'),
    (e: unknown) => e,
  );
  const waiting = await waitFor('the transaction to wait on the lock', () =>
    backends(`wait_event_type = 'Lock'`).then((p) => p.length > 0 && p),
  );
  await terminate(waiting);
  const error = await outcome;
  assert.ok(error instanceof DatabaseUnavailableError, String(error));
  assert.equal(error.retryable, true);
  assert.ok(isDatabaseUnavailable(error));
  await admin.query('COMMIT');
  await assertHealthy(db);
  assert.equal((await db.query(`SELECT 1 FROM erased_devices WHERE device_id = 'blocked'`)).rowCount, 0);
});

test('a backend terminated between two statements of a transaction rejects as retryable', async (t) => {
  const { db, backends, terminate } = await setup(t);
  let resume!: () => void;
  const paused = new Promise<void>((r) => {
    resume = r;
  });
  let inside!: () => void;
  const entered = new Promise<void>((r) => {
    inside = r;
  });
  const tx = db.transaction(async (q) => {
    await q.query(`INSERT INTO erased_devices (device_id) VALUES ('idle-in-tx')`);
    inside();
    await paused;
    await q.query('SELECT 1');
  });
  await entered;
  await terminate(await backends(`state = 'idle in transaction'`));
  // Give the client the chance to see the socket close before it is used again (the crash path).
  await waitFor(
    'the client to notice',
    async () => (await backends(`state = 'idle in transaction'`)).length === 0,
  );
  await new Promise((r) => setImmediate(r));
  resume();
  await assert.rejects(tx, (e: unknown) => isDatabaseUnavailable(e));
  await assertHealthy(db);
});

test('an idle pooled connection terminated under the pool is replaced; statement errors stay themselves', async (t) => {
  const { db, backends, terminate } = await setup(t);
  await db.query('SELECT 1');
  await terminate(await backends());
  await waitFor('the idle client to be dropped', async () => (await backends()).length === 0);
  // The server ends the backend before the client reads the socket's end: wait until the pool itself
  // has dropped the dead client (its 'error' event), which is the behaviour under test.
  const pool = (db as unknown as { pool: { totalCount: number } }).pool;
  await waitFor('the pool to drop the dead client', () => pool.totalCount === 0);
  await assertHealthy(db);
  const syntax = await db.query('SELEC 1').catch((e: unknown) => e);
  assert.ok(!isDatabaseUnavailable(syntax), 'a syntax error is not "unavailable"');
  const inTx = await db.transaction((q) => q.query('SELEC 1')).catch((e: unknown) => e);
  assert.ok(!isDatabaseUnavailable(inTx));
  assert.equal((inTx as { code?: string }).code, '42601');
  await assertHealthy(db);
});
