import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ALERT_KINDS,
  deleteSubscription,
  getSubscription,
  insertSubscription,
  listEvents,
  listSubscriptions,
  MAX_TARGET_URL_LENGTH,
  newWebhookSecret,
  redeliverEvent,
  ruleError,
  TargetError,
  targetError,
  validateTarget,
} from '@footfall/alerts';
import { isValidCell, regionOf } from '@footfall/domain';
import { getResolution } from 'h3-js';
import { Type } from 'typebox';
import { AlertStreams } from '../alert-streams.ts';
import { createAuthenticator } from '../auth.ts';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { COMMON_HEADERS } from '../http/error-handling.ts';
import { bearer, errorResponses } from '../http/schemas.ts';
import { getPlace } from '../places/store.ts';
import { refuseInDpMode } from '../privacy/dp-refusal.ts';

const Uuid = Type.String({ format: 'uuid', description: 'subscription id' });
const Nullable = <T extends ReturnType<typeof Type.Integer | typeof Type.String | typeof Type.Boolean>>(
  t: T,
) => Type.Union([t, Type.Null()]);

const SubscriptionBody = Type.Object(
  {
    kind: Type.Union(
      ALERT_KINDS.map((k) => Type.Literal(k)),
      {
        description:
          'above | below (threshold = N devices), enters_top | leaves_top (threshold = K of top-K)',
      },
    ),
    cell: Type.Optional(
      Type.String({
        maxLength: 32,
        description: 'H3 cell at CELL_RESOLUTION (hex). Exactly one of cell and placeId.',
      }),
    ),
    placeId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: '^[A-Za-z0-9-]+$',
        description:
          'a named place (GET /v1/places): alerts on its exact distinct devices (top-K: among the places of ' +
          'its region). Exactly one of cell and placeId.',
      }),
    ),
    region: Type.Optional(
      Type.String({
        maxLength: 32,
        description: "the cell's (place's) region (H3 at REGION_RESOLUTION); derived if absent",
      }),
    ),
    threshold: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    hysteresis: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      default: 2,
      description: 'dead band, devices or ranks (docs/alerts.md)',
    }),
    webhookUrl: Type.Optional(
      Type.String({ maxLength: MAX_TARGET_URL_LENGTH, description: 'http(s) URL receiving signed POSTs' }),
    ),
  },
  { additionalProperties: false },
);

const SubscriptionAnswer = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  cell: Nullable(Type.String({ description: 'null for a place subscription' })),
  placeId: Nullable(Type.String({ description: 'null for a cell subscription' })),
  region: Type.String(),
  threshold: Type.Integer(),
  hysteresis: Type.Integer(),
  webhookUrl: Nullable(Type.String()),
  createdAtMs: Type.Integer(),
  condition: Nullable(Type.Boolean({ description: 'side of the rule last seen; null = not evaluated yet' })),
  fired: Type.Integer({ description: 'alerts fired so far' }),
});

const Payload = Type.Object({
  type: Type.Literal('alert.fired'),
  id: Type.String({ description: 'the webhook-id: the idempotency key' }),
  subscriptionId: Type.String(),
  kind: Type.String(),
  cell: Nullable(Type.String({ description: 'null for a place subscription' })),
  placeId: Nullable(Type.String({ description: 'null for a cell subscription' })),
  region: Type.String(),
  threshold: Type.Integer(),
  hysteresis: Type.Integer(),
  devices: Nullable(Type.Integer({ description: 'null when below K_ANONYMITY' })),
  rank: Nullable(
    Type.Integer({
      description: "among the region's cells (a place: the region's places); null = not ranked",
    }),
  ),
  bucketStartMs: Type.Integer(),
  sourceAtMs: Type.Integer(),
  firedAtMs: Type.Integer(),
});

const EventAnswer = Type.Object({
  seq: Type.Integer(),
  id: Type.String(),
  delivery: Type.String({ description: 'none (no webhook) | pending | delivered | dead' }),
  attempts: Type.Integer(),
  nextAttemptAtMs: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  deliveredAtMs: Nullable(Type.Integer()),
  createdAtMs: Type.Integer(),
  payload: Payload,
});

const IdParams = Type.Object({ id: Uuid });
const errors = errorResponses(400, 401, 403, 404);
/** Operations carrying counts (or creating what would): refused with PRIVACY_MODE=dp. */
const countErrors = errorResponses(400, 401, 403, 404, 501);

