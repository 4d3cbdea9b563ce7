import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { bucketStart } from '@footfall/domain';
import { Type } from 'typebox';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { Devices, errorResponses, LocationQuery, Suppressed, Time } from '../http/schemas.ts';
import {
  answerState,
  busiestLiveRow,
  type LiveRow as LiveRowType,
  liveRows,
  NowcastSchema,
  StateFields,
} from '../live-edge.ts';
import { parseLocation, parseRange, parseStep, parseTime } from '../params.ts';

const OccupancyAnswer = Type.Object({
  cell: Type.String(),
  at: Type.String({ format: 'date-time' }),
  bucketStartMs: Type.Integer(),
  bucketMs: Type.Integer(),
  devices: Devices,
  suppressed: Suppressed,
  kAnonymity: Type.Integer(),
  ...StateFields,
  nowcast: NowcastSchema,
});

const SeriesAnswer = Type.Object({
  cell: Type.String(),
  fromMs: Type.Integer(),
  toMs: Type.Integer(),
  stepMs: Type.Integer(),
  kAnonymity: Type.Integer(),
  provisionalFromMs: Type.Union([Type.Integer(), Type.Null()], {
    description: 'start of the first provisional point (the provisional tail), null when all are final',
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
});

/** `GET /v1/occupancy` and `GET /v1/occupancy/series`: public, k-anonymised counts of one cell. */
export const occupancyRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { config, db, gate }) => {
  // dp mode: the nowcast is withheld (it would be an un-noised second release of the same count);
  // answers still say provisional/final by time (docs/privacy.md).
  const nowcastOn = gate.mode !== 'dp';
  // Every number comes from the gate (k-anonymity or dp, privacy/gate.ts); null = withheld or empty.
  const publish = (devices: number | null | undefined) => ({
    devices: devices ?? null,
    suppressed: devices === null || devices === undefined,
  });

  app.get(
    '/v1/occupancy',
    {
      schema: {
        tags: ['occupancy'],
        operationId: 'getOccupancy',
        summary: 'Occupancy of a location at a time',
        description:
          'Distinct devices present in the cell during the bucket that contains `at` (docs/insights.md).',
        querystring: Type.Object({ ...LocationQuery, at: Type.Optional(Time('the time (default: now)')) }),
        response: { 200: OccupancyAnswer, ...errorResponses(400, 429) },
      },
    },
    async (request) => {
      const cell = parseLocation(request.query, config.cellResolution);
      const at = parseTime(request.query.at, 'at', Date.now());
      const b = bucketStart(at, config.bucketMs);
      const now = Date.now();
      const provisional = b + config.bucketMs + config.nowcastHorizonMs > now;
      const live = nowcastOn && provisional ? (await liveRows(db, cell, b, b + 1)).get(b) : undefined;
      return {
        cell,
        at: new Date(at).toISOString(),
        bucketStartMs: b,
        bucketMs: config.bucketMs,
        ...publish((await gate.counts('occupancy', [{ cell, b }]))[0]),
        kAnonymity: config.kAnonymity,
        ...answerState(live, b, now, config.bucketMs, config.nowcastHorizonMs, config.kAnonymity),
      };
    },
  );

  app.get(
    '/v1/occupancy/series',
    {
      schema: {
        tags: ['occupancy'],
        operationId: 'getOccupancySeries',
        summary: 'Occupancy time series of a location',
        description:
          'Peak (max) of the bucket counts per step over buckets starting in [bucketStart(from), to). Step i ' +
          'covers [bucketStart(from) + i*step, … + step).',
        querystring: Type.Object({
          ...LocationQuery,
          from: Time('range start (inclusive)'),
          to: Time('range end (exclusive)'),
          step: Type.Optional(
            Type.Integer({ description: 'ms, a positive multiple of BUCKET_MS (default BUCKET_MS)' }),
          ),
        }),
        response: { 200: SeriesAnswer, ...errorResponses(400, 429) },
      },
    },
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
      const peaks = await gate.series('series', { cell, fromMs: start, toMs, stepMs });
      const now = Date.now();
      // Only buckets that can still be provisional are looked up in the live edge.
      const liveFrom = Math.max(
        start,
        bucketStart(now - config.nowcastHorizonMs, config.bucketMs) - config.bucketMs,
      );
      const live = nowcastOn && liveFrom < toMs ? await liveRows(db, cell, liveFrom, toMs) : new Map();
      let provisionalFromMs: number | null = null;
      const points = Array.from({ length: n }, (_, i) => {
        const startMs = start + i * stepMs;
        // A step of several buckets: its state is its last bucket's, its nowcast the busiest bucket's.
        const last = Math.min(startMs + stepMs, toMs) - config.bucketMs;
        const row = busiestLiveRow<LiveRowType>(live, startMs, last, config.bucketMs);
        const st = answerState(
          row,
          bucketStart(last, config.bucketMs),
          now,
          config.bucketMs,
          config.nowcastHorizonMs,
          config.kAnonymity,
        );
        if (st.state === 'provisional' && provisionalFromMs === null) provisionalFromMs = startMs;
        return { startMs, ...publish(peaks.get(i)), ...st };
      });
      return { cell, fromMs: start, toMs, stepMs, kAnonymity: config.kAnonymity, provisionalFromMs, points };
    },
  );
};
