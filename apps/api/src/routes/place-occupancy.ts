import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { bucketStart, kAnonymize } from '@footfall/domain';
import { LRUCache } from 'lru-cache';
import { Type } from 'typebox';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { Devices, errorResponses, Suppressed, Time } from '../http/schemas.ts';
import { answerState, busiestLiveRow, NowcastSchema, StateFields } from '../live-edge.ts';
import { parseRange, parseStep, parseTime } from '../params.ts';
import {
  type LivePlaceRow,
  livePlaceRows,
  type NowcastPlace,
  NowcastPlaceSchema,
  nowcastTopPlaces,
} from '../places/live.ts';
import {
  type PopularPlace,
  placeOccupancyAt,
  placeOccupancySeries,
  popularPlaces,
} from '../places/queries.ts';
import { RegistryCaches } from '../places/read-cache.ts';
import { type DayBlock, type Gated, SETTLED_AFTER_MS, SettledPlaceCounts } from '../places/settled-counts.ts';
import { refuseInDpMode } from '../privacy/dp-refusal.ts';
import { PlaceParams } from './places.ts';

/** How the serialised popular places answer starts when `at` is empty (its tail follows). */
const AT_EMPTY = '{"at":""';
/** No live rows (a settled range): shared, never written. */
const NO_LIVE_ROWS: Map<number, LivePlaceRow> = new Map();
/** The largest `k` of popular places. */
const MAX_K = 100;

/**
 * Public per-place occupancy (docs/places.md): point, series and popular places, each carrying its
 * live-edge state like the cells' answers (`state`, `finalAtMs`, `completeness`, `nowcast`; docs/api.md).
 * Every number passes the k-anonymity gate (`kAnonymize` for final counts, publishLiveOccupancy for the
 * nowcast). No dp release exists for place counts: with PRIVACY_MODE=dp every route answers 501.
 */
