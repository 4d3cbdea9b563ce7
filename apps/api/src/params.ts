import { cellOf, isValidCell, regionOf } from '@footfall/domain';
import { cellToChildren, getResolution } from 'h3-js';
import { ApiError } from './errors.ts';

const DAY_MS = 86_400_000;
// ISO 8601 date-time with an explicit zone (Z or ±hh:mm), or a bare date (UTC midnight).
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2})))?$/i;

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * Whether the fields of an ISO match name a real instant: Date.parse rolls impossible dates over
 * (2025-02-30 → 2 March, 24:00 → next day), which would answer a question nobody asked.
 */
function isRealDateTime(m: RegExpExecArray): boolean {
  const [, y, mo, d, h = '0', mi = '0', sec = '0', oh = '0', om = '0'] = m;
  const year = Number(y);
  const month = Number(mo);
  return (
    month >= 1 &&
    month <= 12 &&
    Number(d) >= 1 &&
    Number(d) <= daysIn(year, month) &&
    Number(h) <= 23 &&
    Number(mi) <= 59 &&
    Number(sec) <= 59 &&
    Number(oh) <= 23 &&
    Number(om) <= 59
  );
}

/** `epoch ms` (digits) or ISO 8601 with a zone → ms. `name` names the parameter in the error. */
export function parseTime(raw: string | undefined, name: string, fallbackMs?: number): number {
  if (raw === undefined || raw === '') {
    if (fallbackMs !== undefined) return fallbackMs;
    throw new ApiError('API_INVALID_TIME', `${name} is required (ISO 8601 time with zone, or epoch ms)`);
  }
  let ms = Number.NaN;
  if (/^-?\d{1,16}$/.test(raw)) ms = Number(raw);
  else {
    const m = ISO.exec(raw);
    if (m && isRealDateTime(m)) ms = Date.parse(raw);
  }
  // Year 1970..9999: anything else is a typo, not a query.
  if (!Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999) {
    throw new ApiError(
      'API_INVALID_TIME',
      `${name} is not a valid ISO 8601 time with zone (e.g. 2025-05-01T12:00:00Z) or epoch ms`,
    );
  }
  return ms;
}

/** A half-open range `[from, to)`; `from < to` and at most `maxRangeDays`. */
export function parseRange(
  q: { from?: string; to?: string },
  maxRangeDays: number,
  defaults?: { from: number; to: number },
): { fromMs: number; toMs: number } {
  const toMs = parseTime(q.to, 'to', defaults?.to);
  const fromMs = parseTime(q.from, 'from', defaults ? toMs - (defaults.to - defaults.from) : undefined);
  if (fromMs >= toMs) throw new ApiError('API_INVALID_RANGE', 'from must be before to');
  if (toMs - fromMs > maxRangeDays * DAY_MS) {
    throw new ApiError(
      'API_RANGE_TOO_LARGE',
      `[from, to) spans more than ${maxRangeDays} days (MAX_RANGE_DAYS)`,
    );
  }
  return { fromMs, toMs };
}

/** The location: `cell` (H3 at the configured resolution) or `lat`+`lon` (degrees). */
export function parseLocation(
  q: { cell?: string; lat?: number; lon?: number },
  cellResolution: number,
): string {
  if (q.cell !== undefined) {
    if (q.lat !== undefined || q.lon !== undefined) {
      throw new ApiError('API_BAD_REQUEST', 'give either cell or lat+lon, not both');
    }
    const cell = q.cell.toLowerCase();
    if (!isValidCell(cell)) throw new ApiError('API_INVALID_CELL', 'cell is not an H3 cell index');
    if (getResolution(cell) !== cellResolution) {
      throw new ApiError(
        'API_INVALID_CELL',
        `cell has resolution ${getResolution(cell)}; locations are H3 cells at resolution ${cellResolution}`,
      );
    }
    return cell;
  }
  if (q.lat === undefined || q.lon === undefined) {
    throw new ApiError('API_BAD_REQUEST', 'give a location: cell, or both lat and lon');
  }
  checkLatLon(q.lat, q.lon);
  return cellOf(q.lat, q.lon, cellResolution);
}

function checkLatLon(lat: number, lon: number): void {
  if (!Number.isFinite(lat) || lat < -90 || lat > 90 || !Number.isFinite(lon) || lon < -180 || lon > 180) {
    throw new ApiError('API_INVALID_COORDINATES', 'lat must be in [-90, 90] and lon in [-180, 180]');
  }
}

export interface BBox {
  minLon: number;
  minLat: number;
  maxLon: number;
  maxLat: number;
}

/** `minLon,minLat,maxLon,maxLat` (GeoJSON order). Boxes across the antimeridian are not supported. */
export function parseBBox(raw: string): BBox {
  const parts = raw.split(',').map((s) => (s.trim() === '' ? Number.NaN : Number(s)));
  if (parts.length !== 4 || parts.some((x) => !Number.isFinite(x))) {
    throw new ApiError('API_INVALID_BBOX', 'bbox must be minLon,minLat,maxLon,maxLat (4 numbers)');
  }
  const [minLon, minLat, maxLon, maxLat] = parts as [number, number, number, number];
  try {
    checkLatLon(minLat, minLon);
    checkLatLon(maxLat, maxLon);
  } catch {
    throw new ApiError('API_INVALID_BBOX', 'bbox corners must be valid lon/lat in degrees');
  }
  if (minLon > maxLon || minLat > maxLat) {
    throw new ApiError('API_INVALID_BBOX', 'bbox needs minLon <= maxLon and minLat <= maxLat');
  }
  return { minLon, minLat, maxLon, maxLat };
}

/**
 * A region filter: any H3 cell at resolution <= CELL_RESOLUTION. When it is at or coarser than
 * REGION_RESOLUTION it becomes a set of stored `region` values (at most 7³ = 343, i.e. 3 levels
 * coarser); when finer, its parent region plus a per-cell ancestor check.
 */
export function parseRegion(
  raw: string,
  cellResolution: number,
  regionResolution: number,
): { cell: string; resolution: number; regions: string[]; exact: boolean } {
  const cell = raw.toLowerCase();
  if (!isValidCell(cell)) throw new ApiError('API_INVALID_REGION', 'region is not an H3 cell index');
  const resolution = getResolution(cell);
  if (resolution > cellResolution) {
    throw new ApiError('API_INVALID_REGION', `region must be an H3 cell at resolution <= ${cellResolution}`);
  }
  if (resolution <= regionResolution) {
    if (regionResolution - resolution > 3) {
      throw new ApiError(
        'API_INVALID_REGION',
        `region too coarse: at most 3 resolutions above ${regionResolution}`,
      );
    }
    return { cell, resolution, regions: cellToChildren(cell, regionResolution), exact: true };
  }
  return { cell, resolution, regions: [regionOf(cell, regionResolution)], exact: false };
}

/** Series step: a positive multiple of the bucket length. */
export function parseStep(raw: number | undefined, bucketMs: number): number {
  if (raw === undefined) return bucketMs;
  if (!Number.isSafeInteger(raw) || raw <= 0 || raw % bucketMs !== 0) {
    throw new ApiError('API_INVALID_STEP', `step must be a positive multiple of BUCKET_MS (${bucketMs} ms)`);
  }
  return raw;
}
