import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { placeVisits, timeSpentMs } from '@footfall/domain';
import { Type } from 'typebox';
import { assertMayAccess, createAuthenticator } from '../auth.ts';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { bearer, errorResponses, Time } from '../http/schemas.ts';
import { visitsLoader } from '../loaders.ts';
import { parseRange } from '../params.ts';
import { placesWithCells } from '../places/queries.ts';
import { deviceStatus } from '../queries.ts';
import { MAX_USER_ID_LENGTH } from './users.ts';

const DAY_MS = 86_400_000;

const Answer = Type.Object({
  userId: Type.String(),
  fromMs: Type.Integer(),
  toMs: Type.Integer(),
  places: Type.Array(
    Type.Object({
      placeId: Type.String(),
      name: Type.String(),
      category: Type.String(),
      timeSpentMs: Type.Integer(),
      visits: Type.Integer({
        description: 'visits to the place (its cells merged within PRESENCE_MAX_GAP_MS)',
      }),
    }),
  ),
});

/** `/v1/users/{id}/places/time`: a user's time per named place, to that user (or an operator) only. */
export const userPlaceRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { config, db }) => {
  const authenticate = createAuthenticator(config);
  const visitsOf = visitsLoader(db);
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });

  app.get(
    '/v1/users/:id/places/time',
    {
      schema: {
        tags: ['users'],
        operationId: 'getUserPlaceTime',
        summary: 'Where a user spends their time, per named place',
        description:
          "The user's visits to each place's cells, merged per place when closer than PRESENCE_MAX_GAP_MS " +
          '(a walk from one cell of a station into the next is one visit), clipped to [from, to); most time first.',
        security: bearer,
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: MAX_USER_ID_LENGTH }) }),
        querystring: Type.Object({
          from: Type.Optional(Time('range start (default: to − 7 days)')),
          to: Type.Optional(Time('range end, exclusive (default: now)')),
        }),
        response: { 200: Answer, ...errorResponses(400, 401, 403, 404, 410, 414) },
      },
    },
    async (request) => {
      const userId = request.params.id;
      assertMayAccess(await authenticate(request.headers.authorization), userId);
      const now = Date.now();
      const { fromMs, toMs } = parseRange(request.query, config.maxRangeDays, {
        from: now - 7 * DAY_MS,
        to: now,
      });
      const visits = await visitsOf.load({ deviceId: userId, fromMs, toMs });
      if (visits.length === 0) {
        const status = await deviceStatus(db, userId);
        if (status === 'erased') throw new ApiError('API_USER_ERASED', 'this user was erased');
        if (status === 'unknown') throw new ApiError('API_USER_NOT_FOUND', 'no data for this user');
      }
      const places = await placesWithCells(db, [...new Set(visits.map((v) => v.cell))]);
      const out = places.map((p) => {
        const cells = new Set(p.cells);
        const merged = placeVisits(
          visits
            .filter((v) => cells.has(v.cell))
            .map((v) => ({ deviceId: userId, startMs: v.startMs, endMs: v.endMs })),
          config.presenceMaxGapMs,
        );
        return {
          placeId: p.id,
          name: p.name,
          category: p.category,
          timeSpentMs: timeSpentMs(merged, fromMs, toMs),
          visits: merged.filter((m) => m.startMs < toMs && m.endMs >= fromMs).length,
        };
      });
      out.sort((a, b) => b.timeSpentMs - a.timeSpentMs || (a.placeId < b.placeId ? -1 : 1));
      return { userId, fromMs, toMs, places: out };
    },
  );
};
