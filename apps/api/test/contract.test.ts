// Every answer the API gives, good or bad, is declared in its own OpenAPI document: each case below is
// sent to a real API (real PostgreSQL), and its status, media type and body are checked against the
// document served at /openapi.json with openapi-backend's response validator (Ajv).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issueUserToken } from '@footfall/auth';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTemporaryDatabase, kafkaBootstrap, type TemporaryDatabase } from '@footfall/testing';
import { type Document, OpenAPIBackend } from 'openapi-backend';
import { pino } from 'pino';
import { type Api, loadApiConfig, startApi } from '../src/index.ts';
import { type RawAnswer, send, sendBytes } from './http.ts';

const SECRET = 'contract-user-secret-0123456789ab';
const OPERATOR = 'contract-operator-token';
const logger = pino({ level: 'silent' });
const MIN = 60_000;
const DAY = 86_400_000;
const A = cellOf(52.52, 13.405);
const T0 = bucketStart(Date.now() - 3_600_000, MIN);
/** Marker placed in bad input: no error message may repeat it. */
const ECHO = 'ECHO<b>x</b>';

/** A valid user token (the one issuer: the rules of @footfall/auth, `iss` and `exp` included). */
const token = (sub: string) => issueUserToken(SECRET, sub, 3600);

async function seed(db: Database): Promise<void> {
  const from = new Date(bucketStart(Date.now(), DAY) - DAY).toISOString();
  const to = new Date(bucketStart(Date.now(), DAY) + 2 * DAY).toISOString();
  for (const table of ['occupancy', 'visits']) {
    await db.query(
      `CREATE TABLE ${table}_pcontract PARTITION OF ${table} FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
  }
  await db.query(
    `INSERT INTO occupancy (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
     VALUES ($1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond', 60000, $3, 52.52, 13.405, 8, 8)`,
    [A, T0, regionOf(A)],
  );
  for (const device of ['alice', 'carol']) {
    await db.query(
      `INSERT INTO visits (device_id, cell, start_at, end_at, region, pings, closed)
       VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 millisecond',
               timestamptz 'epoch' + $4::bigint * interval '1 millisecond', $5, 4, true)`,
      [device, A, T0, T0 + 10 * MIN, regionOf(A)],
    );
  }
  await db.query(`INSERT INTO erased_devices (device_id) VALUES ('eve')`);
}

interface Case {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Bearer token: a user id (signed user token) or OPERATOR. */
  as?: string;
  status: number;
  code?: string;
  /** Which API answers: the healthy one, one whose database is down, one whose schema is broken. */
  on?: 'ok' | 'down' | 'broken';
  stream?: boolean;
}

const long = (n: number) => 'u'.repeat(n);
const cases: Case[] = [
  { name: 'liveness', method: 'GET', path: '/healthz', status: 200 },
  { name: 'readiness', method: 'GET', path: '/readyz', status: 200 },
  { name: 'metrics', method: 'GET', path: '/metrics', status: 200 },
  { name: 'openapi', method: 'GET', path: '/openapi.json', status: 200 },
  { name: 'occupancy by cell', method: 'GET', path: `/v1/occupancy?cell=${A}&at=${T0}`, status: 200 },
  { name: 'occupancy by lat/lon', method: 'GET', path: '/v1/occupancy?lat=52.52&lon=13.405', status: 200 },
  { name: 'HEAD occupancy', method: 'HEAD', path: `/v1/occupancy?cell=${A}`, status: 200 },
  {
    name: 'bad cell',
    method: 'GET',
    path: `/v1/occupancy?cell=${encodeURIComponent(ECHO)}`,
    status: 400,
    code: 'API_INVALID_CELL',
  },
  {
    name: 'impossible date (Feb 30)',
    method: 'GET',
    path: `/v1/occupancy?cell=${A}&at=2025-02-30T00:00:00Z`,
    status: 400,
    code: 'API_INVALID_TIME',
  },
  {
    name: 'impossible hour (24:00)',
    method: 'GET',
    path: `/v1/occupancy?cell=${A}&at=2025-02-28T24:00:00Z`,
    status: 400,
    code: 'API_INVALID_TIME',
  },
  { name: 'impossible bare date', method: 'GET', path: `/v1/occupancy?cell=${A}&at=2025-13-01`, status: 400 },
  {
    name: 'untyped lat',
    method: 'GET',
    path: `/v1/occupancy?lat=${encodeURIComponent(ECHO)}&lon=1`,
    status: 400,
    code: 'API_BAD_REQUEST',
  },
  {
    name: 'headers over 16 KiB',
    method: 'GET',
    path: `/v1/occupancy?cell=${A}`,
    headers: { 'x-big': 'a'.repeat(20_000) },
    status: 431,
    code: 'API_HEADERS_TOO_LARGE',
  },
  {
    name: 'series',
    method: 'GET',
    path: `/v1/occupancy/series?cell=${A}&from=${T0}&to=${T0 + 10 * MIN}&step=${5 * MIN}`,
    status: 200,
  },
  {
    name: 'series, reversed range',
    method: 'GET',
    path: `/v1/occupancy/series?cell=${A}&from=${T0 + MIN}&to=${T0}`,
    status: 400,
    code: 'API_INVALID_RANGE',
  },
  { name: 'popular', method: 'GET', path: `/v1/popular?at=${T0}`, status: 200 },
  { name: 'popular in a bbox', method: 'GET', path: `/v1/popular?at=${T0}&bbox=13,52,14,53`, status: 200 },
  { name: 'popular rolled up', method: 'GET', path: `/v1/popular?at=${T0}&resolution=7`, status: 200 },
  { name: 'popular k=0', method: 'GET', path: '/v1/popular?k=0', status: 400, code: 'API_BAD_REQUEST' },
  {
    name: 'popular bad region',
    method: 'GET',
    path: `/v1/popular?region=${encodeURIComponent(ECHO)}`,
    status: 400,
    code: 'API_INVALID_REGION',
  },
  {
    name: 'user time',
    method: 'GET',
    path: `/v1/users/alice/time?from=${T0}&to=${T0 + DAY}`,
    as: 'alice',
    status: 200,
  },
  {
    name: 'user time, no token',
    method: 'GET',
    path: '/v1/users/alice/time',
    status: 401,
    code: 'API_UNAUTHENTICATED',
  },
  { name: "user time, another's token", method: 'GET', path: '/v1/users/alice/time', as: 'bob', status: 403 },
  {
    name: 'user time, unknown user',
    method: 'GET',
    path: '/v1/users/nobody/time',
    as: OPERATOR,
    status: 404,
  },
  {
    name: 'user id of 150 characters is valid (not 414)',
    method: 'GET',
    path: `/v1/users/${long(150)}/time`,
    as: OPERATOR,
    status: 404,
    code: 'API_USER_NOT_FOUND',
  },
  { name: 'user time, erased user', method: 'GET', path: '/v1/users/eve/time', as: OPERATOR, status: 410 },
  {
    name: 'user id over 200 characters',
    method: 'GET',
    path: `/v1/users/${long(201)}/time`,
    as: OPERATOR,
    status: 400,
    code: 'API_BAD_REQUEST',
  },
  {
    name: 'path parameter over the router limit',
    method: 'GET',
    path: `/v1/users/${long(1100)}/time`,
    as: OPERATOR,
    status: 414,
    code: 'API_URI_TOO_LONG',
  },
  {
    name: 'badly encoded path parameter',
    method: 'GET',
    path: '/v1/users/%E0%A4%A/time',
    as: OPERATOR,
    status: 400,
    code: 'API_BAD_REQUEST',
  },
  {
    name: 'user time, bad range',
    method: 'GET',
    path: `/v1/users/alice/time?from=${T0 + 1}&to=${T0}`,
    as: 'alice',
    status: 400,
    code: 'API_INVALID_RANGE',
  },
  {
    name: 'user visits',
    method: 'GET',
    path: `/v1/users/alice/visits?from=${T0}`,
    as: OPERATOR,
    status: 200,
  },
  { name: 'user visits, no token', method: 'GET', path: '/v1/users/alice/visits', status: 401 },
  { name: 'erase, no token', method: 'DELETE', path: '/v1/users/carol', status: 401 },
  { name: "erase, another's token", method: 'DELETE', path: '/v1/users/carol', as: 'bob', status: 403 },
  {
    name: 'erase with an oversized body',
    method: 'DELETE',
    path: '/v1/users/carol',
    as: OPERATOR,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pad: 'x'.repeat(4096) }),
    status: 413,
    code: 'API_PAYLOAD_TOO_LARGE',
  },
  {
    name: 'erase with a body of the wrong media type',
    method: 'DELETE',
    path: '/v1/users/carol',
    as: OPERATOR,
    headers: { 'content-type': 'application/xml' },
    body: '<a/>',
    status: 415,
    code: 'API_BAD_MEDIA_TYPE',
  },
  {
    name: 'erase, id over 200 characters',
    method: 'DELETE',
    path: `/v1/users/${long(201)}`,
    as: OPERATOR,
    status: 400,
  },
  {
    name: 'erase, id over the router limit',
    method: 'DELETE',
    path: `/v1/users/${long(1100)}`,
    as: OPERATOR,
    status: 414,
  },
  { name: 'erase', method: 'DELETE', path: '/v1/users/carol', as: 'carol', status: 200 },
  { name: 'HEAD live', method: 'HEAD', path: '/v1/live', status: 200 },
  { name: 'live', method: 'GET', path: '/v1/live?k=3', status: 200, stream: true },
  { name: 'live k=0', method: 'GET', path: '/v1/live?k=0', status: 400, code: 'API_BAD_REQUEST' },
  {
    name: 'database down: occupancy',
    method: 'GET',
    path: `/v1/occupancy?cell=${A}`,
    on: 'down',
    status: 503,
    code: 'API_UNAVAILABLE',
  },
  {
    name: 'database down: series',
    method: 'GET',
    path: `/v1/occupancy/series?cell=${A}&from=${T0}&to=${T0 + MIN}`,
    on: 'down',
    status: 503,
  },
  {
    name: 'database down: popular',
    method: 'GET',
    path: '/v1/popular?region=851f1d4bfffffff',
    on: 'down',
    status: 503,
  },
  {
    name: 'database down: user time',
    method: 'GET',
    path: '/v1/users/alice/time',
    as: OPERATOR,
    on: 'down',
    status: 503,
  },
  {
    name: 'database down: erase',
    method: 'DELETE',
    path: '/v1/users/alice',
    as: OPERATOR,
    on: 'down',
    status: 503,
  },
  { name: 'database down: readiness', method: 'GET', path: '/readyz', on: 'down', status: 503 },
  {
    name: 'a bug: occupancy',
    method: 'GET',
    path: `/v1/occupancy?cell=${A}`,
    on: 'broken',
    status: 500,
    code: 'API_INTERNAL',
  },
  {
    name: 'a bug: user visits',
    method: 'GET',
    path: '/v1/users/alice/visits',
    as: OPERATOR,
    on: 'broken',
    status: 500,
  },
  // Named places (docs/places.md). No place is created here: a successful write would publish to the
  // shared `places` topic that other tests' processors read.
  { name: 'places list', method: 'GET', path: '/v1/places?bbox=13,52,14,53&q=station&limit=5', status: 200 },
  { name: 'place unknown', method: 'GET', path: '/v1/places/nope', status: 404, code: 'API_PLACE_NOT_FOUND' },
  {
    name: 'place occupancy, unknown place',
    method: 'GET',
    path: `/v1/places/nope/occupancy?at=${T0}`,
    status: 404,
    code: 'API_PLACE_NOT_FOUND',
  },
  { name: 'popular places', method: 'GET', path: `/v1/places/popular?at=${T0}&k=5`, status: 200 },
  {
    name: 'place dwell, bad date',
    method: 'GET',
    path: '/v1/places/nope/dwell?date=2025-02-30',
    status: 400,
  },
  { name: 'place popular times, unknown', method: 'GET', path: '/v1/places/nope/popular-times', status: 404 },
  {
    name: 'user place time',
    method: 'GET',
    path: `/v1/users/alice/places/time?from=${T0}`,
    as: 'alice',
    status: 200,
  },
  {
    name: "user place time, another's token",
    method: 'GET',
    path: '/v1/users/alice/places/time',
    as: 'bob',
    status: 403,
  },
  {
    name: 'create place, no token',
    method: 'POST',
    path: '/v1/places',
    headers: { 'content-type': 'application/json' },
    body: '{}',
    status: 401,
  },
  {
    name: 'create place, user token',
    method: 'POST',
    path: '/v1/places',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'x',
      category: 'park',
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [13, 52],
            [13.01, 52],
            [13.01, 52.01],
            [13, 52],
          ],
        ],
      },
    }),
    as: 'alice',
    status: 403,
  },
  {
    name: 'create place, unclosed ring',
    method: 'POST',
    path: '/v1/places',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'x',
      category: 'park',
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [13, 52],
            [13.01, 52],
            [13.01, 52.01],
            [13, 52.01],
          ],
        ],
      },
    }),
    as: OPERATOR,
    status: 400,
    code: 'API_INVALID_GEOMETRY',
  },
  {
    name: 'create place, too many cells',
    method: 'POST',
    path: '/v1/places',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'x',
      category: 'park',
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [13, 52],
            [13.5, 52],
            [13.5, 52.5],
            [13, 52.5],
            [13, 52],
          ],
        ],
      },
    }),
    as: OPERATOR,
    status: 422,
    code: 'API_PLACE_UNMAPPABLE',
  },
  {
    name: 'delete place, unknown',
    method: 'DELETE',
    path: '/v1/places/nope',
    as: OPERATOR,
    status: 404,
    code: 'API_PLACE_NOT_FOUND',
  },
];

