import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '@footfall/observability';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import { Histogram } from 'prom-client';
import { registerDashboard } from './dashboard.ts';
import type { ApiApp, ApiContext } from './http/context.ts';
import {
  COMMON_HEADERS,
  clientErrorHandler,
  frameworkErrors,
  installErrorHandling,
  methodNotAllowed,
} from './http/error-handling.ts';
import { ErrorSchema } from './http/schemas.ts';
import { RegistryCaches } from './places/read-cache.ts';
import { alertRoutes } from './routes/alerts.ts';
import { liveRoutes } from './routes/live.ts';
import { occupancyRoutes } from './routes/occupancy.ts';
import { opsRoutes } from './routes/ops.ts';
import { placeInsightRoutes } from './routes/place-insights.ts';
import { placeOccupancyRoutes } from './routes/place-occupancy.ts';
import { placeRoutes } from './routes/places.ts';
import { popularRoutes } from './routes/popular.ts';
import { userPlaceRoutes } from './routes/user-places.ts';
import { userRoutes } from './routes/users.ts';

/** No endpoint takes a body; a stray one (a DELETE with JSON) is refused past this size with 413. */
const BODY_LIMIT_BYTES = 1024;
/** Above the longest user id (200) URL-encoded; longer path parameters answer 414. */
const MAX_PARAM_LENGTH = 1024;

/**
 * Builds the Fastify application (not listening): server options, OpenAPI, error mapping, metrics and
 * one plugin per resource. Adding a resource (places, …) is one more `register` here.
 */
export async function buildApp(ctx: ApiContext, logger: Logger): Promise<ApiApp> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Per-request lines would dominate the log at load; the duration histogram covers requests.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    // Unknown query parameters are dropped, types coerced ("10" → 10), defaults applied.
    ajv: {
      customOptions: { coerceTypes: true, removeAdditional: true, useDefaults: true, allErrors: false },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Footfall API',
        version: '1.0.0',
        description:
          'Occupancy, popular locations, time spent and a live stream. See docs/api.md and docs/insights.md. ' +
          'Errors are {"error":{"code","message"}} (codes in docs/errors.md).',
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
  app.addSchema(ErrorSchema);
  installErrorHandling(app);

  const duration = new Histogram({
    name: 'footfall_api_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [ctx.registry],
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(COMMON_HEADERS);
  });
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

  const methods = methodNotAllowed(app);
  await app.register(opsRoutes, ctx);
  await app.register(occupancyRoutes, ctx);
  await app.register(popularRoutes, ctx);
  await app.register(userRoutes, ctx);
  await app.register(liveRoutes, ctx);
  await app.register(alertRoutes, ctx);
  // Named places (docs/places.md); their registry reads share one set of short caches.
  const placeCtx: ApiContext = {
    ...ctx,
    registryCaches:
      ctx.registryCaches ??
      new RegistryCaches(ctx.db, ctx.config.placesCacheMs, ctx.config.placesSettledCacheMs),
  };
  await app.register(placeRoutes, placeCtx);
  await app.register(placeOccupancyRoutes, placeCtx);
  await app.register(placeInsightRoutes, placeCtx);
  await app.register(userPlaceRoutes, ctx);
  await registerDashboard(app, {
    tileUrl: ctx.config.dashboardTileUrl === 'none' ? undefined : ctx.config.dashboardTileUrl,
    tileAttribution: ctx.config.dashboardTileAttribution,
  });
  methods.finish();
  return app;
}
