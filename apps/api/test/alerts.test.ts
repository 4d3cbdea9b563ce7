// /v1/alerts: operator-only CRUD with the documented errors, SSRF refusals, and SSE delivery of alerts
// evaluated by apps/alerts from real `aggregated` records (Kafka → apps/alerts → outbox → API stream).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Alerts, loadAlertsConfig, startAlerts } from '@footfall/alerts-service';
import { USER_TOKEN_RULES } from '@footfall/auth';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  produce,
  type TemporaryDatabase,
  uniqueTopics,
  waitFor,
} from '@footfall/testing';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { type Api, loadApiConfig, startApi } from '../src/index.ts';
import { openSse } from './sse.ts';

const OPERATOR = 'test-operator-token';
const USER_SECRET = 'test-user-secret-0123456789abcdef';
const logger = pino({ level: 'silent' });
const A = cellOf(52.52, 13.405);
const B = cellOf(52.53, 13.41);
const auth = { authorization: `Bearer ${OPERATOR}` };

describe('/v1/alerts', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let api: Api;
  let alerts: Alerts;
  let topic: string;

  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = auth,
  ) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    topic = (await uniqueTopics()).aggregated;
    api = await startApi(
      loadApiConfig(
        {},
        {
          port: 0,
          host: '127.0.0.1',
          kafkaBootstrap: [kafkaBootstrap()],
          operatorToken: OPERATOR,
          userTokenSecret: USER_SECRET,
          liveIntervalMs: 100,
          logLevel: 'silent',
        },
      ),
      { db, logger },
    );
    alerts = await startAlerts(
      loadAlertsConfig(
        {},
        {
          kafkaBootstrap: [kafkaBootstrap()],
          topicAggregated: topic,
          groupId: `alerts-${topic}`,
          opsPort: 0,
          flushIntervalMs: 20,
        },
      ),
      { db, logger },
    );
  });
  after(async () => {
    await alerts?.close();
    await api?.close();
    await db?.close();
    await tmp?.drop();
  });

  it('is for operators only: 401 without a token, 403 with a user token', async () => {
    assert.equal((await call('GET', '/v1/alerts/subscriptions', undefined, {})).status, 401);
    const user = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setAudience('footfall-api')
      .setIssuer(USER_TOKEN_RULES.issuer)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(USER_SECRET));
    const r = await call(
      'POST',
      '/v1/alerts/subscriptions',
      { kind: 'above', cell: A, threshold: 10 },
      { authorization: `Bearer ${user}` },
    );
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'API_FORBIDDEN');
  });

  it('refuses bad subscriptions with catalog errors (k-anonymity, cell, region, webhook targets)', async () => {
    const cases: [unknown, number, string][] = [
      [{ kind: 'above', cell: A, threshold: 4, hysteresis: 0 }, 400, 'API_INVALID_ALERT'],
      [{ kind: 'above', cell: A, threshold: 6 }, 400, 'API_INVALID_ALERT'], // default hysteresis 2: re-arm at 4 < K
      [{ kind: 'below', cell: A, threshold: 2 }, 400, 'API_INVALID_ALERT'],
      [{ kind: 'sideways', cell: A, threshold: 10 }, 400, 'API_BAD_REQUEST'],
      [{ kind: 'above', cell: 'nope', threshold: 10 }, 400, 'API_INVALID_CELL'],
      [
        { kind: 'above', cell: A, region: regionOf(cellOf(48.85, 2.35)), threshold: 10 },
        400,
        'API_INVALID_REGION',
      ],
      [
        { kind: 'above', cell: A, threshold: 10, webhookUrl: 'ftp://example.com/x' },
        400,
        'API_INVALID_WEBHOOK',
      ],
      [
        { kind: 'above', cell: A, threshold: 10, webhookUrl: 'http://169.254.169.254/latest/meta-data' },
        400,
        'API_INVALID_WEBHOOK',
      ],
      [
        { kind: 'above', cell: A, threshold: 10, webhookUrl: 'http://127.0.0.1:9/hook' },
        400,
        'API_INVALID_WEBHOOK',
      ],
      [
        { kind: 'above', cell: A, threshold: 10, webhookUrl: 'http://localhost:9/hook' },
        400,
        'API_INVALID_WEBHOOK',
      ],
      [
        { kind: 'above', cell: A, threshold: 10, webhookUrl: 'http://[::ffff:10.0.0.1]/' },
        400,
        'API_INVALID_WEBHOOK',
      ],
    ];
    for (const [body, status, code] of cases) {
      const r = await call('POST', '/v1/alerts/subscriptions', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.error.code, code, JSON.stringify(body));
    }
    const missing = await call('GET', '/v1/alerts/subscriptions/00000000-0000-4000-8000-000000000000');
    assert.equal(missing.body.error.code, 'API_ALERT_NOT_FOUND');
  });

  it('creates, lists, streams an alert over SSE and deletes', async () => {
    const created = await call('POST', '/v1/alerts/subscriptions', {
      kind: 'enters_top',
      cell: A,
      threshold: 1,
      hysteresis: 1,
    });
    assert.equal(created.status, 201);
    const sub = created.body.subscription;
    assert.equal(sub.region, regionOf(A));
    assert.equal(sub.cell, A);
    assert.equal(sub.placeId, null, 'a cell subscription names no place');
    assert.equal(created.body.webhookSecret, null, 'no webhook, no secret');
    assert.ok(
      (await call('GET', '/v1/alerts/subscriptions')).body.subscriptions.some(
        (s: { id: string }) => s.id === sub.id,
      ),
    );

    const stream = await openSse(`${api.url}/v1/alerts/subscriptions/${sub.id}/stream`, auth);
    assert.equal(stream.status, 200);
    const b = bucketStart(Date.now(), 60_000);
    // Baseline: B leads, A (3 devices, below K) is not ranked. Then A overtakes B: A enters the top-1.
    await produce(kafkaBootstrap(), topic, [
      occRecord({ cell: B, bucketStartMs: b, devices: 8 }),
      occRecord({ cell: A, bucketStartMs: b, devices: 3 }),
    ]);
    await waitFor(
      'the baseline',
      async () => (await call('GET', `/v1/alerts/subscriptions/${sub.id}`)).body.condition === false,
    );
    await produce(kafkaBootstrap(), topic, [occRecord({ cell: A, bucketStartMs: b, devices: 11 })]);
    const event = await waitFor('the alert on the stream', () =>
      stream.events.find((e) => e.event === 'alert'),
    );
    assert.equal(event.data.kind, 'enters_top');
    assert.equal(event.data.cell, A);
    assert.equal(event.data.rank, 1);
    assert.equal(event.data.devices, 11);

    const listed = await call('GET', `/v1/alerts/subscriptions/${sub.id}/events`);
    assert.equal(listed.body.events.length, 1);
    assert.equal(listed.body.events[0].delivery, 'none', 'no webhook: SSE and polling only');
    assert.equal(listed.body.events[0].id, event.data.id);

    // Resuming after the last event id sends nothing old.
    const resumed = await openSse(`${api.url}/v1/alerts/subscriptions/${sub.id}/stream`, {
      ...auth,
      'last-event-id': String(listed.body.events[0].seq),
    });
    assert.equal((await call('DELETE', `/v1/alerts/subscriptions/${sub.id}`)).status, 204);
    await waitFor('the deleted notice', () => resumed.events.find((e) => e.event === 'deleted'));
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['deleted'],
    );
    await stream.close();
    await resumed.close();
    assert.equal((await call('GET', `/v1/alerts/subscriptions/${sub.id}`)).status, 404);
  });
});