describe('every answer is declared in the OpenAPI document', () => {
  let tmp: TemporaryDatabase;
  let brokenTmp: TemporaryDatabase;
  const dbs: Database[] = [];
  const apis: Record<string, Api> = {};
  let oas: OpenAPIBackend;
  const okUrl = () => {
    assert.ok(apis.ok);
    return apis.ok.url;
  };

  before(async () => {
    const config = loadApiConfig(
      {},
      {
        port: 0,
        host: '127.0.0.1',
        kafkaBootstrap: [kafkaBootstrap()], // DELETE publishes the erasure to Kafka
        userTokenSecret: SECRET,
        operatorToken: OPERATOR,
        logLevel: 'silent',
      },
    );
    tmp = await createTemporaryDatabase();
    const db = await openDatabase({ url: tmp.url });
    dbs.push(db);
    await seed(db);
    apis.ok = await startApi(config, { db, logger });
    // Nothing listens on port 1: every query fails to connect, as during a database outage.
    const down = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', skipMigrations: true });
    dbs.push(down);
    apis.down = await startApi(config, { db: down, logger });
    brokenTmp = await createTemporaryDatabase();
    const broken = await openDatabase({ url: brokenTmp.url });
    dbs.push(broken);
    await broken.query('DROP TABLE occupancy, visits'); // queries now fail with "relation does not exist"
    apis.broken = await startApi(config, { db: broken, logger });

    const doc = JSON.parse((await send(apis.ok.url, 'GET', '/openapi.json')).text) as Document;
    oas = new OpenAPIBackend({ definition: doc, quick: false, validate: true, strict: true });
    await oas.init();
  });

  after(async () => {
    for (const api of Object.values(apis)) await api.close();
    for (const db of dbs) await db.close();
    await tmp?.drop();
    await brokenTmp?.drop();
  });

  for (const c of cases) {
    it(`${c.name}: ${c.method} ${c.path.slice(0, 80)} → ${c.status}${c.code ? ` ${c.code}` : ''}`, async () => {
      const api = apis[c.on ?? 'ok'];
      assert.ok(api);
      const headers: Record<string, string> = { ...c.headers };
      if (c.as) headers.authorization = `Bearer ${c.as === OPERATOR ? OPERATOR : await token(c.as)}`;
      const res = await send(api.url, c.method, c.path, { headers, body: c.body, headersOnly: c.stream });
      assert.equal(res.status, c.status, res.text);
      assertDeclared(oas, c, res);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      if (c.path.startsWith('/v1/users/')) {
        assert.equal(res.headers['cache-control'], 'no-store', 'per-user answers are not cached');
      }
      if (res.status >= 400) {
        const body = JSON.parse(res.text) as { error: { code: string; message: string } };
        if (c.code) assert.equal(body.error.code, c.code);
        assert.ok(!res.text.includes('ECHO'), 'error messages do not quote the input');
      }
    });
  }

  it('an unrouted method on a known path: 405 with Allow and the error body', async () => {
    const res = await send(okUrl(), 'POST', `/v1/occupancy?cell=${A}`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET, HEAD');
    assert.equal(JSON.parse(res.text).error.code, 'API_METHOD_NOT_ALLOWED');
  });

  it('an unknown path: 404 with the error body', async () => {
    const res = await send(okUrl(), 'GET', `/v1/${encodeURIComponent(ECHO)}`);
    assert.equal(res.status, 404);
    assert.equal(JSON.parse(res.text).error.code, 'API_NOT_FOUND');
    assert.ok(!res.text.includes('ECHO'));
  });

  it('bytes that are not HTTP: 400 with the error body', async () => {
    const answer = await sendBytes(okUrl(), 'BREW /v1/occupancy HTCPCP/1.0\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /x-content-type-options: nosniff/i);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    assert.equal(body.error.code, 'API_BAD_REQUEST');
  });
});

/** The status is declared for the operation, with this media type, and the body fits its schema. */
function assertDeclared(oas: OpenAPIBackend, c: Case, res: RawAnswer): void {
  const url = new URL(c.path, 'http://x');
  const method = c.method === 'HEAD' ? 'get' : c.method.toLowerCase();
  const op = oas.matchOperation({ method, path: url.pathname, headers: {}, query: url.search.slice(1) });
  assert.ok(op, `no documented operation for ${c.method} ${url.pathname}`);
  const declared = op.responses?.[String(res.status)] as { content?: Record<string, unknown> } | undefined;
  assert.ok(declared, `${op.operationId} does not declare ${res.status}`);
  if (c.method === 'HEAD' || c.stream) return;
  const mediaType = String(res.headers['content-type'] ?? '').split(';')[0] ?? '';
  assert.ok(declared.content?.[mediaType], `${op.operationId} ${res.status} does not declare ${mediaType}`);
  if (mediaType === 'application/json') {
    const result = oas.validateResponse(JSON.parse(res.text), op, res.status);
    assert.ok(result.valid, `${op.operationId} ${res.status}: ${JSON.stringify(result.errors)}\n${res.text}`);
  }
}
