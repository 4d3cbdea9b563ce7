import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import swagger from '@fastify/swagger';
import { type Database, ERASURE_LOCK_KEY, openDatabase } from '@footfall/db';
import { bucketStart, type CellCount, kAnonymize } from '@footfall/domain';
import { ErasureNotifier } from '@footfall/erasure';
import { createLogger, createRegistry, type Logger } from '@footfall/observability';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  LogController,
  type RawServerDefault,
} from 'fastify';
import { cellToLatLng } from 'h3-js';
import { Histogram } from 'prom-client';
import { assertMayAccess, createAuthenticator } from './auth.ts';
import type { ApiConfig } from './config.ts';
import { registerDashboard } from './dashboard.ts';
import { ApiError, errorBody } from './errors.ts';
import { LiveHub } from './live.ts';
import { parseBBox, parseLocation, parseRange, parseRegion, parseStep, parseTime } from './params.ts';
import {
  deviceStatus,
  eraseDevice,
  mergeVisits,
  OccupancyLoader,
  occupancySeries,
  PopularLoader,
  popular,
  timePerPlace,
  visitsOf,
} from './queries.ts';
import {
  eraseUserSchema,
  errorSchema,
  liveSchema,
  occupancySchema,
  popularSchema,
  seriesSchema,
  userTimeSchema,
  userVisitsSchema,
} from './schemas.ts';

export interface StartApiOptions {
  logger?: Logger;
  /** Use this database instead of opening `config.databaseUrl` (not closed by the API). */
  db?: Database;
}