/**
 * `/v1/alerts/…`: crowd alert subscriptions (docs/alerts.md), operator only: they name webhook
 * targets, and their state is operational. apps/alerts evaluates them and delivers the webhooks.
 * Alerts are thresholds on raw counts, with no differentially private release: with PRIVACY_MODE=dp,
 * creating a subscription, reading its events, redelivering and streaming answer 501
 * API_UNAVAILABLE_IN_DP_MODE (listing, reading and deleting subscriptions still work, so an operator can
 * clean up), and apps/alerts evaluates nothing.
 */
export const alertRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { config, db, draining, gate },
) => {
  // Route-level onRequest: after the plugin's authentication, before validation and any read.
  const refused = refuseInDpMode(gate, 'crowd alerts');
  const authenticate = createAuthenticator(config);
  const streams = new AlertStreams({ db, logger: app.log, intervalMs: config.liveIntervalMs });
  app.addHook('preClose', async () => streams.close());
  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const principal = await authenticate(request.headers.authorization);
    if (principal.kind !== 'operator') throw new ApiError('API_FORBIDDEN', 'alerts are for operators only');
  });
  const found = async (id: string) => {
    const sub = await getSubscription(db, id);
    if (!sub) throw new ApiError('API_ALERT_NOT_FOUND', 'no such subscription');
    return sub;
  };

  app.post(
    '/v1/alerts/subscriptions',
    {
      bodyLimit: 4_096,
      onRequest: refused,
      schema: {
        tags: ['alerts'],
        operationId: 'createAlertSubscription',
        summary: 'Subscribe to a crowd alert',
        description:
          'Operator only. The target is exactly one of a cell and a place (404 API_PLACE_NOT_FOUND for an ' +
          "unknown place; a place ranks among its region's places). Every level a count is compared with is at least " +
          'K_ANONYMITY (above: threshold and threshold − hysteresis; below: threshold). The webhook secret ' +
          '(Standard Webhooks, whsec_…) is returned once, here.',
        security: bearer,
        body: SubscriptionBody,
        response: {
          201: Type.Object({ subscription: SubscriptionAnswer, webhookSecret: Nullable(Type.String()) }),
          ...countErrors,
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const badTarget = targetError(b.cell, b.placeId);
      if (badTarget) throw new ApiError('API_INVALID_ALERT', badTarget);
      let cell: string | null = null;
      let region: string;
      if (b.placeId !== undefined) {
        const place = await getPlace(db, b.placeId);
        if (!place) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
        region = place.region;
      } else {
        cell = (b.cell ?? '').toLowerCase();
        if (!isValidCell(cell) || getResolution(cell) !== config.cellResolution) {
          throw new ApiError(
            'API_INVALID_CELL',
            `cell must be an H3 cell at resolution ${config.cellResolution}`,
          );
        }
        region = regionOf(cell, config.regionResolution);
      }
      if (b.region !== undefined && b.region.toLowerCase() !== region) {
        throw new ApiError(
          'API_INVALID_REGION',
          "region must be the cell's (the place's) region (H3 parent at REGION_RESOLUTION)",
        );
      }
      const why = ruleError(b, config.kAnonymity);
      if (why) throw new ApiError('API_INVALID_ALERT', why);
      let webhookUrl: string | null = null;
      if (b.webhookUrl !== undefined) {
        try {
          webhookUrl = (
            await validateTarget(b.webhookUrl, { allowPrivate: config.alertsWebhookAllowPrivate })
          ).href;
        } catch (error) {
          if (error instanceof TargetError)
            throw new ApiError('API_INVALID_WEBHOOK', `webhookUrl: ${error.message}`);
          throw error;
        }
      }
      const webhookSecret = webhookUrl ? newWebhookSecret() : null;
      const subscription = await insertSubscription(db, {
        kind: b.kind,
        cell,
        placeId: b.placeId ?? null,
        region,
        threshold: b.threshold,
        hysteresis: b.hysteresis,
        webhookUrl,
        webhookSecret,
      });
      return reply.code(201).send({ subscription, webhookSecret });
    },
  );

  app.get(
    '/v1/alerts/subscriptions',
    {
      schema: {
        tags: ['alerts'],
        operationId: 'listAlertSubscriptions',
        summary: 'List alert subscriptions',
        security: bearer,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 100 }),
          after: Type.Optional(
            Type.String({ format: 'uuid', description: 'the last id of the previous page' }),
          ),
        }),
        response: { 200: Type.Object({ subscriptions: Type.Array(SubscriptionAnswer) }), ...errors },
      },
    },
    async (request) => ({
      subscriptions: await listSubscriptions(db, request.query.limit, request.query.after),
    }),
  );

  app.get(
    '/v1/alerts/subscriptions/:id',
    {
      schema: {
        tags: ['alerts'],
        operationId: 'getAlertSubscription',
        summary: 'One alert subscription',
        security: bearer,
        params: IdParams,
        response: { 200: SubscriptionAnswer, ...errors },
      },
    },
    async (request) => found(request.params.id),
  );

  app.delete(
    '/v1/alerts/subscriptions/:id',
    {
      schema: {
        tags: ['alerts'],
        operationId: 'deleteAlertSubscription',
        summary: 'Delete a subscription, its alerts and their pending deliveries',
        security: bearer,
        params: IdParams,
        response: { 204: Type.Null({ description: 'deleted' }), ...errors },
      },
    },
    async (request, reply) => {
      if (!(await deleteSubscription(db, request.params.id))) {
        throw new ApiError('API_ALERT_NOT_FOUND', 'no such subscription');
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/alerts/subscriptions/:id/events',
    {
      onRequest: refused,
      schema: {
        tags: ['alerts'],
        operationId: 'listAlertEvents',
        summary: 'Alerts of a subscription, with their webhook delivery state (dead letters included)',
        security: bearer,
        params: IdParams,
        querystring: Type.Object({
          after: Type.Integer({ minimum: 0, default: 0, description: 'seq of the last event already seen' }),
          limit: Type.Integer({ minimum: 1, maximum: 1_000, default: 100 }),
          delivery: Type.Optional(
            Type.Union([
              Type.Literal('none'),
              Type.Literal('pending'),
              Type.Literal('delivered'),
              Type.Literal('dead'),
            ]),
          ),
        }),
        response: { 200: Type.Object({ events: Type.Array(EventAnswer) }), ...countErrors },
      },
    },
    async (request) => {
      await found(request.params.id);
      const { after, limit, delivery } = request.query;
      return {
        events: await listEvents(db, request.params.id, {
          afterSeq: after,
          limit,
          ...(delivery ? { delivery } : {}),
        }),
      };
    },
  );

  app.post(
    '/v1/alerts/subscriptions/:id/events/:eventId/redeliver',
    {
      onRequest: refused,
      schema: {
        tags: ['alerts'],
        operationId: 'redeliverAlertEvent',
        summary: 'Retry a dead-lettered delivery (attempts start again)',
        security: bearer,
        params: Type.Object({ id: Uuid, eventId: Type.String({ maxLength: 100 }) }),
        response: {
          202: Type.Object({ id: Type.String(), delivery: Type.Literal('pending') }),
          ...countErrors,
        },
      },
    },
    async (request, reply) => {
      await found(request.params.id);
      if (!(await redeliverEvent(db, request.params.id, request.params.eventId))) {
        throw new ApiError('API_ALERT_NOT_FOUND', 'no dead-lettered event with this id');
      }
      return reply.code(202).send({ id: request.params.eventId, delivery: 'pending' as const });
    },
  );

  const streamHeaders = {
    ...COMMON_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store, no-transform',
    'x-accel-buffering': 'no',
  };
  app.get(
    '/v1/alerts/subscriptions/:id/stream',
    {
      onRequest: refused,
      schema: {
        tags: ['alerts'],
        operationId: 'streamAlerts',
        summary: "A subscription's alerts as Server-Sent Events",
        description:
          'text/event-stream of `event: alert` (data: the webhook body; id: the event seq). Resumes after ' +
          '`Last-Event-ID` (or `after`); `event: deleted` when the subscription is deleted.',
        security: bearer,
        params: IdParams,
        querystring: Type.Object({ after: Type.Optional(Type.Integer({ minimum: 0 })) }),
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
        response: {
          200: {
            description: 'an event stream',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...countErrors,
        },
      },
    },
    async (request, reply) => {
      if (draining()) throw new ApiError('API_UNAVAILABLE', 'server is shutting down');
      await found(request.params.id);
      const lastId = request.headers['last-event-id'];
      const after = lastId !== undefined ? Number(lastId) : (request.query.after ?? 0);
      if (request.method === 'HEAD') return reply.code(200).headers(streamHeaders).send('');
      reply.hijack();
      reply.raw.writeHead(200, { ...streamHeaders, connection: 'keep-alive' });
      reply.raw.write(`retry: ${Math.max(1000, config.liveIntervalMs)}\n\n`);
      streams.add(reply.raw, request.params.id, after);
    },
  );
};
