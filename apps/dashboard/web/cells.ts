// H3 cells as GeoJSON geometry (pure: no DOM, no map), shared by the map and its tests.

import { cellToBoundary } from 'h3-js';

/** A cell's outline as a closed GeoJSON ring in [lng, lat] order, continuous across the antimeridian. */
export function cellRing(cell: string): [number, number][] {
  // formatAsGeoJson = true: [lng, lat] pairs and the first vertex repeated at the end.
  const ring = cellToBoundary(cell, true) as [number, number][];
  const lngs = ring.map((p) => p[0]);
  // A cell crossing ±180° has longitudes on both sides; shift the western ones by 360° so the polygon
  // does not span the whole world (MapLibre draws longitudes > 180 on the next world copy).
  if (Math.max(...lngs) - Math.min(...lngs) > 180)
    return ring.map(([lng, lat]) => [lng < 0 ? lng + 360 : lng, lat]);
  return ring;
}
