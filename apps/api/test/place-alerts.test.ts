// Crowd alerts on named places (docs/alerts.md, "Targets"): the API's target validation, and a place
// subscription whose webhook fires when the place's exact distinct count crosses the threshold while
// none of its cells' counts would. Real Kafka (`places`, `aggregated`), real PostgreSQL, a real receiver.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type AlertPayload, verifyWebhook } from '@footfall/alerts';
import { type Alerts, loadAlertsConfig, startAlerts } from '@footfall/alerts-service';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTopics } from '@footfall/kafka';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  placeOccRecord,
  produce,
  type TemporaryDatabase,
  uniqueTopics,
  waitFor,
} from '@footfall/testing';
import { cellToBoundary, cellToLatLng } from 'h3-js';
import { pino } from 'pino';
import { type Api, loadApiConfig, startApi } from '../src/index.ts';

const OPERATOR = 'place-alerts-operator-token';
const auth = { authorization: `Bearer ${OPERATOR}` };
const logger = pino({ level: 'silent' });
const A = cellOf(52.52, 13.405);
const B = cellOf(52.53, 13.41);

/** A polygon slightly larger than the cell: it maps to exactly that cell. */
function hexRing(cell: string): [number, number][] {
  const [clat, clon] = cellToLatLng(cell);
  const pts = cellToBoundary(cell).map(
    ([lat, lon]) => [clon + (lon - clon) * 1.05, clat + (lat - clat) * 1.05] as [number, number],
  );
  return [...pts, pts[0] as [number, number]];
}

describe('/v1/alerts on places', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let api: Api;
  let alerts: Alerts;
  let topic: string;
  let placeId: string;
  const received: { body: string; headers: Record<string, string> }[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      received.push({ body, headers: req.headers as Record<string, string> });
      res.writeHead(204).end();
    });
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    topic = (await uniqueTopics()).aggregated;
    const places = `places-${randomBytes(4).toString('hex')}`;
    await createTopics(kafkaBootstrap(), [
      { name: places, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ]);
    api = await startApi(
      loadApiConfig(
        {},
        {
          port: 0,
          host: '127.0.0.1',
          kafkaBootstrap: [kafkaBootstrap()],
          topicPlaces: places,
          operatorToken: OPERATOR,
          // The receiver listens on loopback (refused by default).
          alertsWebhookAllowPrivate: true,
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
          deliveryPollMs: 20,
          webhookAllowPrivate: true,
        },
      ),
      { db, logger },
    );
    const created = await call('POST', '/v1/places', {
      name: 'Two cells',
      category: 'station',
      geometry: { type: 'MultiPolygon', coordinates: [[hexRing(A)], [hexRing(B)]] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([...created.body.cells].sort(), [A, B].sort());
    placeId = created.body.id;
  });
  after(async () => {
    await alerts?.close();
    await api?.close();
    await db?.close();
    await tmp?.drop();
    receiver.close();
  });

  it('a subscription names exactly one existing target', async () => {
    const cases: [unknown, number, string][] = [
      [{ kind: 'above', threshold: 10 }, 400, 'API_INVALID_ALERT'],
      [{ kind: 'above', cell: A, placeId, threshold: 10 }, 400, 'API_INVALID_ALERT'],
      [{ kind: 'enters_top', placeId, threshold: 0 }, 400, 'API_BAD_REQUEST'],
      [{ kind: 'above', placeId, threshold: 4, hysteresis: 0 }, 400, 'API_INVALID_ALERT'],
      [
        { kind: 'above', placeId: '00000000-0000-4000-8000-000000000000', threshold: 10 },
        404,
        'API_PLACE_NOT_FOUND',
      ],
      [{ kind: 'above', placeId: 'not/a/place', threshold: 10 }, 400, 'API_BAD_REQUEST'],
      [
        { kind: 'above', placeId, region: regionOf(cellOf(48.85, 2.35)), threshold: 10 },
        400,
        'API_INVALID_REGION',
      ],
    ];
    for (const [body, status, code] of cases) {
      const r = await call('POST', '/v1/alerts/subscriptions', body);
      assert.equal(r.status, status, JSON.stringify([body, r.body]));
      assert.equal(r.body.error.code, code, JSON.stringify(body));
    }
  });

  it("fires a signed webhook when the place's distinct count crosses the threshold, its cells' counts not", async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const place = await call('POST', '/v1/alerts/subscriptions', {
      kind: 'above',
      placeId,
      threshold: 10,
      hysteresis: 2,
      webhookUrl: url,
    });
    assert.equal(place.status, 201, JSON.stringify(place.body));
    assert.equal(place.body.subscription.placeId, placeId);
    assert.equal(place.body.subscription.cell, null);
    assert.equal(place.body.subscription.region, regionOf(A));
    const secret: string = place.body.webhookSecret;
    // The same rule on each of the place's cells: they must stay silent.
    const cells = [];
    for (const cell of [A, B]) {
      const r = await call('POST', '/v1/alerts/subscriptions', {
        kind: 'above',
        cell,
        threshold: 10,
        webhookUrl: url,
      });
      assert.equal(r.status, 201);
      cells.push(r.body.subscription.id as string);
    }
    const id = place.body.subscription.id as string;
    const b = bucketStart(Date.now(), 60_000);
    const region = regionOf(A);
    await produce(kafkaBootstrap(), topic, [
      occRecord({ cell: A, bucketStartMs: b, devices: 3 }),
      occRecord({ cell: B, bucketStartMs: b, devices: 3 }),
      placeOccRecord({ placeId, region, bucketStartMs: b, devices: 5 }),
    ]);
    await waitFor(
      'the baseline',
      async () => (await call('GET', `/v1/alerts/subscriptions/${id}`)).body.condition === false,
    );
    // 7 + 6 devices in the cells (each below 10), 11 distinct in the place.
    await produce(kafkaBootstrap(), topic, [
      occRecord({ cell: A, bucketStartMs: b, devices: 7 }),
      occRecord({ cell: B, bucketStartMs: b, devices: 6 }),
      placeOccRecord({ placeId, region, bucketStartMs: b, devices: 11 }),
    ]);
    const delivered = await waitFor('the webhook', () => received[0]);
    verifyWebhook(secret, delivered.body, delivered.headers);
    const payload = JSON.parse(delivered.body) as AlertPayload;
    assert.equal(payload.subscriptionId, id);
    assert.equal(payload.placeId, placeId);
    assert.equal(payload.cell, null);
    assert.equal(payload.devices, 11);
    assert.equal(delivered.headers['webhook-id'], payload.id);

    const events = await call('GET', `/v1/alerts/subscriptions/${id}/events`);
    assert.equal(events.status, 200);
    assert.equal(events.body.events.length, 1);
    assert.equal(events.body.events[0].payload.placeId, placeId);
    await waitFor(
      'the delivery state',
      async () =>
        (await call('GET', `/v1/alerts/subscriptions/${id}/events`)).body.events[0].delivery === 'delivered',
    );
    for (const c of cells) {
      const s = await call('GET', `/v1/alerts/subscriptions/${c}`);
      assert.equal(s.body.condition, false, 'the cells saw both batches and stayed below');
      assert.equal(s.body.fired, 0);
    }
    assert.equal(received.length, 1, 'only the place fired');
  });
});
