// "Popular times" of a named place (docs/places.md): the usual busyness of each of the 168 hours of a
// week, and the live-vs-usual rule. Pure.

export const HOUR_MS = 3_600_000;
export const WEEK_MS = 7 * 24 * HOUR_MS;
/** 1970-01-01 was a Thursday: hour-of-week 0 is Monday 00:00 UTC, so shift epoch hours by 3 days. */
const MONDAY_OFFSET_H = 3 * 24;

/** Hour of the week (0 = Monday 00:00–01:00 UTC … 167 = Sunday 23:00) of a time. */
export function hourOfWeek(ms: number): number {
  const h = Math.floor(ms / HOUR_MS) + MONDAY_OFFSET_H;
  return ((h % 168) + 168) % 168;
}

export interface UsualHour {
  hourOfWeek: number;
  /** Median over the past occurrences of this hour (lower middle for an even count); null: no history. */
  usual: number | null;
  /** Occurrences of this hour in the history window (≤ the weeks asked for). */
  weeks: number;
}

/**
 * The usual value of each hour of the week: over every complete hour `[h, h + 1 h)` with
 * `historyFromMs ≤ h` and `h + 1 h ≤ historyToMs`, the hour's value is `hourly.get(h) ?? 0` (the peak
 * of its bucket counts; no row = nobody); the usual value of an hour-of-week is the median of its
 * occurrences. `historyFromMs` is where history starts (the place's effective time or N weeks back).
 */
export function usualWeek(
  hourly: ReadonlyMap<number, number>,
  historyFromMs: number,
  historyToMs: number,
): UsualHour[] {
  const values: number[][] = Array.from({ length: 168 }, () => []);
  const first = Math.ceil(historyFromMs / HOUR_MS) * HOUR_MS;
  for (let h = first; h + HOUR_MS <= historyToMs; h += HOUR_MS) {
    values[hourOfWeek(h)]?.push(hourly.get(h) ?? 0);
  }
  return values.map((v, i) => {
    v.sort((a, b) => a - b);
    return {
      hourOfWeek: i,
      usual: v.length === 0 ? null : (v[(v.length - 1) >> 1] as number),
      weeks: v.length,
    };
  });
}

export type LiveStatus = 'busier' | 'usual' | 'quieter' | 'unknown';

/** Ratios of the live-vs-usual rule. */
export const BUSIER_RATIO = 1.2;
export const QUIETER_RATIO = 0.8;
/** "Quieter" is only claimed after this much of the hour: the live peak so far only grows. */
export const QUIETER_AFTER_MS = 30 * 60_000;

/**
 * Live vs usual: `current` is the peak so far of the current hour, `usual` the usual peak of this
 * hour-of-week. Unknown unless both are publishable (≥ kAnonymity, so the status never reveals a
 * suppressed number); busier when current ≥ 1.2 × usual (final: the peak only grows); quieter when
 * current ≤ 0.8 × usual and at least 30 min of the hour have passed; otherwise usual.
 */
export function liveStatus(
  current: number,
  usual: number | null,
  elapsedInHourMs: number,
  kAnonymity: number,
): LiveStatus {
  if (usual === null || usual < kAnonymity || current < kAnonymity) return 'unknown';
  if (current >= BUSIER_RATIO * usual) return 'busier';
  if (elapsedInHourMs >= QUIETER_AFTER_MS && current <= QUIETER_RATIO * usual) return 'quieter';
  return 'usual';
}
