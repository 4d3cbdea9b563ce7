/** A visit interval of one device at one cell. Times in ms, `startMs <= endMs` (closed interval). */
export interface VisitInterval {
  deviceId: string;
  cell: string;
  startMs: number;
  endMs: number;
  pings: number;
}

/** Orders visits by deviceId, then cell (byte order, as the sink's `COLLATE "C"`), then start. */
export function compareVisits(a: VisitInterval, b: VisitInterval): number {
  if (a.deviceId !== b.deviceId) return a.deviceId < b.deviceId ? -1 : 1;
  if (a.cell !== b.cell) return a.cell < b.cell ? -1 : 1;
  return a.startMs - b.startMs;
}

/**
 * Merges overlapping (or touching) visits of the same `(deviceId, cell)` into one: min start, max end,
 * pings summed (an upper bound when the inputs share pings). Output sorted by deviceId, cell, startMs.
 */
export function mergeOverlappingVisits<T extends VisitInterval>(visits: readonly T[]): VisitInterval[] {
  const sorted = [...visits].sort(compareVisits);
  const out: VisitInterval[] = [];
  for (const v of sorted) {
    const last = out[out.length - 1];
    if (last && last.deviceId === v.deviceId && last.cell === v.cell && v.startMs <= last.endMs) {
      last.endMs = Math.max(last.endMs, v.endMs);
      last.pings += v.pings;
    } else {
      out.push({ deviceId: v.deviceId, cell: v.cell, startMs: v.startMs, endMs: v.endMs, pings: v.pings });
    }
  }
  return out;
}

/**
 * Time spent (ms) over `[fromMs, toMs)` = total length of the union of the visits' intervals
 * intersected with the range. Pass the visits of one device at one cell (or at a set of cells).
 */
export function timeSpentMs(
  visits: readonly { startMs: number; endMs: number }[],
  fromMs: number,
  toMs: number,
): number {
  const clipped: [number, number][] = [];
  for (const v of visits) {
    const s = Math.max(v.startMs, fromMs);
    const e = Math.min(v.endMs, toMs);
    if (e > s) clipped.push([s, e]);
  }
  clipped.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let curS = Number.NEGATIVE_INFINITY;
  let curE = Number.NEGATIVE_INFINITY;
  for (const [s, e] of clipped) {
    if (s > curE) {
      if (curE > curS) total += curE - curS;
      curS = s;
      curE = e;
    } else if (e > curE) curE = e;
  }
  if (curE > curS) total += curE - curS;
  return total;
}
