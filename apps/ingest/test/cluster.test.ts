import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { freePort } from '@footfall/kafka';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { DeviceClient } from '../src/sdk/index.ts';
import { DEVICE_KEY_SECRET, makePings, USER_TOKEN_SECRET } from './helpers.ts';

test('INGEST_WORKERS=2: one port, readiness and metrics over both workers, SIGTERM drains and exits 0', async (t) => {
  const topic = (await uniqueTopics(2)).ingestion;
  const [grpcPort, opsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [new URL('../src/main.ts', import.meta.url).pathname], {
    env: {
      ...process.env,
      INGEST_WORKERS: '2',
      KAFKA_BOOTSTRAP: kafkaBootstrap(),
      TOPIC_INGESTION: topic,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      OPS_PORT: String(opsPort),
      LOG_LEVEL: 'warn',
      DEVICE_KEY_SECRET,
      USER_TOKEN_SECRET,
      ALLOW_DEV_ATTESTATION: 'true',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  // Synchronise on readiness (both workers connected to Kafka), polling the primary's /readyz.
  const readyz = () =>
    fetch(`http://127.0.0.1:${opsPort}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
  await waitFor('the cluster to be ready', async () => (await readyz()) === 200, 120_000);

  // Several channels: the primary hands connections to the workers in turn.
  const clients = Array.from({ length: 4 }, () => new DeviceClient({ target: `127.0.0.1:${grpcPort}` }));
  try {
    for (const c of clients) {
      await c.enroll();
      assert.equal((await c.upload(makePings(10))).accepted, 10);
    }
  } finally {
    for (const c of clients) c.close();
  }
  const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
  assert.match(metrics, /footfall_ingest_pings_accepted_total\{[^}]*\} 40\b/, 'summed over the workers');
  assert.match(metrics, /footfall_ingest_kafka_up\{[^}]*\} 1\b/);

  child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
});
