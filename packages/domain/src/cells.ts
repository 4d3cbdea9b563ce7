import { cellToParent, getResolution, isValidCell as h3IsValidCell, latLngToCell } from 'h3-js';

/** Default H3 resolution of a location (~76 m average edge, ~0.015 km²). */
export const DEFAULT_CELL_RESOLUTION = 10;
/** Default H3 resolution of a region (the Kafka partition key). */
export const DEFAULT_REGION_RESOLUTION = 5;

/** H3 cell (hex string) of a WGS84 point. `lat`/`lon` in degrees, `res` 0..15. Throws on invalid input. */
export function cellOf(lat: number, lon: number, res: number = DEFAULT_CELL_RESOLUTION): string {
  return latLngToCell(lat, lon, res);
}

/** True if `cell` is a valid H3 cell index (hex string). Never throws. */
export function isValidCell(cell: string): boolean {
  try {
    return h3IsValidCell(cell);
  } catch {
    return false;
  }
}

/**
 * Parent of `cell` at resolution `res` (≤ the cell's resolution; the cell itself if equal).
 * Throws if `res` is finer than the cell.
 */
export function rollUpCell(cell: string, res: number): string {
  const own = getResolution(cell);
  if (res === own) return cell;
  if (res > own) throw new RangeError(`cannot roll up ${cell} (res ${own}) to finer res ${res}`);
  return cellToParent(cell, res);
}

/**
 * The cell → region rule, the one place it is written: a cell's region is its parent at `regionRes`
 * (default {@link DEFAULT_REGION_RESOLUTION}); a cell at or coarser than `regionRes` is its own region.
 * Ingest keys and partitions `ingestion` by it, the processor tags its outputs with it, and the API maps
 * a region filter onto stored regions with it, so all of them must agree.
 */
export function regionOf(cell: string, regionRes: number = DEFAULT_REGION_RESOLUTION): string {
  return regionRes >= getResolution(cell) ? cell : cellToParent(cell, regionRes);
}
