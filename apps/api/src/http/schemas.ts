// Building blocks of the route schemas (TypeBox). Each route's schema is the one source of its request
// validation, its response serialisation, its TypeScript types (the type provider) and its part of the
// OpenAPI document (@fastify/swagger).

import { type Static, type TUnsafe, Type } from 'typebox';
import type { ApiErrorStatus } from '../errors.ts';

export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'catalog code, see docs/errors.md', example: 'API_INVALID_CELL' }),
      message: Type.String({ description: 'what is wrong; names the parameter, never quotes its value' }),
    }),
  },
  { $id: 'Error', description: 'every error answer' },
);

// Record over every status of the catalog: a new status must be described here.
export type ErrorBody = Static<typeof ErrorSchema>;

const ERROR_DESCRIPTIONS: Record<ApiErrorStatus, string> = {
  400: 'bad input (see error.code)',
  401: 'missing, invalid or expired bearer token',
  403: "a user token for another user's data",
  404: 'not found',
  405: 'method not allowed on this path',
  408: 'the request took too long to arrive',
  410: 'the user was erased',
  413: 'request body too large',
  414: 'a path parameter is too long',
  415: 'unsupported Content-Type',
  422: 'well-formed but unusable (e.g. a place polygon mapping to too many cells)',
  429: 'PRIVACY_MODE=dp: the privacy budget of the release period cannot cover the new release(s) this question needs (docs/privacy.md)',
  431: 'request headers too large',
  500: 'a bug; details only in the server log',
  501: 'PRIVACY_MODE=dp: this channel has no differentially private release and is refused (API_UNAVAILABLE_IN_DP_MODE, docs/privacy.md)',
  503: 'the database is unavailable or the server is shutting down; retry later',
};

/**
 * Error answers of an operation. Every operation can also meet the protocol-level ones: 400 (malformed
 * request), 408/431 (Node's HTTP parser), 500 and 503 (database unavailable).
 */
export function errorResponses(...statuses: ApiErrorStatus[]) {
  const all = new Set<ApiErrorStatus>([400, 408, 431, 500, 503, ...statuses]);
  return Object.fromEntries(
    [...all]
      .sort()
      .map((s) => [s, Type.Unsafe<ErrorBody>(Type.Ref('Error', { description: ERROR_DESCRIPTIONS[s] }))]),
  ) as Record<ApiErrorStatus, TUnsafe<ErrorBody>>;
}

/** A time parameter: ISO 8601 with zone or epoch ms, parsed by params.ts (validated there, not here). */
export const Time = (description: string) =>
  Type.String({ description: `${description}: ISO 8601 with zone (2025-05-01T12:00:00Z) or epoch ms` });

/** A k-anonymised count: JSON Schema `type: [integer, null]` (OpenAPI 3.0 `nullable`). */
export const Devices = Type.Unsafe<number | null>({
  type: ['integer', 'null'],
  description: 'distinct devices; null when suppressed (below K_ANONYMITY, or nobody)',
});
export const Suppressed = Type.Boolean({
  description: 'true when the count is below K_ANONYMITY (or zero) and withheld',
});

export const LocationQuery = {
  cell: Type.Optional(Type.String({ description: 'H3 cell at CELL_RESOLUTION (hex); or give lat+lon' })),
  lat: Type.Optional(Type.Number({ description: 'latitude, degrees [-90, 90]' })),
  lon: Type.Optional(Type.Number({ description: 'longitude, degrees [-180, 180]' })),
};

export const bearer = [{ bearer: [] }];

export type { Static };
