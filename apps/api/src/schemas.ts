// JSON schemas of the routes: Fastify validates requests with them, serialises responses with them,
// and @fastify/swagger turns them into the OpenAPI 3 document at /openapi.json.

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: {
          type: 'string',
          description: 'catalog code, see docs/errors.md',
          example: 'API_INVALID_CELL',
        },
        message: { type: 'string' },
      },
    },
  },
} as const;

const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: 'error', $ref: 'Error#' }]));

const time = (description: string) => ({
  type: 'string',
  description: `${description}: ISO 8601 with zone (2025-05-01T12:00:00Z) or epoch ms`,
});

const location = {
  cell: { type: 'string', description: 'H3 cell at CELL_RESOLUTION (hex); or give lat+lon' },
  lat: { type: 'number', description: 'latitude, degrees [-90, 90]' },
  lon: { type: 'number', description: 'longitude, degrees [-180, 180]' },
} as const;

const count = {
  devices: {
    type: ['integer', 'null'],
    description: 'distinct devices; null when suppressed (below K_ANONYMITY)',
  },
  suppressed: { type: 'boolean', description: 'true when the count is below K_ANONYMITY and withheld' },
} as const;

export const occupancySchema = {
  tags: ['occupancy'],
  summary: 'Occupancy of a location at a time',
  description:
    'Distinct devices present in the cell during the bucket that contains `at` (docs/insights.md).',
  querystring: {
    type: 'object',
    properties: { ...location, at: time('the time (default: now)') },
  },
  response: {
    200: {
      type: 'object',
      required: ['cell', 'bucketStartMs', 'bucketMs', 'devices', 'suppressed', 'kAnonymity'],
      properties: {
        cell: { type: 'string' },
        at: { type: 'string', format: 'date-time' },
        bucketStartMs: { type: 'integer' },
        bucketMs: { type: 'integer' },
        ...count,
        kAnonymity: { type: 'integer' },
      },
    },
    ...errors(400),
  },
} as const;

export const seriesSchema = {
  tags: ['occupancy'],
  summary: 'Occupancy time series of a location',
  description:
    'Peak (max) of the bucket counts per step over buckets starting in [bucketStart(from), to). Step i covers ' +
    '[bucketStart(from) + i*step, … + step).',
  querystring: {
    type: 'object',
    required: ['from', 'to'],
    properties: {
      ...location,
      from: time('range start (inclusive)'),
      to: time('range end (exclusive)'),
      step: { type: 'integer', description: 'ms, a positive multiple of BUCKET_MS (default BUCKET_MS)' },
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['cell', 'fromMs', 'toMs', 'stepMs', 'points'],
      properties: {
        cell: { type: 'string' },
        fromMs: { type: 'integer' },
        toMs: { type: 'integer' },
        stepMs: { type: 'integer' },
        kAnonymity: { type: 'integer' },
        points: {
          type: 'array',
          items: {
            type: 'object',
            required: ['startMs', 'devices', 'suppressed'],
            properties: { startMs: { type: 'integer' }, ...count },
          },
        },
      },
    },
    ...errors(400),
  },
} as const;

export const popularSchema = {
  tags: ['popular'],
  summary: 'Popular locations at a time (top-K by devices)',
  description:
    'Cells whose count is below K_ANONYMITY are excluded (so fewer than k entries may come back). At a ' +
    'coarser `resolution` a parent counts the sum of its publishable children (docs/api.md, "Roll-up").',
  querystring: {
    type: 'object',
    properties: {
      at: time('the time (default: now)'),
      k: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
      bbox: { type: 'string', description: 'minLon,minLat,maxLon,maxLat (degrees); cells by centre' },
      region: { type: 'string', description: 'H3 cell (resolution <= CELL_RESOLUTION) to search inside' },
      resolution: {
        type: 'integer',
        minimum: 0,
        maximum: 15,
        description: 'H3 resolution (default CELL_RESOLUTION)',
      },
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['bucketStartMs', 'bucketMs', 'resolution', 'k', 'locations'],
      properties: {
        at: { type: 'string', format: 'date-time' },
        bucketStartMs: { type: 'integer' },
        bucketMs: { type: 'integer' },
        resolution: { type: 'integer' },
        k: { type: 'integer' },
        kAnonymity: { type: 'integer' },
        locations: {
          type: 'array',
          items: {
            type: 'object',
            required: ['rank', 'cell', 'devices'],
            properties: {
              rank: { type: 'integer' },
              cell: { type: 'string' },
              devices: { type: 'integer' },
              lat: { type: 'number' },
              lon: { type: 'number' },
            },
          },
        },
      },
    },
    ...errors(400),
  },
} as const;

const userParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200, description: 'the user (device) id' } },
} as const;

const userRange = {
  type: 'object',
  properties: {
    from: time('range start (default: to − 7 days)'),
    to: time('range end, exclusive (default: now)'),
  },
} as const;

const security = [{ bearer: [] }];

export const userTimeSchema = {
  tags: ['users'],
  summary: 'Where a user spends their time',
  description: 'Per location: total time and number of (merged) visits over [from, to), most time first.',
  security,
  params: userParams,
  querystring: userRange,
  response: {
    200: {
      type: 'object',
      required: ['userId', 'fromMs', 'toMs', 'totalMs', 'locations'],
      properties: {
        userId: { type: 'string' },
        fromMs: { type: 'integer' },
        toMs: { type: 'integer' },
        totalMs: { type: 'integer' },
        locations: {
          type: 'array',
          items: {
            type: 'object',
            required: ['cell', 'timeSpentMs', 'visits'],
            properties: {
              cell: { type: 'string' },
              timeSpentMs: { type: 'integer' },
              visits: { type: 'integer' },
            },
          },
        },
      },
    },
    ...errors(400, 401, 403, 404, 410),
  },
} as const;

export const userVisitsSchema = {
  tags: ['users'],
  summary: "A user's visits",
  description: 'Visits overlapping [from, to), overlapping visits of the same cell merged, by start time.',
  security,
  params: userParams,
  querystring: userRange,
  response: {
    200: {
      type: 'object',
      required: ['userId', 'fromMs', 'toMs', 'visits'],
      properties: {
        userId: { type: 'string' },
        fromMs: { type: 'integer' },
        toMs: { type: 'integer' },
        visits: {
          type: 'array',
          items: {
            type: 'object',
            required: ['cell', 'startMs', 'endMs', 'durationMs', 'pings', 'closed'],
            properties: {
              cell: { type: 'string' },
              startMs: { type: 'integer' },
              endMs: { type: 'integer' },
              durationMs: { type: 'integer' },
              pings: { type: 'integer' },
              closed: { type: 'boolean' },
            },
          },
        },
      },
    },
    ...errors(400, 401, 403, 404, 410),
  },
} as const;

export const eraseUserSchema = {
  tags: ['users'],
  summary: "Erase a user's data",
  description:
    'Deletes the visits, records the erasure, revokes the device (its uploads are refused) and has the ' +
    'pipeline skip its raw pings; lists what remains and until when (docs/privacy.md). Idempotent. 503 ' +
    'when the erasure is recorded but could not be propagated yet: retry.',
  security,
  params: userParams,
  response: {
    200: {
      type: 'object',
      required: ['userId', 'erasedAtMs', 'visitsDeleted', 'notErased'],
      properties: {
        userId: { type: 'string' },
        erasedAtMs: { type: 'integer' },
        visitsDeleted: { type: 'integer' },
        notErased: {
          type: 'array',
          items: {
            type: 'object',
            required: ['data', 'reason', 'untilMs'],
            properties: {
              data: { type: 'string' },
              reason: { type: 'string' },
              untilMs: {
                type: 'integer',
                nullable: true,
                description: 'gone at the latest at this time (epoch ms); null = kept indefinitely',
              },
            },
          },
        },
      },
    },
    ...errors(401, 403, 503),
  },
} as const;

export const liveSchema = {
  tags: ['live'],
  summary: 'Live stream (Server-Sent Events)',
  description:
    'text/event-stream. `event: popular` every API_LIVE_INTERVAL_MS with the top-k of the current bucket ' +
    '({bucketStartMs, bucketMs, locations:[{rank, cell, devices}]}); `event: occupancy` with rows changed ' +
    'since the previous tick ({changes:[{cell, bucketStartMs, devices, suppressed}], truncated}).',
  querystring: {
    type: 'object',
    properties: { k: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
  },
  response: {
    200: { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
    ...errors(400),
  },
} as const;
