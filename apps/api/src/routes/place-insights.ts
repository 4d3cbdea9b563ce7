import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  bucketStart,
  DWELL_BUCKETS,
  dwellSummary,
  HOUR_MS,
  hourOfWeek,
  kAnonymize,
  liveStatus,
  placeVisits,
  usualWeek,
  WEEK_MS,
} from '@footfall/domain';
import { LRUCache } from 'lru-cache';
import { Type } from 'typebox';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { errorResponses, Time } from '../http/schemas.ts';
import { sendSerialised, serialise } from '../http/serialised.ts';
import { answerState, NowcastSchema, StateFields } from '../live-edge.ts';
import { parseTime } from '../params.ts';
import { livePlaceRows } from '../places/live.ts';
import { placeHourlyPeaks, placePeak, visitsInCells, visitsStamp } from '../places/queries.ts';
import { RegistryCaches } from '../places/read-cache.ts';
import { placeCountsStamp, SETTLED_AFTER_MS } from '../places/settled-counts.ts';
import type { PlaceRow } from '../places/store.ts';
import { refuseInDpMode } from '../privacy/dp-refusal.ts';
import { PlaceParams } from './places.ts';

const DAY_MS = 86_400_000;
/** One hour of the usual week, its count already through the gate. */
interface GatedHour {
  hourOfWeek: number;
  usual: number | null;
  weeks: number;
}
const Count = Type.Unsafe<number | null>({
  type: ['integer', 'null'],
  description: 'a count; null when below K_ANONYMITY (suppressed)',
});

/**
 * Public per-place answers (docs/places.md): dwell and popular times (occupancy and popular places:
 * place-occupancy.ts). Every number passes the one k-anonymity gate (`kAnonymize`, K_ANONYMITY). These counts
 * have no differentially private release: with PRIVACY_MODE=dp every route here answers 501
 * API_UNAVAILABLE_IN_DP_MODE (privacy/dp-refusal.ts) before reading anything.
 */
