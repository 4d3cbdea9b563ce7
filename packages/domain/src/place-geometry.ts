// A named place's geometry (GeoJSON Polygon / MultiPolygon) → H3 cells at CELL_RESOLUTION
// (docs/places.md, "Containment"). Pure: validation and mapping only; the API maps the errors to HTTP.

import kinks from '@turf/kinks';
import type { MultiPolygon, Polygon, Position } from 'geojson';
import { cellToParent, getHexagonAreaAvg, polygonToCells } from 'h3-js';

/** Most vertices of one geometry: bounds the quadratic self-intersection check. */
export const MAX_PLACE_VERTICES = 10_000;

export type PlaceGeometry = Polygon | MultiPolygon;

/**
 * Why a geometry was refused. `invalid` (bad GeoJSON, unclosed ring, self-intersection) is the
 * client's input error (HTTP 400); `too-large` (more than the configured cells), `empty` (no cell centre
 * inside) and `multi-region` (cells in more than one region) are well-formed but unusable (HTTP 422).
 */
export type PlaceGeometryErrorKind = 'invalid' | 'too-large' | 'empty' | 'multi-region';

export class PlaceGeometryError extends Error {
  override name = 'PlaceGeometryError';
  readonly kind: PlaceGeometryErrorKind;
  constructor(kind: PlaceGeometryErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

const invalid = (message: string) => new PlaceGeometryError('invalid', message);

function checkPosition(p: unknown, where: string): asserts p is Position {
  if (!Array.isArray(p) || p.length < 2 || p.length > 3) {
    throw invalid(`${where} must be [longitude, latitude]`);
  }
  const [lon, lat] = p as unknown[];
  if (typeof lon !== 'number' || !Number.isFinite(lon) || lon < -180 || lon > 180) {
    throw invalid(`${where}: longitude must be a number in [-180, 180]`);
  }
  if (typeof lat !== 'number' || !Number.isFinite(lat) || lat < -90 || lat > 90) {
    throw invalid(`${where}: latitude must be a number in [-90, 90]`);
  }
}

function checkPolygonRings(rings: unknown, where: string): number {
  if (!Array.isArray(rings) || rings.length === 0)
    throw invalid(`${where} must be a non-empty array of rings`);
  let vertices = 0;
  rings.forEach((ring: unknown, r) => {
    const w = `${where}[${r}]`;
    if (!Array.isArray(ring)) throw invalid(`${w} must be an array of positions`);
    if (ring.length < 4) throw invalid(`${w}: a linear ring needs at least 4 positions`);
    ring.forEach((p, i) => {
      checkPosition(p, `${w}[${i}]`);
    });
    const first = ring[0] as Position;
    const last = ring[ring.length - 1] as Position;
    if (first[0] !== last[0] || first[1] !== last[1]) {
      throw invalid(`${w}: unclosed ring (the last position must equal the first)`);
    }
    vertices += ring.length;
  });
  return vertices;
}

/** Checks that `value` is a valid GeoJSON Polygon or MultiPolygon (RFC 7946 §3.1.6/3.1.7, no kinks). */
export function validatePlaceGeometry(value: unknown): PlaceGeometry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('geometry must be a GeoJSON object');
  }
  const g = value as { type?: unknown; coordinates?: unknown };
  let polygons: unknown[];
  if (g.type === 'Polygon') polygons = [g.coordinates];
  else if (g.type === 'MultiPolygon') {
    if (!Array.isArray(g.coordinates) || g.coordinates.length === 0) {
      throw invalid('geometry.coordinates must be a non-empty array of polygons');
    }
    polygons = g.coordinates;
  } else throw invalid('geometry.type must be "Polygon" or "MultiPolygon"');
  let vertices = 0;
  polygons.forEach((rings, i) => {
    vertices += checkPolygonRings(
      rings,
      g.type === 'Polygon' ? 'geometry.coordinates' : `geometry.coordinates[${i}]`,
    );
  });
  if (vertices > MAX_PLACE_VERTICES) {
    throw invalid(`geometry has ${vertices} positions; at most ${MAX_PLACE_VERTICES}`);
  }
  const geometry = { type: g.type, coordinates: g.coordinates } as PlaceGeometry;
  // Self-intersections, within a ring and between the rings of one polygon (turf's kinks).
  const k = kinks(geometry);
  const at = k.features[0]?.geometry.coordinates;
  if (at !== undefined) {
    throw invalid(
      `geometry is self-intersecting (${k.features.length} crossing(s), first near ${at[1]?.toFixed(6)},${at[0]?.toFixed(6)} lat,lon)`,
    );
  }
  return geometry;
}

