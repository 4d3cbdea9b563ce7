import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { COMMON_HEADERS } from '../http/error-handling.ts';
import { errorResponses } from '../http/schemas.ts';

/** `GET /v1/live`: the Server-Sent Events stream of the shared LiveHub (see live.ts). */
export const liveRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { config, live, draining }) => {
  const streamHeaders = {
    ...COMMON_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  };
  app.get(
    '/v1/live',
    {
      schema: {
        tags: ['live'],
        operationId: 'getLive',
        summary: 'Live stream (Server-Sent Events)',
        description:
          'text/event-stream. `event: popular` every API_LIVE_INTERVAL_MS with the top-k of the current bucket ' +
          '({bucketStartMs, bucketMs, locations:[{rank, cell, devices}], state, finalAtMs, completeness, nowcast:[{rank, ' +
          'cell, lat, lon, estimate, lower, upper, observed, confirmed, completeness}]}: the current bucket is provisional ' +
          'and `nowcast` ranks it by the live-edge estimate); `event: occupancy` with the ' +
          'publishable changes since the previous tick ({changes:[{cell, bucketStartMs, devices, suppressed, state, ' +
          'finalAtMs}], ' +
          'truncated}): a cell appears once its count reaches K_ANONYMITY, and a cell shown before that falls ' +
          'back below it is sent as devices null, suppressed true (what REST answers for an empty cell). HEAD ' +
          'answers the headers only.',
        querystring: Type.Object({ k: Type.Integer({ minimum: 1, maximum: 100, default: 10 }) }),
        response: {
          200: {
            description: 'an event stream',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...errorResponses(400),
        },
      },
    },
    async (request, reply) => {
      if (draining()) throw new ApiError('API_UNAVAILABLE', 'server is shutting down');
      // HEAD: the headers a GET would get, and no stream (a HEAD must not become a listener).
      if (request.method === 'HEAD') return reply.code(200).headers(streamHeaders).send('');
      reply.hijack();
      reply.raw.writeHead(200, { ...streamHeaders, connection: 'keep-alive' });
      reply.raw.write(`retry: ${Math.max(1000, config.liveIntervalMs)}\n\n`);
      live.add(reply.raw, request.query.k);
    },
  );
};
