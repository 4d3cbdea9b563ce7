// The live stream's `occupancy` event in dp mode. Releases are immutable, so there are no updates or
// drops to track: when the newest released bucket changes, its released cells are sent once, exactly
// the values REST answers for them (the caller records `feed.dpBucket` once the tick succeeded) (a cell that was not released is never named, like an empty one).

import type { LiveChange } from '../live.ts';
import type { PublicCountGate } from './gate.ts';

export async function dpLiveChanges(
  gate: PublicCountGate,
  feed: { dpBucket: number | undefined },
  bucketStartMs: number,
  o: { cellResolution: number; maxChanges: number; bucketMs: number },
): Promise<{ changes: LiveChange[]; truncated: boolean }> {
  if (feed.dpBucket === bucketStartMs) return { changes: [], truncated: false };
  const cells = await gate.topK('live', {
    bucketStartMs,
    k: o.maxChanges,
    cellResolution: o.cellResolution,
    resolution: o.cellResolution,
  });
  return {
    // A release is frozen once made: final (the bucket ended before it was released).
    changes: cells.map((c) => ({
      cell: c.cell,
      bucketStartMs,
      devices: c.devices,
      suppressed: false,
      state: 'final' as const,
      finalAtMs: bucketStartMs + o.bucketMs,
    })),
    truncated: cells.length === o.maxChanges,
  };
}
