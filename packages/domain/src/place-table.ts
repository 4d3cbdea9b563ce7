// One partition's view of the place registry for PlaceTracker (place-occupancy.ts): places numbered
// 0, 1, … in the order the partition first meets them, and each cell's places (numbers) indexed by the
// aggregator's cell number, computed on first use (one string lookup per cell, not per ping).

import type { PlaceDef, PlaceIndex } from './place-index.ts';

const EMPTY: readonly number[] = Object.freeze([]);

export class PlaceTable {
  readonly #index: PlaceIndex;
  readonly #cellName: (num: number) => string;
  readonly #onGrow: (capacity: number) => void;
  readonly #nums = new Map<string, number>();
  /** Current definition per place number; undefined once deleted (the number stays reserved). */
  readonly #defs: (PlaceDef | undefined)[] = [];
  /** Length of every per-place array (place numbers are below it). */
  capacity = 64;
  /** Cell number → its places' numbers; undefined until the cell is first used. */
  readonly #cells: (readonly number[] | undefined)[] = [];
  /**
   * Cell number → 0 not computed yet, 1 no place, 2 some place: the per-segment check reads one byte of
   * a small array instead of a list object elsewhere in the heap (a cache miss per ping otherwise).
   */
  #state = new Uint8Array(1024);

  constructor(index: PlaceIndex, cellName: (num: number) => string, onGrow: (capacity: number) => void) {
    this.#index = index;
    this.#cellName = cellName;
    this.#onGrow = onGrow;
  }

  /** Place numbers handed out. */
  get count(): number {
    return this.#defs.length;
  }

  numOf(id: string): number | undefined {
    return this.#nums.get(id);
  }

  def(p: number): PlaceDef | undefined {
    return this.#defs[p];
  }

  /** True if some place holds the cell. */
  hasPlaces(cellNum: number): boolean {
    const s = cellNum < this.#state.length ? (this.#state[cellNum] as number) : 0;
    return s === 0 ? this.#compute(cellNum).length > 0 : s === 2;
  }

  /**
   * The places of a cell, computed on first use: place number, its current `effectiveFromMs`, … (side by
   * side: the check needs no second lookup).
   */
  placesOfCell(cellNum: number): readonly number[] {
    return this.#cells[cellNum] ?? this.#compute(cellNum);
  }

  /** Every place id known here or in the index. */
  allIds(): string[] {
    const ids = new Set(this.#nums.keys());
    for (const def of this.#index.values()) ids.add(def.id);
    return [...ids];
  }

  /**
   * Takes the index's current definitions of `ids` and recomputes the place lists of the used cells they
   * touch (old or new cells). Returns the cells that gained their first place (`tracked`) or lost their
   * last one (`untracked`).
   */
  apply(
    ids: readonly string[],
    cellNumber: (cell: string) => number | undefined,
  ): { tracked: Set<number>; untracked: Set<number> } {
    const affected = new Set<number>();
    const touch = (cells: readonly string[]) => {
      for (const c of cells) {
        const n = cellNumber(c);
        if (n !== undefined && this.#cells[n] !== undefined) affected.add(n);
      }
    };
    for (const id of ids) {
      const p = this.#nums.get(id);
      const old = p === undefined ? undefined : this.#defs[p];
      if (old !== undefined) touch(old.cells);
      const def = this.#index.get(id);
      if (def !== undefined) touch(def.cells);
      if (p === undefined) continue;
      this.#defs[p] = def;
    }
    const tracked = new Set<number>();
    const untracked = new Set<number>();
    for (const n of affected) {
      const was = (this.#cells[n] as readonly number[]).length > 0;
      const now = this.#compute(n).length > 0;
      if (!was && now) tracked.add(n);
      else if (was && !now) untracked.add(n);
    }
    return { tracked, untracked };
  }

  #compute(cellNum: number): readonly number[] {
    const defs = this.#index.placesOf(this.#cellName(cellNum));
    let a = EMPTY;
    if (defs.length > 0) {
      // A small array of Smis: cheaper to allocate than a typed array, and as compact for a few places.
      const list: number[] = [];
      for (let i = 0; i < defs.length; i++) {
        const def = defs[i] as PlaceDef;
        list.push(this.#intern(def), def.effectiveFromMs);
      }
      a = list;
    }
    while (this.#cells.length <= cellNum) this.#cells.push(undefined);
    this.#cells[cellNum] = a;
    if (cellNum >= this.#state.length) {
      const state = new Uint8Array(Math.max(2 * this.#state.length, cellNum + 1));
      state.set(this.#state);
      this.#state = state;
    }
    this.#state[cellNum] = a.length > 0 ? 2 : 1;
    return a;
  }

  #intern(def: PlaceDef): number {
    const known = this.#nums.get(def.id);
    if (known !== undefined) return known;
    const p = this.#defs.length;
    this.#nums.set(def.id, p);
    this.#defs.push(def);
    if (p >= this.capacity) {
      this.capacity *= 2;
      this.#onGrow(this.capacity);
    }
    return p;
  }
}
