import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiContext } from '../http/context.ts';
import { errorResponses } from '../http/schemas.ts';

const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not ready')]),
  checks: Type.Object({
    database: Type.Boolean({ description: 'SELECT 1 answered' }),
    draining: Type.Boolean({ description: 'true while NOT draining (the check passes)' }),
  }),
});

/** Probes, metrics and the OpenAPI document, served on the API's own port. */
export const opsRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { db, registry, draining }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getHealth',
        summary: 'Liveness',
        response: { 200: Type.Object({ status: Type.Literal('ok') }), ...errorResponses() },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getReadiness',
        summary: 'Readiness: database reachable and not draining',
        // 503 here is the readiness answer (not the error body): probes read `checks`.
        response: { ...errorResponses(), 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      let database = false;
      try {
        await db.query('SELECT 1');
        database = true;
      } catch {}
      const ready = database && !draining();
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not ready', checks: { database, draining: !draining() } });
    },
  );
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        response: {
          200: {
            description: 'Prometheus text format',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...errorResponses(),
        },
      },
    },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getOpenApi',
        summary: 'This OpenAPI 3 document',
        response: {
          200: {
            description: 'OpenAPI 3.0 document',
            content: { 'application/json': { schema: Type.Object({}, { additionalProperties: true }) } },
          },
          ...errorResponses(),
        },
      },
    },
    async () => app.swagger(),
  );
};
