// Visits and dwell per named place (docs/places.md): a device's visits to the place's cells, merged when
// they overlap or follow each other within the presence gap (the same gap rule as a stay), so that a
// device walking from one cell of a station into the next is one visit, not two. Pure.

/** A device's visit to one cell (from the `visits` table), or a merged visit to a place. */
export interface PlaceVisit {
  deviceId: string;
  startMs: number;
  endMs: number;
}

/**
 * Merges visits of the same device whose gap (next start − previous end) is at most `gapMs` (overlaps
 * included). Input in any order; output sorted by (deviceId, startMs).
 */
export function placeVisits(visits: readonly PlaceVisit[], gapMs: number): PlaceVisit[] {
  const sorted = [...visits].sort((a, b) =>
    a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.startMs - b.startMs,
  );
  const out: PlaceVisit[] = [];
  let cur: PlaceVisit | undefined;
  for (const v of sorted) {
    if (cur !== undefined && cur.deviceId === v.deviceId && v.startMs - cur.endMs <= gapMs) {
      if (v.endMs > cur.endMs) cur.endMs = v.endMs;
      continue;
    }
    cur = { deviceId: v.deviceId, startMs: v.startMs, endMs: v.endMs };
    out.push(cur);
  }
  return out;
}

/** SafeGraph-style dwell buckets, whole minutes (floor of the duration): label → [min, max]. */
export const DWELL_BUCKETS: readonly { label: string; minMinutes: number; maxMinutes: number }[] =
  Object.freeze([
    { label: '<5', minMinutes: 0, maxMinutes: 4 },
    { label: '5-20', minMinutes: 5, maxMinutes: 20 },
    { label: '21-60', minMinutes: 21, maxMinutes: 60 },
    { label: '61-240', minMinutes: 61, maxMinutes: 240 },
    { label: '>240', minMinutes: 241, maxMinutes: Number.POSITIVE_INFINITY },
  ]);

export interface DwellSummary {
  /** Visits (merged) starting in the day. */
  visits: number;
  /** Distinct devices with such a visit. */
  visitors: number;
  /** Visits per {@link DWELL_BUCKETS} entry, same order. */
  buckets: number[];
  /** Median visit duration, ms (the lower middle for an even count); null without visits. */
  medianMs: number | null;
  /** For each hour of the day (UTC, 0–23): distinct devices whose visit overlaps that hour. */
  visitorsPerHour: number[];
}

const HOUR_MS = 3_600_000;

/** Dwell distribution of the merged visits starting in [dayStartMs, dayStartMs + 24 h). */
export function dwellSummary(merged: readonly PlaceVisit[], dayStartMs: number): DwellSummary {
  const dayEnd = dayStartMs + 24 * HOUR_MS;
  const inDay = merged.filter((v) => v.startMs >= dayStartMs && v.startMs < dayEnd);
  const buckets = DWELL_BUCKETS.map(() => 0);
  const durations: number[] = [];
  const devices = new Set<string>();
  const perHour = Array.from({ length: 24 }, () => new Set<string>());
  for (const v of inDay) {
    const d = v.endMs - v.startMs;
    durations.push(d);
    devices.add(v.deviceId);
    const minutes = Math.floor(d / 60_000);
    const i = DWELL_BUCKETS.findIndex((b) => minutes >= b.minMinutes && minutes <= b.maxMinutes);
    buckets[i] = (buckets[i] as number) + 1;
    const last = Math.min(23, Math.floor((Math.min(v.endMs, dayEnd - 1) - dayStartMs) / HOUR_MS));
    for (let h = Math.floor((v.startMs - dayStartMs) / HOUR_MS); h <= last; h++) perHour[h]?.add(v.deviceId);
  }
  durations.sort((a, b) => a - b);
  return {
    visits: inDay.length,
    visitors: devices.size,
    buckets,
    medianMs: durations.length === 0 ? null : (durations[(durations.length - 1) >> 1] as number),
    visitorsPerHour: perHour.map((s) => s.size),
  };
}
