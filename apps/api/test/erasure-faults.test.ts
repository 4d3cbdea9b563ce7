// Regression (issue 20, defect 3): terminating the connection of a DELETE /v1/users/{id} that waits on
// the erasure lock made the pg Client emit an unhandled 'error' and the whole API process exit 1. The
// API runs here as its own process (apps/api/src/main.ts), as in production.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { issueUserToken } from '@footfall/auth';
import { ERASURE_LOCK_KEY, openDatabase } from '@footfall/db';
import { freePort } from '@footfall/kafka';
import { createTemporaryDatabase, waitFor } from '@footfall/testing';
import pg from 'pg';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const USER_SECRET = randomBytes(32).toString('base64url');

test('a terminated erasure answers 503 API_UNAVAILABLE and the API process stays up', async (t) => {
  const temp = await createTemporaryDatabase();
  // Migrate before the API starts, so the only API connection waiting on a lock is the DELETE's.
  await (await openDatabase({ url: temp.url })).close();
  const admin = new pg.Client({ connectionString: temp.url });
  await admin.connect();
  const port = await freePort();
  let exit: { code: number | null; signal: string | null } | undefined;
  let stderr = '';
  const api: ChildProcess = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      API_PORT: String(port),
      API_HOST: '127.0.0.1',
      DATABASE_URL: temp.url,
      USER_TOKEN_SECRET: USER_SECRET,
      OPERATOR_TOKEN: 'operator',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  api.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  api.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  t.after(async () => {
    api.kill('SIGKILL');
    await admin.end().catch(() => {});
    await temp.drop();
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('the API to be ready', async () => (await fetch(`${url}/readyz`)).ok, 60_000, 200);

  const token = await issueUserToken(USER_SECRET, 'dev-erase', 3600);
  const erase = () =>
    fetch(`${url}/v1/users/dev-erase`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });

  // A sink batch (or another erasure) holds the erasure lock: the DELETE waits on it.
  await admin.query('BEGIN');
  await admin.query('SELECT pg_advisory_xact_lock($1)', [ERASURE_LOCK_KEY]);
  const pending = erase();
  const waiting = await waitFor(
    'the DELETE to wait on the erasure lock',
    async () => {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
      );
      return rows.length > 0 && rows;
    },
    30_000,
  );
  for (const { pid } of waiting) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  await admin.query('COMMIT');

  const res = await pending;
  assert.equal(res.status, 503, stderr);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'API_UNAVAILABLE');
  assert.equal(typeof body.error.message, 'string');

  // Still the same process, still serving; the retry the 503 asks for succeeds.
  assert.equal(exit, undefined, `the API exited: ${JSON.stringify(exit)}\n${stderr}`);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  const retry = await erase();
  assert.equal(retry.status, 200);
  assert.equal(exit, undefined);
});
