import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ERASURE_LOCK_KEY } from '@footfall/db';
import { Type } from 'typebox';
import { assertMayAccess, createAuthenticator } from '../auth.ts';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { bearer, errorResponses, Time } from '../http/schemas.ts';
import { visitsLoader } from '../loaders.ts';
import { parseRange } from '../params.ts';
import { deviceStatus, eraseDevice, mergeVisits, timePerPlace } from '../queries.ts';

const DAY_MS = 86_400_000;
/** Longest user id; the router's `maxParamLength` is above it (URL-encoded ids are longer). */
export const MAX_USER_ID_LENGTH = 200;

const UserParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH, description: 'the user (device) id' }),
});
const UserRange = Type.Object({
  from: Type.Optional(Time('range start (default: to − 7 days)')),
  to: Type.Optional(Time('range end, exclusive (default: now)')),
});
const userErrors = errorResponses(400, 401, 403, 404, 410, 414);

const TimeAnswer = Type.Object({
  userId: Type.String(),
  fromMs: Type.Integer(),
  toMs: Type.Integer(),
  totalMs: Type.Integer(),
  locations: Type.Array(
    Type.Object({ cell: Type.String(), timeSpentMs: Type.Integer(), visits: Type.Integer() }),
  ),
});
const VisitsAnswer = Type.Object({
  userId: Type.String(),
  fromMs: Type.Integer(),
  toMs: Type.Integer(),
  visits: Type.Array(
    Type.Object({
      cell: Type.String(),
      startMs: Type.Integer(),
      endMs: Type.Integer(),
      durationMs: Type.Integer(),
      pings: Type.Integer(),
      closed: Type.Boolean(),
    }),
  ),
});
const ErasureAnswer = Type.Object({
  userId: Type.String(),
  erasedAtMs: Type.Integer(),
  visitsDeleted: Type.Integer(),
  notErased: Type.Array(
    Type.Object({
      data: Type.String(),
      reason: Type.String(),
      untilMs: Type.Union([Type.Integer(), Type.Null()], {
        description: 'gone at the latest at this time (epoch ms); null = kept indefinitely',
      }),
    }),
  ),
});

/**
 * `/v1/users/{id}/…`: one user's private data, to that user (user token) or an operator only. Every
 * answer here, errors included, is `Cache-Control: no-store`.
 */
export const userRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { config, db, erasures }) => {
  const authenticate = createAuthenticator(config);
  const visitsOf = visitsLoader(db);
  const authorize = async (authorization: string | undefined, userId: string) => {
    assertMayAccess(await authenticate(authorization), userId);
  };
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });

  /**
   * What both read endpoints share: access check, range (default: the last 7 days), the user's visits
   * in it, and 404/410 for a user never seen or erased (asked only when there are no visits).
   */
  const userVisits = async (
    userId: string,
    authorization: string | undefined,
    range: { from?: string | undefined; to?: string | undefined },
  ) => {
    await authorize(authorization, userId);
    const now = Date.now();
    const { fromMs, toMs } = parseRange(range, config.maxRangeDays, { from: now - 7 * DAY_MS, to: now });
    const visits = await visitsOf.load({ deviceId: userId, fromMs, toMs });
    if (visits.length === 0) {
      const status = await deviceStatus(db, userId);
      if (status === 'erased') throw new ApiError('API_USER_ERASED', 'this user was erased');
      if (status === 'unknown') throw new ApiError('API_USER_NOT_FOUND', 'no data for this user');
    }
    return { userId, fromMs, toMs, visits };
  };

  app.get(
    '/v1/users/:id/time',
    {
      schema: {
        tags: ['users'],
        operationId: 'getUserTime',
        summary: 'Where a user spends their time',
        description:
          'Per location: total time and number of (merged) visits over [from, to), most time first.',
        security: bearer,
        params: UserParams,
        querystring: UserRange,
        response: { 200: TimeAnswer, ...userErrors },
      },
    },
    async (request) => {
      const { userId, fromMs, toMs, visits } = await userVisits(
        request.params.id,
        request.headers.authorization,
        request.query,
      );
      const locations = timePerPlace(visits, fromMs, toMs).filter((l) => l.timeSpentMs > 0 || l.visits > 0);
      const totalMs = locations.reduce((s, l) => s + l.timeSpentMs, 0);
      return { userId, fromMs, toMs, totalMs, locations };
    },
  );

  app.get(
    '/v1/users/:id/visits',
    {
      schema: {
        tags: ['users'],
        operationId: 'getUserVisits',
        summary: "A user's visits",
        description:
          'Visits overlapping [from, to), overlapping visits of the same cell merged, by start time.',
        security: bearer,
        params: UserParams,
        querystring: UserRange,
        response: { 200: VisitsAnswer, ...userErrors },
      },
    },
    async (request) => {
      const { userId, fromMs, toMs, visits } = await userVisits(
        request.params.id,
        request.headers.authorization,
        request.query,
      );
      const merged = mergeVisits(visits).map((v) => ({
        cell: v.cell,
        startMs: v.startMs,
        endMs: v.endMs,
        durationMs: v.endMs - v.startMs,
        pings: v.pings,
        closed: v.closed,
      }));
      return { userId, fromMs, toMs, visits: merged };
    },
  );

  app.delete(
    '/v1/users/:id',
    {
      schema: {
        tags: ['users'],
        operationId: 'eraseUser',
        summary: "Erase a user's data",
        description:
          'Deletes the visits, records the erasure, revokes the device (its uploads are refused) and has the ' +
          'pipeline skip its raw pings; lists what remains and until when (docs/privacy.md). Idempotent. ' +
          'Takes no body. 503 when the erasure is recorded but could not be propagated yet: retry.',
        security: bearer,
        params: UserParams,
        response: { 200: ErasureAnswer, ...errorResponses(400, 401, 403, 413, 414, 415) },
      },
    },
    async (request) => {
      const userId = request.params.id;
      await authorize(request.headers.authorization, userId);
      const { visitsDeleted, erasedAtMs } = await eraseDevice(db, userId, ERASURE_LOCK_KEY);
      // After the commit: an unacknowledged publish fails the request (503, retry is idempotent).
      const notErased = await erasures.announce(userId, erasedAtMs).catch((error: unknown) => {
        throw new ApiError('API_UNAVAILABLE', 'erasure recorded but not yet propagated; retry', {
          cause: error,
        });
      });
      request.log.info({ userId, visitsDeleted }, 'user erased');
      return { userId, erasedAtMs, visitsDeleted, notErased };
    },
  );
};