/** Polygons of a geometry as lists of rings. */
function polygonsOf(g: PlaceGeometry): Position[][][] {
  return g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
}

/** Approximate area in km² (equirectangular projection per ring: an estimate to refuse huge inputs early). */
function approxAreaKm2(g: PlaceGeometry): number {
  let total = 0;
  for (const rings of polygonsOf(g)) {
    rings.forEach((ring, r) => {
      let sum = 0;
      const lat0 = ((ring[0]?.[1] ?? 0) * Math.PI) / 180;
      const kx = 111.32 * Math.cos(lat0);
      for (let i = 0; i + 1 < ring.length; i++) {
        const a = ring[i] as Position;
        const b = ring[i + 1] as Position;
        sum +=
          (a[0] as number) * kx * (b[1] as number) * 110.57 -
          (b[0] as number) * kx * (a[1] as number) * 110.57;
      }
      total += (r === 0 ? 1 : -1) * Math.abs(sum / 2);
    });
  }
  return Math.max(0, total);
}

/** Bounding box [minLon, minLat, maxLon, maxLat] of a geometry (degrees). */
export function placeBBox(g: PlaceGeometry): [number, number, number, number] {
  let minLon = 180;
  let minLat = 90;
  let maxLon = -180;
  let maxLat = -90;
  for (const rings of polygonsOf(g)) {
    for (const p of rings[0] ?? []) {
      const lon = p[0] as number;
      const lat = p[1] as number;
      if (lon < minLon) minLon = lon;
      if (lon > maxLon) maxLon = lon;
      if (lat < minLat) minLat = lat;
      if (lat > maxLat) maxLat = lat;
    }
  }
  return [minLon, minLat, maxLon, maxLat];
}

export interface PlaceCells {
  /** Cells at `resolution` whose centre lies inside the geometry, sorted, distinct. */
  cells: string[];
  /** The one cell at `regionResolution` holding every cell. */
  region: string;
}

/**
 * Maps a validated geometry to H3 cells: **a cell belongs to the place iff its centre lies inside**
 * (h3-js `polygonToCells`; holes excluded; a MultiPolygon is the union of its polygons). Overlapping
 * polygons of one MultiPolygon count a cell once. Refuses more than `maxCells` cells, no cell at all
 * (a polygon smaller than a cell may contain no centre) and cells in more than one region (a place's
 * exact distinct count is computed in the one partition that owns its region).
 */
export function placeCells(
  g: PlaceGeometry,
  resolution: number,
  regionResolution: number,
  maxCells: number,
): PlaceCells {
  // Refuse obviously huge polygons before polygonToCells allocates millions of cells.
  const estimate = approxAreaKm2(g) / getHexagonAreaAvg(resolution, 'km2');
  if (estimate > 2 * maxCells + 100) {
    throw new PlaceGeometryError(
      'too-large',
      `geometry maps to about ${Math.round(estimate)} cells; at most ${maxCells} (PLACES_MAX_CELLS)`,
    );
  }
  const set = new Set<string>();
  for (const rings of polygonsOf(g)) {
    for (const c of polygonToCells(rings as number[][][], resolution, true)) set.add(c);
  }
  if (set.size > maxCells) {
    throw new PlaceGeometryError(
      'too-large',
      `geometry maps to ${set.size} cells; at most ${maxCells} (PLACES_MAX_CELLS)`,
    );
  }
  if (set.size === 0) {
    throw new PlaceGeometryError(
      'empty',
      `geometry contains no H3 cell centre at resolution ${resolution} (draw it larger)`,
    );
  }
  const cells = [...set].sort();
  const regions = new Set(cells.map((c) => cellToParent(c, regionResolution)));
  if (regions.size > 1) {
    throw new PlaceGeometryError(
      'multi-region',
      `geometry spans ${regions.size} regions (H3 resolution ${regionResolution}); split it into one place per region`,
    );
  }
  return { cells, region: [...regions][0] as string };
}
