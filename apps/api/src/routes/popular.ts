import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { bucketStart, type CellCount } from '@footfall/domain';
import { cellToLatLng } from 'h3-js';
import { LRUCache } from 'lru-cache';
import { type Static, Type } from 'typebox';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { errorResponses, Time } from '../http/schemas.ts';
import {
  answerState,
  type NowcastLocation,
  NowcastLocationSchema,
  nowcastTopK,
  StateFields,
} from '../live-edge.ts';
import { parseBBox, parseRegion, parseTime } from '../params.ts';

const Location = Type.Object({
  rank: Type.Integer(),
  cell: Type.String(),
  devices: Type.Integer(),
  lat: Type.Number(),
  lon: Type.Number(),
});
type Located = Static<typeof Location>;

const PopularAnswer = Type.Object({
  at: Type.String({ format: 'date-time' }),
  bucketStartMs: Type.Integer(),
  bucketMs: Type.Integer(),
  resolution: Type.Integer(),
  k: Type.Integer(),
  kAnonymity: Type.Integer(),
  locations: Type.Array(Location, {
    description: 'top-k by the count established by pings already arrived (the final ranking once final)',
  }),
  ...StateFields,
  nowcast: Type.Array(NowcastLocationSchema, {
    description: 'provisional buckets: top-k by nowcast estimate (publishable cells only); empty when final',
  }),
});

/** Buckets older than this no longer change (allowed lateness 1 h + presence gap; docs/insights.md). */
const FINAL_AFTER_MS = 2 * 3_600_000;

/** `GET /v1/popular`: top-K cells of a bucket (only cells at or above K_ANONYMITY), optionally filtered. */
export const popularRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { config, db, gate }) => {
  // Cells are few and fixed, and cellToLatLng is ~0.75 µs per call.
  const centres = new LRUCache<string, [number, number]>({ max: 200_000 });
  const locate = (top: CellCount[]): Located[] =>
    top.map((l, i) => {
      let ll = centres.get(l.cell);
      if (!ll) {
        ll = cellToLatLng(l.cell) as [number, number];
        centres.set(l.cell, ll);
      }
      return { rank: i + 1, cell: l.cell, devices: l.devices, lat: ll[0], lon: ll[1] };
    });
  // Identical top-K questions share one answer: concurrent misses share one query (single flight), and
  // answers are reused for API_POPULAR_CACHE_MS, or 60 s for buckets that no longer change. A failed
  // query is forgotten at once.
  const answers = new LRUCache<string, Promise<Located[]>>({ max: 50_000 });
  // The nowcast ranking of a provisional bucket, shared the same way for API_POPULAR_CACHE_MS.
  const nowcasts = new LRUCache<string, Promise<NowcastLocation[]>>({ max: 10_000 });
  const nowcastOf = (b: number, k: number, now: number): Promise<NowcastLocation[]> => {
    if (config.popularCacheMs <= 0) return nowcastTopK(db, b, k, config.kAnonymity, now);
    const key = `${b}|${k}`;
    let hit = nowcasts.get(key);
    if (!hit) {
      hit = nowcastTopK(db, b, k, config.kAnonymity, now);
      nowcasts.set(key, hit, { ttl: config.popularCacheMs });
      hit.catch(() => nowcasts.delete(key));
    }
    return hit;
  };

  app.get(
    '/v1/popular',
    {
      schema: {
        tags: ['popular'],
        operationId: 'getPopular',
        summary: 'Popular locations at a time (top-K by devices)',
        description:
          'Cells whose count is below K_ANONYMITY are excluded (so fewer than k entries may come back). At a ' +
          'coarser `resolution` a parent counts the sum of its publishable children (docs/api.md, "Roll-up").',
        querystring: Type.Object({
          at: Type.Optional(Time('the time (default: now)')),
          k: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
          bbox: Type.Optional(
            Type.String({ description: 'minLon,minLat,maxLon,maxLat (degrees); cells by centre' }),
          ),
          region: Type.Optional(
            Type.String({ description: 'H3 cell (resolution <= CELL_RESOLUTION) to search inside' }),
          ),
          resolution: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 15, description: 'H3 resolution (default CELL_RESOLUTION)' }),
          ),
        }),
        response: { 200: PopularAnswer, ...errorResponses(400, 429) },
      },
    },
    async (request) => {
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
          await gate.topK('popular', {
            bucketStartMs: b,
            k: q.k,
            cellResolution: config.cellResolution,
            resolution,
            bbox,
            region,
          }),
        );
      let locations: Promise<Located[]>;
      if (config.popularCacheMs > 0) {
        const key = `${b}|${q.k}|${resolution}|${bbox ? Object.values(bbox).join(',') : ''}|${region?.cell ?? ''}`;
        const hit = answers.get(key);
        if (hit) locations = hit;
        else {
          locations = run();
          const final = b + config.bucketMs < Date.now() - FINAL_AFTER_MS;
          answers.set(key, locations, { ttl: final ? 60_000 : config.popularCacheMs });
          locations.catch(() => answers.delete(key));
        }
      } else locations = run();
      const now = Date.now();
      const st = answerState(undefined, b, now, config.bucketMs, config.nowcastHorizonMs, config.kAnonymity);
      // The nowcast ranking is at the stored resolution without filters (the live edge is per cell).
      const nowcast =
        // dp mode: withheld (an un-noised ranking of the same counts; docs/privacy.md).
        gate.mode !== 'dp' &&
        st.state === 'provisional' &&
        !bbox &&
        !region &&
        resolution === config.cellResolution
          ? await nowcastOf(b, q.k, now)
          : [];
      return {
        at: new Date(at).toISOString(),
        bucketStartMs: b,
        bucketMs: config.bucketMs,
        resolution,
        k: q.k,
        kAnonymity: config.kAnonymity,
        locations: await locations,
        state: st.state,
        finalAtMs: st.finalAtMs,
        // Completeness is per region: the list's is the lowest of its entries (0 for an empty list).
        completeness:
          st.state === 'final' ? 1 : nowcast.length ? Math.min(...nowcast.map((l) => l.completeness)) : 0,
        nowcast,
      };
    },
  );
};
