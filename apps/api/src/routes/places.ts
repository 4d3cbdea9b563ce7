import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  bucketStart,
  type PlaceGeometry,
  PlaceGeometryError,
  placeBBox,
  placeCells,
  validatePlaceGeometry,
} from '@footfall/domain';
import { type Static, Type } from 'typebox';
import { createAuthenticator } from '../auth.ts';
import { ApiError } from '../errors.ts';
import type { ApiContext } from '../http/context.ts';
import { bearer, errorResponses, Time } from '../http/schemas.ts';
import { sendSerialised, serialise } from '../http/serialised.ts';
import { parseBBox, parseTime } from '../params.ts';
import { RegistryCaches } from '../places/read-cache.ts';
import {
  createPlace,
  deletePlace,
  flushOutbox,
  listPlaces,
  type PlaceInput,
  type PlaceRow,
  updatePlace,
} from '../places/store.ts';

/** Place writes carry a polygon (up to MAX_PLACE_VERTICES positions): the only bodies the API takes. */
export const PLACE_BODY_LIMIT_BYTES = 1_048_576;

export const PlaceParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$', description: 'place id' }),
});

const Geometry = Type.Unsafe<PlaceGeometry>({
  type: 'object',
  additionalProperties: true,
  description:
    'GeoJSON Polygon or MultiPolygon ([longitude, latitude], WGS 84; rings closed; no self-intersection)',
  examples: [
    {
      type: 'Polygon',
      coordinates: [
        [
          [13.3685, 52.5246],
          [13.3712, 52.5246],
          [13.3712, 52.5262],
          [13.3685, 52.5262],
          [13.3685, 52.5246],
        ],
      ],
    },
  ],
});

const PlaceBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, examples: ['Hauptbahnhof'] }),
  category: Type.String({
    minLength: 1,
    maxLength: 50,
    pattern: '^[a-z0-9_-]+$',
    description: 'free lower-case label, e.g. station, mall, park, office, stadium, market',
    examples: ['station'],
  }),
  geometry: Geometry,
  effectiveFrom: Type.Optional(
    Time(
      'first event time the definition applies to, rounded down to its bucket (default: now); ' +
        'may be earlier to count buckets still open in the stream (docs/places.md)',
    ),
  ),
});

const PlaceSummary = {
  id: Type.String(),
  name: Type.String(),
  category: Type.String(),
  bbox: Type.Array(Type.Number(), { description: '[minLon, minLat, maxLon, maxLat]' }),
  cellCount: Type.Integer(),
  region: Type.String({ description: 'H3 cell at REGION_RESOLUTION holding the place' }),
  effectiveFromMs: Type.Integer(),
  version: Type.Integer(),
  createdAtMs: Type.Integer(),
  updatedAtMs: Type.Integer(),
};
const PlaceAnswer = Type.Object({
  ...PlaceSummary,
  geometry: Geometry,
  cells: Type.Array(Type.String(), { description: 'H3 cells at CELL_RESOLUTION whose centre is inside' }),
});
const PlaceList = Type.Object({
  total: Type.Integer(),
  offset: Type.Integer(),
  limit: Type.Integer(),
  places: Type.Array(Type.Object({ ...PlaceSummary, geometry: Geometry })),
});

const summary = (p: PlaceRow) => ({
  id: p.id,
  name: p.name,
  category: p.category,
  bbox: p.bbox,
  cellCount: p.cells.length,
  region: p.region,
  effectiveFromMs: p.effectiveFromMs,
  version: p.version,
  createdAtMs: p.createdAtMs,
  updatedAtMs: p.updatedAtMs,
});
const full = (p: PlaceRow) => ({ ...summary(p), geometry: p.geometry, cells: p.cells });

/**
 * The place registry: operator-only POST/PUT/DELETE, public GET (no counts). Every change is written
 * with an outbox row in one transaction, then published to the `places` topic; an unacknowledged
 * publish answers 503 (the change is stored and is re-published by the next write or the start-up sweep).
 */