export const placeInsightRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { config, db, gate: publicGate, registryCaches },
) => {
  // This plugin's routes only (encapsulated): the place registry (places.ts) keeps working in dp mode.
  // The gate's mode is fixed at start: in k-anonymity mode the hook would only cost every request a
  // promise, so it is installed in dp mode alone.
  if (publicGate.mode === 'dp') app.addHook('onRequest', refuseInDpMode(publicGate, 'place counts'));
  const k = config.kAnonymity;
  const gate = (n: number) => kAnonymize(n, k);
  // The usual week of a place only changes when an hour completes (or the place changes): one gated
  // profile per (place, version, weeks, hour), shared by concurrent requests; a failed query is forgotten
  // at once. Gated before it is cached: `liveStatus` only compares with a usual at or above K_ANONYMITY,
  // so the gated usual gives the same status as the raw one.
  const usualWeeks = new LRUCache<string, Promise<GatedHour[]>>({ max: 20_000 });
  const caches = registryCaches ?? new RegistryCaches(db, config.placesCacheMs);
  // Serialised gated answers: dwell of final days and popular times at a settled `at` (their counts no
  // longer change), and dwell of open days (visits still arrive) for a short while.
  const finalDwells = caches.answers<{ body: Buffer; stamp: string }>(config.placesDwellFinalCacheMs, 20_000);
  const openDwells = caches.answers<{ body: Buffer; stamp: string }>(config.placesDwellOpenCacheMs, 20_000);
  const settledAnswers = caches.answers<{ body: Buffer; stamp: string }>(config.placesSettledCacheMs, 20_000);
  /**
   * A cached answer of place `id` held fresh, without a promise (`peek` of the answer cache by the
   * place); undefined when anything is not held fresh (the async path answers, 404 included).
   */
  const heldAnswer = <V>(id: string, peek: (place: PlaceRow) => V | undefined): V | undefined => {
    const row = caches.placeNow(id)?.row;
    return row === undefined ? undefined : peek(row);
  };
  const placeOr404 = async (id: string) => {
    const place = await caches.place(id);
    if (!place) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
    return place;
  };

  /** The popular-times answer of `place` at `now` (every number through the gate). */
  const popularTimes = async (place: PlaceRow, weeks: number, now: number, reread = false) => {
    const hourStart = Math.floor(now / HOUR_MS) * HOUR_MS;
    const fromMs = Math.max(hourStart - weeks * WEEK_MS, place.effectiveFromMs);
    const key = `${place.id}|${place.version}|${weeks}|${hourStart}`;
    // `reread`: the caller read a stamp of the counts just before; a held profile may be older than it.
    if (reread) usualWeeks.delete(key);
    let profile = usualWeeks.get(key);
    if (profile === undefined) {
      profile = placeHourlyPeaks(db, place.id, Math.min(fromMs, hourStart), hourStart).then((hourly) =>
        usualWeek(hourly, fromMs, hourStart).map((u) => ({
          hourOfWeek: u.hourOfWeek,
          usual: u.usual === null ? null : gate(u.usual),
          weeks: u.weeks,
        })),
      );
      // Until the hour ends (a late ping can still change the last hours: at most ALLOWED_LATENESS_MS);
      // a profile asked for a past `at` for 60 s.
      const untilHourEndMs = hourStart + HOUR_MS - Date.now();
      usualWeeks.set(key, profile, { ttl: untilHourEndMs > 0 ? untilHourEndMs : 60_000 });
      profile.catch(() => usualWeeks.delete(key));
    }
    // The bucket containing `at`: while provisional, its nowcast is the live part of "current".
    const b = bucketStart(now, config.bucketMs);
    const provisional = b + config.bucketMs + config.nowcastHorizonMs > Date.now();
    const [usual, peak, live] = await Promise.all([
      profile,
      placePeak(db, place.id, hourStart, now + 1),
      provisional ? livePlaceRows(db, place.id, b, b + 1) : undefined,
    ]);
    const st = answerState(live?.get(b), b, Date.now(), config.bucketMs, config.nowcastHorizonMs, k);
    const estimate = st.nowcast?.estimate ?? null;
    const current = Math.max(peak, estimate ?? 0);
    const how = hourOfWeek(now);
    const usualNow = usual[how]?.usual ?? null;
    return {
      placeId: place.id,
      kAnonymity: k,
      history: {
        weeksRequested: weeks,
        fromMs,
        toMs: hourStart,
        fullWeeks: Math.max(0, (hourStart - fromMs) / WEEK_MS),
      },
      hours: usual,
      live: {
        hourOfWeek: how,
        current: gate(peak),
        estimate,
        usual: usualNow,
        status: liveStatus(current, usualNow, now - hourStart, k),
        ...st,
      },
    };
  };

  app.get(
    '/v1/places/:id/dwell',
    {
      schema: {
        tags: ['places'],
        operationId: 'getPlaceDwell',
        summary: 'Dwell-time distribution of a place on a day',
        description:
          'Visits to the place starting on the UTC day (visits to its cells merged per device when closer ' +
          'than PRESENCE_MAX_GAP_MS), by duration bucket (minutes), the median duration and distinct ' +
          'visitors per hour. Every count below K_ANONYMITY is null; the median only with >= K visitors.',
        params: PlaceParams,
        querystring: Type.Object({
          date: Type.Optional(
            Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'UTC day (default: today)' }),
          ),
        }),
        response: {
          200: Type.Object({
            placeId: Type.String(),
            date: Type.String(),
            kAnonymity: Type.Integer(),
            visits: Count,
            visitors: Count,
            medianMs: Type.Union([Type.Integer(), Type.Null()]),
            buckets: Type.Array(Type.Object({ label: Type.String(), visits: Count })),
            visitorsPerHour: Type.Array(Count, { description: '24 entries, hour of the day (UTC)' }),
          }),
          ...errorResponses(400, 404, 501),
        },
      },
    },
    (request, reply) => {
      const day = request.query.date
        ? parseTime(request.query.date, 'date')
        : Math.floor(Date.now() / DAY_MS) * DAY_MS;
      if (day % DAY_MS !== 0) throw new ApiError('API_INVALID_TIME', 'date must be a UTC day (YYYY-MM-DD)');
      // Final once the day and the next (visits chaining into it) are over plus the lateness.
      const final = day + 2 * DAY_MS + 2 * HOUR_MS < Date.now();
      const dwells = final ? finalDwells : openDwells;
      const hit = heldAnswer(request.params.id, (place) =>
        dwells.peek(`${place.id}|${place.version}|${day}`),
      );
      if (hit !== undefined) {
        sendSerialised(reply, hit.body);
        return;
      }
      return (async () => {
        const place = await placeOr404(request.params.id);
        const { body } = await dwells.get(`${place.id}|${place.version}|${day}`, async (previous) => {
          // Cell visits from a day before (a visit that began then and continues) to a day after. A
          // reload (every 5 s for an open day) compares their stamp first: unchanged, the answer stays.
          const stamp = await visitsStamp(db, place.cells, day - DAY_MS, day + 2 * DAY_MS);
          if (previous !== undefined && previous.stamp === stamp) return previous;
          const visits = await visitsInCells(db, place.cells, day - DAY_MS, day + 2 * DAY_MS);
          const s = dwellSummary(placeVisits(visits, config.presenceMaxGapMs), day);
          // Gated before it is serialised and cached: the cache holds no count below K_ANONYMITY.
          return {
            body: serialise(reply, {
              placeId: place.id,
              date: new Date(day).toISOString().slice(0, 10),
              kAnonymity: k,
              visits: gate(s.visits),
              visitors: gate(s.visitors),
              medianMs: gate(s.visitors) === null ? null : s.medianMs,
              buckets: DWELL_BUCKETS.map((b, i) => ({ label: b.label, visits: gate(s.buckets[i] ?? 0) })),
              visitorsPerHour: s.visitorsPerHour.map(gate),
            }),
            stamp,
          };
        });
        sendSerialised(reply, body);
        return reply;
      })();
    },
  );

  app.get(
    '/v1/places/:id/popular-times',
    {
      schema: {
        tags: ['places'],
        operationId: 'getPlacePopularTimes',
        summary: 'Usual busyness per hour of the week, and live vs usual',
        description:
          'For each of the 168 hours of the week (0 = Monday 00:00 UTC): the median over the past `weeks` ' +
          'weeks (only those since the place exists) of that hour’s peak distinct devices. `live` compares ' +
          'the current hour’s peak so far with it (docs/places.md, "Live vs usual").',
        params: PlaceParams,
        querystring: Type.Object({
          weeks: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 52, description: 'default PLACES_POPULAR_TIMES_WEEKS' }),
          ),
          at: Type.Optional(Time('"now" (default: now)')),
        }),
        response: {
          200: Type.Object({
            placeId: Type.String(),
            kAnonymity: Type.Integer(),
            history: Type.Object({
              weeksRequested: Type.Integer(),
              fromMs: Type.Integer({
                description: 'history starts here (N weeks back, or the place’s effective time)',
              }),
              toMs: Type.Integer(),
              fullWeeks: Type.Number({
                description: 'how much history exists, in weeks (may be fractional)',
              }),
            }),
            hours: Type.Array(
              Type.Object({ hourOfWeek: Type.Integer(), usual: Count, weeks: Type.Integer() }),
              { description: '168 entries' },
            ),
            live: Type.Object({
              hourOfWeek: Type.Integer(),
              current: Count,
              estimate: Type.Unsafe<number | null>({
                type: ['integer', 'null'],
                description:
                  'nowcast of the bucket containing `at` while it is provisional (null when final or below ' +
                  'K_ANONYMITY); the comparison uses max(current, estimate)',
              }),
              usual: Count,
              status: Type.Union([
                Type.Literal('busier'),
                Type.Literal('usual'),
                Type.Literal('quieter'),
                Type.Literal('unknown'),
              ]),
              ...StateFields,
              nowcast: NowcastSchema,
            }),
          }),
          ...errorResponses(400, 404, 501),
        },
      },
    },
    (request, reply) => {
      const weeks = request.query.weeks ?? config.popularTimesWeeks;
      const now = parseTime(request.query.at, 'at', Date.now());
      // A past `at` whose counts no longer change: the whole gated answer, serialised (168 hours), is
      // reused for API_PLACES_SETTLED_CACHE_MS.
      const settled = now + SETTLED_AFTER_MS < Date.now();
      const key = (place: PlaceRow) => `${place.id}|${place.version}|${weeks}|${now}`;
      const hit = settled ? heldAnswer(request.params.id, (p) => settledAnswers.peek(key(p))) : undefined;
      if (hit !== undefined) {
        sendSerialised(reply, hit.body);
        return;
      }
      return (async () => {
        const place = await placeOr404(request.params.id);
        if (!settled) return popularTimes(place, weeks, now);
        // Every count the answer reads is in [history start, now]: a reload compares their stamp first
        // and keeps the held answer when nothing changed (no recomputation nor 7 kB to serialise).
        const hourStart = Math.floor(now / HOUR_MS) * HOUR_MS;
        const historyFrom = Math.min(Math.max(hourStart - weeks * WEEK_MS, place.effectiveFromMs), hourStart);
        const { body } = await settledAnswers.get(key(place), async (previous) => {
          const stamp = await placeCountsStamp(db, place.id, historyFrom, now + 1);
          if (previous !== undefined && previous.stamp === stamp) return previous;
          return { body: serialise(reply, await popularTimes(place, weeks, now, true)), stamp };
        });
        sendSerialised(reply, body);
        return reply;
      })();
    },
  );
};
