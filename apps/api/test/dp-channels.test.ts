// PRIVACY_MODE=dp on the real PostgreSQL and broker: the channels without a differentially private release
// (place counts, crowd alerts) answer 501 API_UNAVAILABLE_IN_DP_MODE, declared in the OpenAPI document,
// while the place registry and the subscriptions' housekeeping keep working (docs/privacy.md, "Channels in
// dp mode"). The alerts service's side: apps/alerts/test/dp.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf } from '@footfall/domain';
import { createTopics } from '@footfall/kafka';
import { createTemporaryDatabase, kafkaBootstrap, type TemporaryDatabase } from '@footfall/testing';
import { cellToBoundary, cellToLatLng } from 'h3-js';
import { pino } from 'pino';
import { type Api, loadApiConfig, startApi } from '../src/index.ts';

const OPERATOR = 'dp-channels-operator-token';
const auth = { authorization: `Bearer ${OPERATOR}` };
const logger = pino({ level: 'silent' });
const A = cellOf(52.52, 13.405);
const DAY = 86_400_000;

/** A polygon slightly larger than the cell: it maps to exactly that cell. */
function hexRing(cell: string): [number, number][] {
  const [clat, clon] = cellToLatLng(cell);
  const pts = cellToBoundary(cell).map(
    ([lat, lon]) => [clon + (lon - clon) * 1.05, clat + (lat - clat) * 1.05] as [number, number],
  );
  return [...pts, pts[0] as [number, number]];
}

// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
type Answer = { status: number; body: any };

describe('PRIVACY_MODE=dp: channels without a DP release are refused', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let api: Api;
  const DP_ENV = {
    PRIVACY_MODE: 'dp',
    DP_EPSILON_PER_RELEASE: '1',
    DP_DELTA_PER_RELEASE: '0.000001',
    DP_EPSILON_PER_DAY: '3',
    DP_DELTA_PER_DAY: '0.001',
  };

  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const assertRefused = (r: { status: number; body: { error?: { code: string } } }, what: string) => {
    assert.equal(r.status, 501, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.code, 'API_UNAVAILABLE_IN_DP_MODE', what);
  };

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    const places = `places-${randomBytes(4).toString('hex')}`;
    await createTopics(kafkaBootstrap(), [
      { name: places, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ]);
    api = await startApi(
      loadApiConfig(DP_ENV, {
        port: 0,
        host: '127.0.0.1',
        kafkaBootstrap: [kafkaBootstrap()],
        topicPlaces: places,
        operatorToken: OPERATOR,
        logLevel: 'silent',
      }),
      { db, logger },
    );
  });

  after(async () => {
    await api?.close();
    await db?.close();
    await tmp?.drop();
  });

  it('the place registry works; every place count endpoint answers 501 API_UNAVAILABLE_IN_DP_MODE', async () => {
    const at = bucketStart(Date.now(), 60_000) - 10 * 60_000;
    const created = await call('POST', '/v1/places', {
      name: 'Test Hauptbahnhof',
      category: 'station',
      geometry: { type: 'Polygon', coordinates: [hexRing(A)] },
      effectiveFrom: String(at),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id: string = created.body.id;
    assert.deepEqual(created.body.cells, [A]);
    assert.equal((await call('GET', `/v1/places/${id}`)).status, 200);
    const list = await call('GET', '/v1/places?bbox=13,52,14,53&limit=5');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.places.map((p: { id: string }) => p.id),
      [id],
    );
    const renamed = await call('PUT', `/v1/places/${id}`, {
      name: 'Hbf',
      category: 'station',
      geometry: { type: 'Polygon', coordinates: [hexRing(A)] },
    });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.name, 'Hbf');

    const day = new Date(bucketStart(Date.now(), DAY) - DAY).toISOString().slice(0, 10);
    for (const path of [
      `/v1/places/${id}/occupancy?at=${at}`,
      `/v1/places/${id}/occupancy/series?from=${at}&to=${at + 60_000}`,
      `/v1/places/popular?at=${at}&k=5`,
      `/v1/places/${id}/dwell?date=${day}`,
      `/v1/places/${id}/popular-times`,
      // Refused before anything is read: an unknown place gets the same answer.
      '/v1/places/nope/occupancy',
    ]) {
      assertRefused(await call('GET', path), path);
    }
    assert.equal((await call('DELETE', `/v1/places/${id}`)).status, 204);
    assert.equal((await call('GET', `/v1/places/${id}`)).status, 404);
  });

  it('alerts: creation, events, redelivery and the stream answer 501; the rest still works', async () => {
    assertRefused(
      await call('POST', '/v1/alerts/subscriptions', { kind: 'above', cell: A, threshold: 50 }),
      'create',
    );
    assertRefused(
      await call('POST', '/v1/alerts/subscriptions', { kind: 'above', placeId: 'a-place', threshold: 50 }),
      'create on a place',
    );
    const list = await call('GET', '/v1/alerts/subscriptions');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.subscriptions, []);
    const id = '00000000-0000-4000-8000-000000000000';
    assert.equal((await call('GET', `/v1/alerts/subscriptions/${id}`)).status, 404);
    assertRefused(await call('GET', `/v1/alerts/subscriptions/${id}/events`), 'events');
    assertRefused(await call('POST', `/v1/alerts/subscriptions/${id}/events/e1/redeliver`), 'redeliver');
    assertRefused(await call('GET', `/v1/alerts/subscriptions/${id}/stream`), 'stream');
    // Authentication still comes first.
    const anonymous = await fetch(`${api.url}/v1/alerts/subscriptions`, { method: 'POST' });
    assert.equal(anonymous.status, 401);
  });

  it('the OpenAPI document declares the refusal on each refused operation, and only there', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
    };
    const with501 = Object.values(doc.paths)
      .flatMap((ops) => Object.values(ops))
      .filter((op) => op.responses['501'])
      .map((op) => op.operationId)
      .sort();
    assert.deepEqual(with501, [
      'createAlertSubscription',
      'getPlaceDwell',
      'getPlaceOccupancy',
      'getPlaceOccupancySeries',
      'getPlacePopularTimes',
      'getPopularPlaces',
      'listAlertEvents',
      'redeliverAlertEvent',
      'streamAlerts',
    ]);
  });
});
