/** One cell's occupancy in a bucket. */
export interface CellCount {
  cell: string;
  devices: number;
}

/** Ranking order: devices descending, then cell id ascending (plain string order). */
export function compareCellCounts(a: CellCount, b: CellCount): number {
  if (a.devices !== b.devices) return b.devices - a.devices;
  return a.cell < b.cell ? -1 : a.cell > b.cell ? 1 : 0;
}

/** The `k` most occupied cells (ties: smaller cell id first). Does not mutate `entries`. */
export function topK<T extends CellCount>(entries: readonly T[], k: number): T[] {
  if (k <= 0) return [];
  return [...entries].sort(compareCellCounts).slice(0, k);
}

/**
 * Global top-K from per-region top-K lists: union, re-rank, first `k`. Exact when the lists come from
 * disjoint cell sets (regions partition cells) and each has at least `k` entries or all of its region.
 * A cell appearing in several lists keeps its highest count.
 */
export function mergeTopK<T extends CellCount>(lists: readonly (readonly T[])[], k: number): T[] {
  const best = new Map<string, T>();
  for (const list of lists) {
    for (const e of list) {
      const prev = best.get(e.cell);
      if (prev === undefined || e.devices > prev.devices) best.set(e.cell, e);
    }
  }
  return topK([...best.values()], k);
}
