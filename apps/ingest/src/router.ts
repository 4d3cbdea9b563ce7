import { javaPartition } from '@footfall/domain';
import { cellToParent } from 'h3-js';

/** Where a ping's record goes: Kafka key (the region cell) and partition. */
export interface Route {
  key: Buffer;
  partition: number;
}

const MAX_CACHED_REGIONS = 100_000;

/**
 * Region → key bytes and partition (docs/architecture.md: key = region cell, partition =
 * javaPartition(region, partitions)). Regions are few (res 5: ~250 km² each), so the cache stays
 * small. Keyed by region, not cell: at res 10 a city has ~10⁵ cells, a per-cell cache thrashes
 * (measured slower).
 */
export class RegionRouter {
  readonly #regionResolution: number;
  readonly #cellResolution: number;
  readonly #cache = new Map<string, Route>();
  #partitions = 0;

  constructor(options: { cellResolution: number; regionResolution: number }) {
    this.#cellResolution = options.cellResolution;
    this.#regionResolution = options.regionResolution;
  }

  route(cell: string, partitions: number): Route {
    if (partitions !== this.#partitions) {
      this.#cache.clear();
      this.#partitions = partitions;
    }
    const region =
      this.#regionResolution >= this.#cellResolution ? cell : cellToParent(cell, this.#regionResolution);
    let route = this.#cache.get(region);
    if (route === undefined) {
      if (this.#cache.size >= MAX_CACHED_REGIONS) this.#cache.clear();
      route = { key: Buffer.from(region), partition: javaPartition(region, partitions) };
      this.#cache.set(region, route);
    }
    return route;
  }
}
