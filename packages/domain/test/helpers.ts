import { gridDisk, gridRingUnsafe, latLngToCell } from 'h3-js';
import type { AggregatorUpdates, PingEvent } from '../src/index.ts';

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
export const SEC = 1000;
export const MIN = 60_000;

/** A res-10 cell in Berlin, one of its neighbours, and a cell 5 rings away. */
export const X = latLngToCell(52.52, 13.405, 10);
export const X2 = gridDisk(X, 1).filter((c) => c !== X)[0] as string;
export const Y = gridRingUnsafe(X, 5)[0] as string;
/** A cell 2 rings from X (farther than the jitter ring). */
export const Z = gridRingUnsafe(X, 2)[0] as string;

let seq = 0;
export function ping(
  deviceId: string,
  tMs: number,
  cell: string,
  accuracyM = 10,
  pingId?: string,
): PingEvent {
  return { deviceId, pingId: pingId ?? `p${seq++}`, eventTimeMs: tMs, cell, accuracyM };
}

export interface VisitRow {
  endMs: number;
  pings: number;
  closed: boolean;
}

/** What a latest-value-per-key sink would hold (retractions delete; zero occupancy rows dropped). */
export class View {
  readonly occ = new Map<string, number>();
  readonly occPings = new Map<string, number>();
  readonly visits = new Map<string, VisitRow>();
  closedEmissions = 0;
  apply(u: AggregatorUpdates): this {
    for (const o of u.occupancy) {
      const k = `${o.cell}|${o.bucketStartMs}`;
      if (o.devices === 0) this.occ.delete(k);
      else this.occ.set(k, o.devices);
      this.occPings.set(k, o.pings);
    }
    for (const v of u.visits) {
      const k = `${v.deviceId}|${v.cell}|${v.startMs}`;
      const prev = this.visits.get(k);
      if (prev?.closed) throw new Error(`update after close: ${k}`);
      if (v.retracted) this.visits.delete(k);
      else this.visits.set(k, { endMs: v.endMs, pings: v.pings, closed: v.closed });
      if (v.closed) this.closedEmissions++;
    }
    return this;
  }
  occupancy(cell: string, bucketStartMs: number): number {
    return this.occ.get(`${cell}|${bucketStartMs}`) ?? 0;
  }
  /** Sorted "device|cell|start-end|pings" strings. */
  visitList(): string[] {
    return [...this.visits].map(([k, v]) => `${k}-${v.endMs}|${v.pings}`).sort();
  }
}