export const placeOccupancyRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { config, db, gate: publicGate, registryCaches },
) => {
  const caches = registryCaches ?? new RegistryCaches(db, config.placesCacheMs);
  // The gate's mode is fixed at start: in k-anonymity mode the hook would only cost every request a
  // promise, so it is installed in dp mode alone.
  if (publicGate.mode === 'dp') app.addHook('onRequest', refuseInDpMode(publicGate, 'place counts'));
  const k = config.kAnonymity;
  const kAnon = (n: number): Gated => {
    const devices = kAnonymize(n, k);
    return { devices, suppressed: devices === null };
  };
  // Settled days: each place's gated bucket counts read once per day (places/settled-counts.ts); the
  // popular places of a settled bucket: its gated top MAX_K, of which a request takes the first k.
  const counts = new SettledPlaceCounts(
    db,
    caches.answers<DayBlock>(config.placesSettledCacheMs, 5_000),
    config.bucketMs,
    k,
  );
  const settledTop = caches.answers<{ places: PopularPlace[] }>(config.placesSettledCacheMs, 20_000);
  // Serialised settled answers per (bucket, k, category), without their leading `at` (AT_EMPTY).
  const settledBodies = caches.answers<{ tail: string }>(config.placesSettledCacheMs, 20_000);
  const gatedTop = async (b: number, n: number, category: string | undefined) =>
    // Through the gate anyway: the query's threshold and the gate are the same K.
    (await popularPlaces(db, b, n, k, category)).filter((p) => kAnonymize(p.devices, k) !== null);
  const state = (row: LivePlaceRow | undefined, b: number, now: number) =>
    answerState(row, b, now, config.bucketMs, config.nowcastHorizonMs, k);
  /** Whether bucket `b` can still be provisional at `now`. */
  const provisional = (b: number, now: number) => b + config.bucketMs + config.nowcastHorizonMs > now;
  // The nowcast ranking of a provisional bucket: gated answers only, shared for API_POPULAR_CACHE_MS.
  const nowcasts = new LRUCache<string, Promise<NowcastPlace[]>>({ max: 10_000 });
  const nowcastOf = (b: number, n: number, now: number, category: string | undefined) => {
    if (config.popularCacheMs <= 0) return nowcastTopPlaces(db, b, n, k, now, category);
    const key = `${b}|${n}|${category ?? ''}`;
    let hit = nowcasts.get(key);
    if (!hit) {
      hit = nowcastTopPlaces(db, b, n, k, now, category);
      nowcasts.set(key, hit, { ttl: config.popularCacheMs });
      hit.catch(() => nowcasts.delete(key));
    }
    return hit;
  };

  app.get(
    '/v1/places/:id/occupancy',
    {
      schema: {
        tags: ['places'],
        operationId: 'getPlaceOccupancy',
        summary: 'Distinct devices in a place at a time',
        description:
          'Devices present in any cell of the place during the bucket containing `at`, each counted once ' +
          '(not a sum of cells). A provisional bucket carries the place’s nowcast (docs/places.md, "Live edge").',
        params: PlaceParams,
        querystring: Type.Object({ at: Type.Optional(Time('the time (default: now)')) }),
        response: {
          200: Type.Object({
            placeId: Type.String(),
            name: Type.String(),
            at: Type.String({ format: 'date-time' }),
            bucketStartMs: Type.Integer(),
            bucketMs: Type.Integer(),
            devices: Devices,
            suppressed: Suppressed,
            kAnonymity: Type.Integer(),
            ...StateFields,
            nowcast: NowcastSchema,
          }),
          ...errorResponses(400, 404, 501),
        },
      },
    },
    (request) => {
      const id = request.params.id;
      const at = parseTime(request.query.at, 'at', Date.now());
      const b = bucketStart(at, config.bucketMs);
      const now = Date.now();
      // One answer shape for the cached settled count and the database read.
      const answer = (name: string, gated: Gated, live: LivePlaceRow | undefined) => ({
        placeId: id,
        name,
        at: new Date(at).toISOString(),
        bucketStartMs: b,
        bucketMs: config.bucketMs,
        ...gated,
        kAnonymity: k,
        ...state(live, b, now),
      });
      const settled = !provisional(b, now) && counts.covers(b, b + config.bucketMs, now);
      if (settled) {
        // Place and block held fresh: answered without a promise.
        const row = caches.placeNow(id)?.row;
        const gated = row && counts.seriesNow(id, row.version, b, b + config.bucketMs, config.bucketMs);
        if (row && gated?.[0] !== undefined) return answer(row.name, gated[0], undefined);
      }
      return (async () => {
        if (settled) {
          const place = await caches.place(id);
          if (!place) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
          const gated = await counts.series(id, place.version, b, b + config.bucketMs, config.bucketMs);
          if (gated?.[0] !== undefined) return answer(place.name, gated[0], undefined);
        }
        const [found, live] = await Promise.all([
          placeOccupancyAt(db, id, b),
          provisional(b, now) ? livePlaceRows(db, id, b, b + 1) : undefined,
        ]);
        if (!found) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
        return answer(found.name, kAnon(found.devices), live?.get(b));
      })();
    },
  );

  app.get(
    '/v1/places/:id/occupancy/series',
    {
      schema: {
        tags: ['places'],
        operationId: 'getPlaceOccupancySeries',
        summary: 'Occupancy time series of a place',
        description:
          'Peak of the place bucket counts per step, like /v1/occupancy/series, with the provisional tail ' +
          'marked (`provisionalFromMs`) and each point’s state and nowcast.',
        params: PlaceParams,
        querystring: Type.Object({
          from: Time('range start (inclusive)'),
          to: Time('range end (exclusive)'),
          step: Type.Optional(Type.Integer({ description: 'ms, a positive multiple of BUCKET_MS' })),
        }),
        response: {
          200: Type.Object({
            placeId: Type.String(),
            fromMs: Type.Integer(),
            toMs: Type.Integer(),
            stepMs: Type.Integer(),
            kAnonymity: Type.Integer(),
            provisionalFromMs: Type.Union([Type.Integer(), Type.Null()], {
              description:
                'start of the first provisional point (the provisional tail), null when all are final',
            }),
            points: Type.Array(
              Type.Object({
                startMs: Type.Integer(),
                devices: Devices,
                suppressed: Suppressed,
                ...StateFields,
                nowcast: NowcastSchema,
              }),
            ),
          }),
          ...errorResponses(400, 404, 501),
        },
      },
    },
    (request) => {
      const q = request.query;
      const id = request.params.id;
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
      const now = Date.now();
      // Only buckets that can still be provisional are looked up in the live edge.
      const liveFrom = Math.max(
        start,
        bucketStart(now - config.nowcastHorizonMs, config.bucketMs) - config.bucketMs,
      );
      const answer = (gated: Gated[], live: Map<number, LivePlaceRow>) => {
        let provisionalFromMs: number | null = null;
        const points = Array.from({ length: n }, (_, i) => {
          const startMs = start + i * stepMs;
          // A step of several buckets: its state is its last bucket's, its nowcast the busiest bucket's.
          const last = Math.min(startMs + stepMs, toMs) - config.bucketMs;
          const row = busiestLiveRow<LivePlaceRow>(live, startMs, last, config.bucketMs);
          const st = state(row, bucketStart(last, config.bucketMs), now);
          if (st.state === 'provisional' && provisionalFromMs === null) provisionalFromMs = startMs;
          return { startMs, ...(gated[i] ?? kAnon(0)), ...st };
        });
        return { placeId: id, fromMs: start, toMs, stepMs, kAnonymity: k, provisionalFromMs, points };
      };
      // A settled range (no live edge in it): from the day blocks; otherwise from PostgreSQL. When the
      // place and its blocks are held fresh, answered without a promise (the common case under load).
      const settled = liveFrom >= toMs && counts.covers(start, toMs, now);
      if (settled) {
        const held = caches.placeNow(id);
        if (held !== undefined && held.row === undefined) {
          throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
        }
        const gated = held?.row && counts.seriesNow(id, held.row.version, start, toMs, stepMs);
        if (gated) return answer(gated, NO_LIVE_ROWS);
      }
      return (async () => {
        let place = settled ? await caches.place(id) : undefined;
        let gated = place && (await counts.series(id, place.version, start, toMs, stepMs));
        let live = NO_LIVE_ROWS;
        if (gated === undefined) {
          let peaks: Map<number, number>;
          [place, peaks, live] = await Promise.all([
            caches.place(id),
            placeOccupancySeries(db, id, start, toMs, stepMs),
            liveFrom < toMs ? livePlaceRows(db, id, liveFrom, toMs) : live,
          ]);
          gated = Array.from({ length: n }, (_, i) => kAnon(peaks.get(i) ?? 0));
        }
        if (!place) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
        return answer(gated, live);
      })();
    },
  );

  app.get(
    '/v1/places/popular',
    {
      schema: {
        tags: ['places'],
        operationId: 'getPopularPlaces',
        summary: 'Popular places at a time (top-K by distinct devices)',
        description:
          'Places below K_ANONYMITY are excluded, so fewer than k may come back. A provisional bucket also ' +
          'ranks places by their nowcast estimate (`nowcast`, publishable places only).',
        querystring: Type.Object({
          at: Type.Optional(Time('the time (default: now)')),
          k: Type.Integer({ minimum: 1, maximum: MAX_K, default: 10 }),
          category: Type.Optional(Type.String({ maxLength: 50, description: 'only this category' })),
        }),
        response: {
          200: Type.Object({
            at: Type.String({ format: 'date-time' }),
            bucketStartMs: Type.Integer(),
            bucketMs: Type.Integer(),
            k: Type.Integer(),
            kAnonymity: Type.Integer(),
            places: Type.Array(
              Type.Object({
                rank: Type.Integer(),
                placeId: Type.String(),
                name: Type.String(),
                category: Type.String(),
                devices: Type.Integer(),
              }),
              { description: 'top-k by the count established by pings already arrived' },
            ),
            ...StateFields,
            nowcast: Type.Array(NowcastPlaceSchema, {
              description: 'provisional buckets: top-k by nowcast estimate; empty when final',
            }),
          }),
          ...errorResponses(400, 501),
        },
      },
    },
    (request, reply) => {
      const q = request.query;
      const at = parseTime(q.at, 'at', Date.now());
      const b = bucketStart(at, config.bucketMs);
      const now = Date.now();
      const st = state(undefined, b, now);
      const answer = (top: PopularPlace[], nowcast: NowcastPlace[], atIso: string) => ({
        at: atIso,
        bucketStartMs: b,
        bucketMs: config.bucketMs,
        k: q.k,
        kAnonymity: k,
        places: top.map((p, i) => ({ rank: i + 1, ...p })),
        state: st.state,
        finalAtMs: st.finalAtMs,
        // Completeness is per region: the list's is the lowest of its entries (0 for an empty list).
        completeness:
          st.state === 'final' ? 1 : nowcast.length ? Math.min(...nowcast.map((p) => p.completeness)) : 0,
        nowcast,
      });
      // The cached list carries names: it must follow the registry (a check drops it on any change), so
      // it is used only while the registry check runs (API_PLACES_CACHE_MS > 0).
      const settled =
        config.placesCacheMs > 0 &&
        st.state !== 'provisional' &&
        b + config.bucketMs + SETTLED_AFTER_MS < now;
      if (!settled) {
        return (async () => {
          const [top, nowcast] = await Promise.all([
            gatedTop(b, q.k, q.category),
            st.state === 'provisional' ? nowcastOf(b, q.k, now, q.category) : [],
          ]);
          return answer(top, nowcast, new Date(at).toISOString());
        })();
      }
      // A settled bucket: the whole answer but its first field (`at`, the time asked, any ms of the
      // bucket) is the same for every request of (bucket, k, category); it is serialised once, by the
      // route's serializer, and the request's `at` put in front of it (an ISO time needs no escaping).
      const key = `${b}|${q.k}|${q.category ?? ''}`;
      const send = (tail: string) => {
        reply
          .type('application/json; charset=utf-8')
          .send(`{"at":"${new Date(at).toISOString()}"${tail}` as never);
      };
      const held = caches.current() === undefined ? settledBodies.peek(key) : undefined;
      if (held !== undefined) return send(held.tail);
      return (async () => {
        await caches.current();
        const { tail } = await settledBodies.get(key, async () => {
          const { places } = await settledTop.get(`${b}|${q.category ?? ''}`, async () => ({
            places: await gatedTop(b, MAX_K, q.category),
          }));
          const body = String(reply.serialize(answer(places.slice(0, q.k), [], '')));
          if (!body.startsWith(AT_EMPTY)) throw new Error('popular places: `at` is not the first field');
          return { tail: body.slice(AT_EMPTY.length) };
        });
        send(tail);
        return reply;
      })();
    },
  );
};
