// The "Done when": a webhook receiver that fails N times and then accepts gets exactly one
// processed delivery per alert, with a valid signature, across a restart of the delivering service in
// between. Real Kafka (the `aggregated` topic), real PostgreSQL (the outbox), a real HTTP receiver.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { insertSubscription, listEvents, newWebhookSecret, verifyWebhook } from '@footfall/alerts';
import { openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  produce,
  uniqueTopics,
  waitFor,
} from '@footfall/testing';
import { pino } from 'pino';
import { type Alerts, loadAlertsConfig, startAlerts } from '../src/index.ts';

const FAILS = 3;
const MAX_ATTEMPTS = 4;

test('webhook: fails N times then accepts → one processed delivery per alert, signed, across a restart', async (t) => {
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url, poolSize: 4 });
  const { aggregated: topic } = await uniqueTopics();
  const services: Alerts[] = [];

  // The receiver: 503 for the first FAILS attempts at /ok, then 200; /dead always 500. It deduplicates on
  // webhook-id, as the docs tell receivers to, and counts what it processed.
  const attempts = new Map<string, number>();
  const processed = new Map<string, number>();
  const badSignatures: string[] = [];
  let okAttempts = 0;
  // The first attempt is held until the test has begun stopping the service: a restart with a delivery
  // in flight and then pending, without racing the retry timer.
  const firstArrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const secrets = { ok: newWebhookSecret(), dead: newWebhookSecret() };
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', async () => {
      const path = req.url === '/dead' ? 'dead' : 'ok';
      const headers = req.headers as Record<string, string>;
      const id = headers['webhook-id'] ?? '';
      attempts.set(id, (attempts.get(id) ?? 0) + 1);
      try {
        verifyWebhook(secrets[path], body, headers);
      } catch (error) {
        badSignatures.push(`${id}: ${(error as Error).message}`);
      }
      if (path === 'ok' && okAttempts === 0) {
        firstArrived.resolve();
        await release.promise;
      }
      if (path === 'dead' || ++okAttempts <= FAILS) {
        res.writeHead(path === 'dead' ? 500 : 503).end();
        return;
      }
      processed.set(id, (processed.get(id) ?? 0) + (processed.has(id) ? 0 : 1));
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  t.after(async () => {
    for (const s of services) await s.close();
    receiver.close();
    await db.close();
    await temp.drop();
  });

  const config = loadAlertsConfig(
    {},
    {
      kafkaBootstrap: [kafkaBootstrap()],
      topicAggregated: topic,
      databaseUrl: temp.url,
      groupId: `alerts-${topic}`,
      instanceId: `alerts-${randomBytes(3).toString('hex')}`,
      opsPort: 0,
      flushIntervalMs: 20,
      deliveryPollMs: 20,
      webhookAllowPrivate: true,
      webhookBackoffMs: 50,
      webhookMaxBackoffMs: 400,
      webhookMaxAttempts: MAX_ATTEMPTS,
      webhookTimeoutMs: 2_000,
    },
  );
  const logger = pino({ level: 'silent' });
  const start = async () => {
    const s = await startAlerts(config, { logger });
    services.push(s);
    return s;
  };

  const A = cellOf(52.52, 13.405);
  const B = cellOf(52.53, 13.41);
  assert.equal(regionOf(A), regionOf(B));
  const b = bucketStart(Date.now(), 60_000);
  const ok = await insertSubscription(db, {
    kind: 'above',
    cell: A,
    placeId: null,
    region: regionOf(A),
    threshold: 10,
    hysteresis: 2,
    webhookUrl: `${base}/ok`,
    webhookSecret: secrets.ok,
  });
  const dead = await insertSubscription(db, {
    kind: 'above',
    cell: B,
    placeId: null,
    region: regionOf(B),
    threshold: 10,
    hysteresis: 2,
    webhookUrl: `${base}/dead`,
    webhookSecret: secrets.dead,
  });
  const conditionOf = async (id: string) =>
    (
      await db.query<{ condition: boolean | null }>(
        'SELECT condition FROM alert_subscriptions WHERE id = $1',
        [id],
      )
    ).rows[0]?.condition;

  const first = await start();
  // Baseline below the band, then a crossing: one alert each.
  await produce(kafkaBootstrap(), topic, [
    occRecord({ cell: A, bucketStartMs: b, devices: 3 }),
    occRecord({ cell: B, bucketStartMs: b, devices: 3 }),
  ]);
  await waitFor(
    'the baselines',
    async () => (await conditionOf(ok.id)) === false && (await conditionOf(dead.id)) === false,
  );
  await produce(kafkaBootstrap(), topic, [
    occRecord({ cell: A, bucketStartMs: b, devices: 12 }),
    occRecord({ cell: B, bucketStartMs: b, devices: 12 }),
  ]);

  // The first attempt fails; stop the service with the delivery still pending in the outbox.
  await firstArrived.promise;
  const stopping = first.close();
  release.resolve();
  await stopping;
  const [pending] = await listEvents(db, ok.id, { limit: 10 });
  assert.equal(pending?.delivery, 'pending', 'the alert waits in the outbox across the restart');
  assert.ok((pending?.attempts ?? 0) >= 1);

  await start();
  await waitFor('the delivery to be accepted', () => processed.size === 1, 60_000);
  await waitFor(
    'the dead letter',
    async () => (await listEvents(db, dead.id, { limit: 10, delivery: 'dead' })).length === 1,
    60_000,
  );

  const [delivered] = await listEvents(db, ok.id, { limit: 10 });
  assert.equal(delivered?.delivery, 'delivered');
  assert.equal(delivered?.attempts, FAILS + 1);
  assert.equal(attempts.get(delivered.id), FAILS + 1, 'the same webhook-id on every attempt');
  assert.deepEqual([...processed.values()], [1], 'exactly one processed delivery');
  assert.deepEqual(badSignatures, [], 'every attempt carries a valid signature');
  assert.equal(delivered.payload.devices, 12);
  assert.ok(delivered.payload.sourceAtMs <= delivered.payload.firedAtMs);

  const [deadEvent] = await listEvents(db, dead.id, { limit: 10 });
  assert.equal(deadEvent?.attempts, MAX_ATTEMPTS);
  assert.equal(deadEvent?.lastError, 'HTTP 500');
  assert.equal(attempts.get(deadEvent.id), MAX_ATTEMPTS, 'no attempt after the dead letter');
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM alert_events');
  assert.equal(rows[0]?.n, 2, 'one alert per subscription: the restart repeated none');
});
