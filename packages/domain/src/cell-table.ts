// Cell interning for one partition's aggregation state: every H3 cell id string is held once and the
// state refers to it by a small integer (window pings, anchors, occupancy keys), so no per-ping string
// or pointer is kept. Region and jitter-disk membership are derived per cell number.

import { gridDisk } from 'h3-js';
import { regionOf } from './cells.ts';
import { CELL_LIMIT } from './device-state.ts';

/** Jitter disks cached at most (a disk is recomputable from the cell, so the cache may be cleared). */
const DISK_CACHE_LIMIT = 100_000;

/**
 * Cell id ↔ cell number. Numbers are never reused or forgotten while the table lives, because window
 * pings and buckets hold them; the table is bounded by the distinct cells of the partition's area
 * (~40 B per cell plus its region pointer), not by the ping rate.
 */
export class CellTable {
  readonly #nums = new Map<string, number>();
  readonly #cells: string[] = [];
  readonly #regionOf: string[] = [];
  readonly #regions = new Map<string, string>();
  readonly #disks = new Map<number, Set<number>>();
  readonly #jitterRing: number;
  readonly #regionResolution: number;

  constructor(jitterRing: number, regionResolution: number) {
    this.#jitterRing = jitterRing;
    this.#regionResolution = regionResolution;
  }

  /** The number of `cell`, interning it on first sight (decoded pings bring a fresh string each). */
  num(cell: string): number {
    const n = this.#nums.get(cell);
    if (n !== undefined) return n;
    const m = this.#cells.length;
    if (m >= CELL_LIMIT) throw new RangeError(`more than ${CELL_LIMIT} distinct cells in one partition`);
    this.#nums.set(cell, m);
    this.#cells.push(cell);
    let r: string;
    try {
      r = regionOf(cell, this.#regionResolution);
    } catch {
      r = '';
    }
    // One shared region string per region.
    const shared = this.#regions.get(r);
    if (shared === undefined) this.#regions.set(r, r);
    this.#regionOf.push(shared ?? r);
    return m;
  }

  /** The number of `cell` if it was interned (read paths must not grow the table). */
  lookup(cell: string): number | undefined {
    return this.#nums.get(cell);
  }

  cell(num: number): string {
    return this.#cells[num] as string;
  }

  region(num: number): string {
    return this.#regionOf[num] as string;
  }

  /** True if `cell` is within the jitter ring of `anchor` (the stay rule, docs/insights.md). */
  near(anchor: number, cell: number): boolean {
    if (anchor === cell) return true;
    let s = this.#disks.get(anchor);
    if (s === undefined) {
      s = new Set();
      try {
        for (const c of gridDisk(this.cell(anchor), this.#jitterRing)) s.add(this.num(c));
      } catch {
        s.add(anchor);
      }
      if (this.#disks.size >= DISK_CACHE_LIMIT) this.#disks.clear();
      this.#disks.set(anchor, s);
    }
    return s.has(cell);
  }
}
