import { javaPartition } from '@footfall/kafka';
import { cellToParent } from 'h3-js';
import { LRUCache } from 'lru-cache';

/** Where a ping's record goes: Kafka key (the region cell) and partition. */
export interface Route {
  key: Buffer;
  partition: number;
}

const MAX_CACHED_REGIONS = 100_000;

/** Value of a lower-case hex digit's char code (h3-js writes lower case). */
function hexValue(code: number): number {
  return code <= 57 ? code - 48 : code - 87;
}

/**
 * Region → key bytes and partition (docs/architecture.md: key = region cell, partition =
 * javaPartition(region, partitions)). Regions are few (res 5: ~250 km² each), so the cache stays
 * small. Keyed by region, not cell: at res 10 a city has ~10⁵ cells, a per-cell cache thrashes
 * (measured slower).
 */
export class RegionRouter {
  readonly #regionResolution: number;
  readonly #cellResolution: number;
  // Bounded by MAX_CACHED_REGIONS, least recently used dropped first; in practice they hold a few
  // entries per region and never reach it.
  readonly #cache = new LRUCache<string, Route>({ max: MAX_CACHED_REGIONS });
  readonly #numeric = new LRUCache<number, Route>({ max: MAX_CACHED_REGIONS });
  /** Hex characters of a cell that fix its region (see route). */
  readonly #prefixChars: number;
  #partitions = 0;

  constructor(options: { cellResolution: number; regionResolution: number }) {
    this.#cellResolution = options.cellResolution;
    this.#regionResolution = options.regionResolution;
    // An H3 index is 64 bits; its hex form (15 chars, the top nibble is 0) reads, from the left:
    // mode, resolution, base cell, then 3 bits per resolution digit. The region (the parent at
    // REGION_RESOLUTION) depends only on the bits down to digit REGION_RESOLUTION, i.e. on the first
    // #prefixChars characters: cells sharing them share the region. The cache is keyed by that prefix,
    // so the parent is computed (an h3-js wasm call) once per prefix, not once per ping; a prefix
    // holds a few bits of the next digit too, so a region has at most a handful of prefixes.
    const lowestRegionBit = (15 - options.regionResolution) * 3;
    this.#prefixChars = Math.floor((59 - lowestRegionBit) / 4) + 1;
  }

  route(cell: string, partitions: number): Route {
    if (partitions !== this.#partitions) {
      this.#cache.clear();
      this.#numeric.clear();
      this.#partitions = partitions;
    }
    if (this.#regionResolution >= this.#cellResolution) return this.#lookup(cell, cell, partitions);
    if (this.#prefixChars <= 8 && cell.length === 15) {
      // The prefix as a number (no substring per ping): characters 1…prefixChars-1 are ≤ 28 bits, a
      // small integer; character 0 is the mode nibble, 8 for every cell.
      let key = 0;
      for (let i = 1; i < this.#prefixChars; i++) key = (key << 4) | hexValue(cell.charCodeAt(i));
      const route = this.#numeric.get(key);
      if (route !== undefined) return route;
      const fresh = this.#lookup(cell.slice(0, this.#prefixChars), cell, partitions);
      this.#numeric.set(key, fresh);
      return fresh;
    }
    return this.#lookup(cell.slice(0, this.#prefixChars), cell, partitions);
  }

  #lookup(prefix: string, cell: string, partitions: number): Route {
    let route = this.#cache.get(prefix);
    if (route === undefined) {
      const region =
        this.#regionResolution >= this.#cellResolution ? cell : cellToParent(cell, this.#regionResolution);
      route = { key: Buffer.from(region), partition: javaPartition(region, partitions) };
      this.#cache.set(prefix, route);
    }
    return route;
  }
}
