// The cell → places index of one processor instance (docs/places.md): every place definition, the way a
// Kafka Streams GlobalKTable holds a whole compacted topic, plus a change log the per-partition
// trackers pull from (so no partition needs a subscription that outlives it).

/** One place as the stream sees it (the `places` topic's PlaceDefinition). */
export interface PlaceDef {
  readonly id: string;
  readonly version: number;
  /** H3 cells at CELL_RESOLUTION. */
  readonly cells: readonly string[];
  /** First bucket start (ms) this version applies to. */
  readonly effectiveFromMs: number;
  /** H3 cell at REGION_RESOLUTION holding every cell (the output partition's key). */
  readonly region: string;
}

const EMPTY: readonly PlaceDef[] = Object.freeze([]);
/** Changes kept for trackers that have not pulled them yet; a tracker further behind rebuilds. */
const CHANGE_LOG_LIMIT = 10_000;

export class PlaceIndex {
  readonly #places = new Map<string, PlaceDef>();
  readonly #byCell = new Map<string, PlaceDef[]>();
  /** Ids changed, in order; entry i has sequence number `#logBase + i + 1`. */
  #log: string[] = [];
  #logBase = 0;

  /** Places known. */
  get size(): number {
    return this.#places.size;
  }

  /** Sequence number of the latest change (0: none). */
  get seq(): number {
    return this.#logBase + this.#log.length;
  }

  get(id: string): PlaceDef | undefined {
    return this.#places.get(id);
  }

  values(): IterableIterator<PlaceDef> {
    return this.#places.values();
  }

  /** Places containing `cell` (the per-ping lookup: one Map get). */
  placesOf(cell: string): readonly PlaceDef[] {
    return this.#byCell.get(cell) ?? EMPTY;
  }

  /** Adds or replaces a place. An older or equal version than the one held is ignored (returns false). */
  upsert(def: PlaceDef): boolean {
    const old = this.#places.get(def.id);
    if (old !== undefined && old.version >= def.version) return false;
    if (old !== undefined) this.#unindex(old);
    const frozen = Object.freeze({ ...def, cells: Object.freeze([...def.cells]) });
    this.#places.set(def.id, frozen);
    for (const c of frozen.cells) {
      const list = this.#byCell.get(c);
      if (list === undefined) this.#byCell.set(c, [frozen]);
      else list.push(frozen);
    }
    this.#changed(def.id);
    return true;
  }

  /** Deletes a place (a tombstone). Returns false if it was unknown. */
  remove(id: string): boolean {
    const old = this.#places.get(id);
    if (old === undefined) return false;
    this.#places.delete(id);
    this.#unindex(old);
    this.#changed(id);
    return true;
  }

  /**
   * Ids changed after sequence number `since` (distinct, in order), or `undefined` when the log no
   * longer reaches back that far (the caller must then treat every place as changed).
   */
  changesSince(since: number): string[] | undefined {
    if (since < this.#logBase) return undefined;
    return [...new Set(this.#log.slice(since - this.#logBase))];
  }

  #unindex(def: PlaceDef): void {
    for (const c of def.cells) {
      const list = this.#byCell.get(c);
      if (list === undefined) continue;
      const i = list.indexOf(def);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#byCell.delete(c);
    }
  }

  #changed(id: string): void {
    this.#log.push(id);
    if (this.#log.length > CHANGE_LOG_LIMIT) {
      const drop = this.#log.length - CHANGE_LOG_LIMIT / 2;
      this.#log = this.#log.slice(drop);
      this.#logBase += drop;
    }
  }
}