/** A running API server. */
export interface Api {
  readonly port: number;
  readonly url: string;
  readonly app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  readonly db: Database;
  readonly live: LiveHub;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

type LocationQuery = { cell?: string; lat?: number; lon?: number };
type UserParams = { id: string };
type RangeQuery = { from?: string; to?: string };

const DAY_MS = 86_400_000;

/** Builds and starts the HTTP query API (routes, OpenAPI, metrics, probes, live stream). */
export async function startApi(config: ApiConfig, options: StartApiOptions = {}): Promise<Api> {
  const logger = options.logger ?? createLogger('api', config.logLevel);
  const ownsDb = !options.db;
  const db =
    options.db ??
    (await openDatabase({
      url: config.databaseUrl,
      poolSize: config.dbPoolSize,
      applicationName: 'footfall-api',
    }));
  const registry = createRegistry('api');
  const duration = new Histogram({
    name: 'footfall_api_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const authenticate = createAuthenticator(config);
  const live = new LiveHub({
    db,
    logger,
    intervalMs: config.liveIntervalMs,
    bucketMs: config.bucketMs,
    cellResolution: config.cellResolution,
    kAnonymity: config.kAnonymity,
    maxChanges: config.liveMaxChanges,
  });
  // Erasure → Kafka `erasures` (revokes the device in ingest, filters the processor) + honest notErased.
  const { topicIngestion: ingestion, topicAggregated: aggregated, topicErasures: erasures } = config;
  const erasureNotifier = new ErasureNotifier({
    connection: config,
    topics: { ingestion, aggregated, erasures },
    logger,
  });
  // Outbox sweep: erasures committed in PostgreSQL but never acknowledged by Kafka (an API crash between).
  const reconciling = new AbortController();
  erasureNotifier.reconcile(db, reconciling.signal).catch((err: unknown) => {
    if (!reconciling.signal.aborted) logger.warn({ err }, 'erasure log reconciliation failed');
  });
  let draining = false;
  const occupancyLoader = new OccupancyLoader(db);
  const popularLoader = new PopularLoader(db, config.kAnonymity);

  const app = Fastify({
    loggerInstance: logger,
    // Per-request lines would dominate the log at load; the duration histogram covers requests.
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown query parameters are dropped, types coerced ("10" → 10), defaults applied.
    ajv: {
      customOptions: { coerceTypes: true, removeAdditional: true, useDefaults: true, allErrors: false },
    },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Footfall API',
        version: '1.0.0',
        description:
          'Occupancy, popular locations, time spent and a live stream. See docs/api.md and docs/insights.md.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'a user token (JWT HS256, aud "footfall-api", sub = user id) or the OPERATOR_TOKEN',
          },
        },
      },
    },
  });
  app.addSchema(errorSchema);

  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(errorBody('API_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  app.setErrorHandler((error: FastifyError | ApiError | Error, request, reply) => {
    if (error instanceof ApiError) return reply.code(error.status).send(errorBody(error.code, error.message));
    const fe = error as FastifyError;
    if (fe.validation) {
      return reply
        .code(400)
        .send(errorBody('API_BAD_REQUEST', `${fe.validationContext ?? 'request'} ${fe.message}`));
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(400).send(errorBody('API_BAD_REQUEST', fe.message));
    }
    const dbDown =
      /ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect|57P01|53300/.test(
        `${(error as { code?: string }).code ?? ''} ${error.message}`,
      );
    request.log.error({ err: error, url: request.url }, dbDown ? 'API_UNAVAILABLE' : 'API_INTERNAL');
    if (dbDown)
      return reply.code(503).send(errorBody('API_UNAVAILABLE', 'the database is unavailable; retry later'));
    return reply.code(500).send(errorBody('API_INTERNAL', 'internal error'));
  });

  // --- probes and metrics (served by the API itself) ---
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    let database = false;
    try {
      await db.query('SELECT 1');
      database = true;
    } catch {}
    const ready = database && !draining;
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', checks: { database, draining: !draining } });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const kAnon = (n: number) => {
    const devices = kAnonymize(n, config.kAnonymity);
    return { devices, suppressed: devices === null };
  };

  // --- occupancy ---
  app.get<{ Querystring: LocationQuery & { at?: string } }>(
    '/v1/occupancy',
    { schema: occupancySchema },
    async (request) => {
      const cell = parseLocation(request.query, config.cellResolution);
      const at = parseTime(request.query.at, 'at', Date.now());
      const b = bucketStart(at, config.bucketMs);
      return {
        cell,
        at: new Date(at).toISOString(),
        bucketStartMs: b,
        bucketMs: config.bucketMs,
        ...kAnon(await occupancyLoader.load(cell, b)),
        kAnonymity: config.kAnonymity,
      };
    },
  );

  app.get<{ Querystring: LocationQuery & RangeQuery & { step?: number } }>(
    '/v1/occupancy/series',
    { schema: seriesSchema },
    async (request) => {
      const q = request.query;
      const cell = parseLocation(q, config.cellResolution);
      const { fromMs, toMs } = parseRange(q, config.maxRangeDays);
      const stepMs = parseStep(q.step, config.bucketMs);
      const start = bucketStart(fromMs, config.bucketMs);
      const n = Math.ceil((toMs - start) / stepMs);
      if (n > config.maxSeriesPoints) {
        throw new ApiError(
          'API_INVALID_STEP',
          `${n} points requested; at most ${config.maxSeriesPoints} (raise step)`,
        );
      }
      const peaks = await occupancySeries(db, cell, start, toMs, stepMs);
      const points = Array.from({ length: n }, (_, i) => ({
        startMs: start + i * stepMs,
        ...kAnon(peaks.get(i) ?? 0),
      }));
      return { cell, fromMs: start, toMs, stepMs, kAnonymity: config.kAnonymity, points };
    },
  );

  // --- popular ---
  // Identical top-K questions share one answer: concurrent misses share one query (single flight), and
  // answers are reused for API_POPULAR_CACHE_MS — or 60 s for buckets older than 2 h, which the pipeline
  // no longer changes (allowed lateness 1 h + presence gap; docs/insights.md). 0 turns caching off.
  // The cache holds the finished answer body (ranks, h3 centres and the JSON of `locations` computed
  // once per answer, not per request): a hit costs a Map lookup and a string concatenation. Cell centres
  // are memoised too (cells are few and fixed; cellToLatLng is ~0.75 µs per call).
  type Located = { rank: number; cell: string; devices: number; lat: number; lon: number };
  const centres = new Map<string, [number, number]>();
  const centreOf = (cell: string): [number, number] => {
    let ll = centres.get(cell);
    if (!ll) {
      ll = cellToLatLng(cell) as [number, number];
      if (centres.size >= 200_000) centres.clear();
      centres.set(cell, ll);
    }
    return ll;
  };
  const locate = (top: CellCount[]): { locations: Located[]; json: string } => {
    const locations = top.map((l, i) => {
      const [lat, lon] = centreOf(l.cell);
      return { rank: i + 1, cell: l.cell, devices: l.devices, lat, lon };
    });
    return { locations, json: JSON.stringify(locations) };
  };
  const popularCache = new Map<string, { expires: number; value: Promise<ReturnType<typeof locate>> }>();
  const FINAL_AFTER_MS = 2 * 3600_000;
  app.get<{ Querystring: { at?: string; k: number; bbox?: string; region?: string; resolution?: number } }>(
    '/v1/popular',
    { schema: popularSchema },
    async (request, reply) => {
      const q = request.query;
      const at = parseTime(q.at, 'at', Date.now());
      const b = bucketStart(at, config.bucketMs);
      const resolution = q.resolution ?? config.cellResolution;
      if (resolution > config.cellResolution) {
        throw new ApiError(
          'API_INVALID_RESOLUTION',
          `resolution must be <= CELL_RESOLUTION (${config.cellResolution})`,
        );
      }
      if (q.bbox !== undefined && q.region !== undefined) {
        throw new ApiError('API_BAD_REQUEST', 'give bbox or region, not both');
      }
      const bbox = q.bbox !== undefined ? parseBBox(q.bbox) : undefined;
      const region =
        q.region !== undefined
          ? parseRegion(q.region, config.cellResolution, config.regionResolution)
          : undefined;
      const run = async () =>
        locate(
          await popular(
            db,
            {
              bucketStartMs: b,
              k: q.k,
              minDevices: config.kAnonymity,
              cellResolution: config.cellResolution,
              resolution,
              bbox,
              region,
            },
            popularLoader,
          ),
        );
      let value: Promise<ReturnType<typeof locate>>;
      if (config.popularCacheMs > 0) {
        const key = `${b}|${q.k}|${resolution}|${q.bbox ?? ''}|${region?.cell ?? ''}`;
        const now = Date.now();
        const hit = popularCache.get(key);
        if (hit && hit.expires > now) value = hit.value;
        else {
          value = run();
          const ttl = b + config.bucketMs < now - FINAL_AFTER_MS ? 60_000 : config.popularCacheMs;
          if (popularCache.size >= 50_000) popularCache.clear();
          popularCache.set(key, { expires: now + ttl, value });
          value.catch(() => popularCache.delete(key));
        }
      } else value = run();
      const { json } = await value;
      // Written here rather than by the response schema's serialiser: the same JSON (same fields, all
      // integers but lat/lon), with the cached `locations` spliced in as is.
      return reply
        .type('application/json; charset=utf-8')
        .send(
          `{"at":${JSON.stringify(new Date(at).toISOString())},"bucketStartMs":${b},"bucketMs":${config.bucketMs},` +
            `"resolution":${resolution},"k":${q.k},"kAnonymity":${config.kAnonymity},"locations":${json}}`,
        );
    },
  );

  // --- users (private) ---
  const authorize = async (authorization: string | undefined, userId: string) => {
    assertMayAccess(await authenticate(authorization), userId);
  };
  /** 404 for a user never seen, 410 for an erased one; only asked when the answer is empty. */
  const assertKnown = async (userId: string) => {
    const status = await deviceStatus(db, userId);
    if (status === 'erased') throw new ApiError('API_USER_ERASED', `user ${userId} was erased`);
    if (status === 'unknown') throw new ApiError('API_USER_NOT_FOUND', `no data for user ${userId}`);
  };
  /**
   * What both user read endpoints share: access check, range (default: the last 7 days), the user's
   * visits in it, and 404/410 for a user never seen or erased.
   */
  const userVisits = async (request: {
    params: UserParams;
    query: RangeQuery;
    headers: { authorization?: string };
  }) => {
    const userId = request.params.id;
    await authorize(request.headers.authorization, userId);
    const now = Date.now();
    const { fromMs, toMs } = parseRange(request.query, config.maxRangeDays, {
      from: now - 7 * DAY_MS,
      to: now,
    });
    const visits = await visitsOf(db, userId, fromMs, toMs);
    if (visits.length === 0) await assertKnown(userId);
    return { userId, fromMs, toMs, visits };
  };

  app.get<{ Params: UserParams; Querystring: RangeQuery }>(
    '/v1/users/:id/time',
    { schema: userTimeSchema },
    async (request) => {
      const { userId, fromMs, toMs, visits } = await userVisits(request);
      const locations = timePerPlace(visits, fromMs, toMs).filter((l) => l.timeSpentMs > 0 || l.visits > 0);
      const totalMs = locations.reduce((s, l) => s + l.timeSpentMs, 0);
      return { userId, fromMs, toMs, totalMs, locations };
    },
  );

  app.get<{ Params: UserParams; Querystring: RangeQuery }>(
    '/v1/users/:id/visits',
    { schema: userVisitsSchema },
    async (request) => {
      const { userId, fromMs, toMs, visits } = await userVisits(request);
      return {
        userId,
        fromMs,
        toMs,
        visits: mergeVisits(visits).map((v) => ({
          cell: v.cell,
          startMs: v.startMs,
          endMs: v.endMs,
          durationMs: v.endMs - v.startMs,
          pings: v.pings,
          closed: v.closed,
        })),
      };
    },
  );

  app.delete<{ Params: UserParams }>('/v1/users/:id', { schema: eraseUserSchema }, async (request) => {
    const userId = request.params.id;
    await authorize(request.headers.authorization, userId);
    const { visitsDeleted, erasedAtMs } = await eraseDevice(db, userId, ERASURE_LOCK_KEY);
    // After the commit: an unacknowledged publish fails the request (503, retry is idempotent).
    const notErased = await erasureNotifier.announce(userId, erasedAtMs).catch((error: unknown) => {
      throw new ApiError('API_UNAVAILABLE', 'erasure recorded but not yet propagated; retry', {
        cause: error,
      });
    });
    request.log.info({ userId, visitsDeleted }, 'user erased');
    return { userId, erasedAtMs, visitsDeleted, notErased };
  });

  // --- live ---
  app.get<{ Querystring: { k: number } }>('/v1/live', { schema: liveSchema }, async (request, reply) => {
    if (draining) throw new ApiError('API_UNAVAILABLE', 'server is shutting down');
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    reply.raw.write(`retry: ${Math.max(1000, config.liveIntervalMs)}\n\n`);
    live.add(reply.raw, request.query.k);
  });

  await registerDashboard(app);
  await app.listen({ port: config.port, host: config.host });
  const port = (app.server.address() as AddressInfo).port;
  logger.info({ port }, 'api started');

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      draining = true;
      live.close();
      await app.close();
      reconciling.abort();
      await erasureNotifier.close().catch(() => {});
      if (ownsDb) await db.close();
    })();
    return closed;
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    app,
    db,
    live,
    close,
    [Symbol.asyncDispose]: close,
  };
}