export const placeRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { config, db, places, registryCaches },
) => {
  const caches = registryCaches ?? new RegistryCaches(db, config.placesCacheMs);
  const authenticate = createAuthenticator(config);
  const operatorOnly = async (authorization: string | undefined) => {
    const principal = await authenticate(authorization);
    if (principal.kind !== 'operator')
      throw new ApiError('API_FORBIDDEN', 'only an operator may change places');
  };
  const prepare = (body: Static<typeof PlaceBody>): PlaceInput => {
    try {
      const geometry = validatePlaceGeometry(body.geometry);
      const { cells, region } = placeCells(
        geometry,
        config.cellResolution,
        config.regionResolution,
        config.placesMaxCells,
      );
      const effectiveFromMs = bucketStart(
        parseTime(body.effectiveFrom, 'effectiveFrom', Date.now()),
        config.bucketMs,
      );
      return {
        name: body.name,
        category: body.category,
        geometry,
        cells,
        region,
        bbox: placeBBox(geometry),
        effectiveFromMs,
      };
    } catch (error) {
      if (!(error instanceof PlaceGeometryError)) throw error;
      throw new ApiError(
        error.kind === 'invalid' ? 'API_INVALID_GEOMETRY' : 'API_PLACE_UNMAPPABLE',
        error.message,
      );
    }
  };
  const publish = async (id: string) => {
    // The write is committed: this instance's registry reads see it from now on.
    caches.clear();
    if (!places) throw new ApiError('API_UNAVAILABLE', 'place publishing is not configured; retry later');
    await flushOutbox(db, places, [id]).catch((error: unknown) => {
      throw new ApiError('API_UNAVAILABLE', 'place stored but not yet propagated to the stream; retry', {
        cause: error,
      });
    });
  };
  const writeErrors = errorResponses(400, 401, 403, 413, 415, 422);
  // Authorise before the body is read and validated: an anonymous write is 401, whatever it carries.
  const onRequest = async (request: { headers: { authorization?: string | undefined } }) =>
    operatorOnly(request.headers.authorization);

  app.post(
    '/v1/places',
    {
      onRequest,
      bodyLimit: PLACE_BODY_LIMIT_BYTES,
      schema: {
        tags: ['places'],
        operationId: 'createPlace',
        summary: 'Register a named place (operator)',
        description:
          'Maps the polygon to H3 cells (centre inside) and publishes the definition to the stream. 400 for ' +
          'invalid GeoJSON (with the reason), 422 when it maps to more than PLACES_MAX_CELLS cells, to none, or ' +
          'to more than one region. Overlapping places are allowed.',
        security: bearer,
        body: PlaceBody,
        response: { 201: PlaceAnswer, ...writeErrors },
      },
    },
    async (request, reply) => {
      const place = await createPlace(db, prepare(request.body));
      await publish(place.id);
      request.log.info({ placeId: place.id, cells: place.cells.length }, 'place created');
      return reply.code(201).header('location', `/v1/places/${place.id}`).send(full(place));
    },
  );

  app.put(
    '/v1/places/:id',
    {
      onRequest,
      bodyLimit: PLACE_BODY_LIMIT_BYTES,
      schema: {
        tags: ['places'],
        operationId: 'updatePlace',
        summary: 'Replace a named place (operator)',
        description:
          'Replaces name, category and geometry; the version grows by one. The new cells apply from ' +
          '`effectiveFrom` (default now): earlier buckets keep the counts of the previous definition.',
        security: bearer,
        params: PlaceParams,
        body: PlaceBody,
        response: { 200: PlaceAnswer, ...errorResponses(400, 401, 403, 404, 413, 415, 422) },
      },
    },
    async (request) => {
      const place = await updatePlace(db, request.params.id, prepare(request.body));
      if (!place) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
      await publish(place.id);
      return full(place);
    },
  );

  app.delete(
    '/v1/places/:id',
    {
      onRequest,
      schema: {
        tags: ['places'],
        operationId: 'deletePlace',
        summary: 'Delete a named place (operator)',
        description:
          'Removes it from the registry and the stream (a tombstone); its stored counts are no longer served.',
        security: bearer,
        params: PlaceParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      if (!(await deletePlace(db, request.params.id)))
        throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
      await publish(request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/places',
    {
      schema: {
        tags: ['places'],
        operationId: 'listPlaces',
        summary: 'Find named places (public, no counts)',
        description:
          'By bounding box (places whose box intersects it) and/or name prefix (any case); by name.',
        querystring: Type.Object({
          bbox: Type.Optional(Type.String({ description: 'minLon,minLat,maxLon,maxLat (degrees)' })),
          q: Type.Optional(
            Type.String({ minLength: 1, maxLength: 100, description: 'name starts with (any case)' }),
          ),
          limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
        }),
        response: { 200: PlaceList, ...errorResponses(400) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const bbox = q.bbox === undefined ? undefined : parseBBox(q.bbox);
      const list = { bbox, q: q.q, limit: q.limit, offset: q.offset };
      // Cached serialised: a hit costs no query and no serialisation of up to 500 places.
      const body = await caches.list(JSON.stringify(list), async () => {
        const { places: rows, total } = await listPlaces(db, list);
        return serialise(reply, {
          total,
          offset: q.offset,
          limit: q.limit,
          places: rows.map((p) => ({ ...summary(p), geometry: p.geometry })),
        });
      });
      sendSerialised(reply, body);
      return reply;
    },
  );

  app.get(
    '/v1/places/:id',
    {
      schema: {
        tags: ['places'],
        operationId: 'getPlace',
        summary: 'One named place with its cells (public, no counts)',
        params: PlaceParams,
        response: { 200: PlaceAnswer, ...errorResponses(400, 404) },
      },
    },
    async (request) => {
      const place = await caches.place(request.params.id);
      if (!place) throw new ApiError('API_PLACE_NOT_FOUND', 'no such place');
      return full(place);
    },
  );
};
