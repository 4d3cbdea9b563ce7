import { cellOf, DEFAULT_CELL_RESOLUTION } from '@footfall/domain';
import { cellToLatLng, gridDisk, gridDistance } from 'h3-js';
import { type LatLon, offsetM } from './geo.ts';
import { Rng } from './random.ts';

/** Kinds of named places. */
export type PlaceKind = 'home' | 'office' | 'cafe' | 'station' | 'stadium' | 'park' | 'mall' | 'market';

/** A named place of the synthetic city. */
export interface Place {
  /** Stable id, e.g. `cafe-3`. */
  readonly id: string;
  readonly kind: PlaceKind;
  readonly name: string;
  /** Centre: the centre of its H3 cell at the city's cell resolution (so small places fit in one cell). */
  readonly lat: number;
  readonly lon: number;
  /** H3 cell of the centre. */
  readonly cell: string;
  /** Radius (m) of the area where people stand while there. */
  readonly radiusM: number;
  /** H3 rings around `cell` that contain the whole area (0: one cell; the stadium: 1). */
  readonly ring: number;
  /** Nominal capacity (people); informational, used to scale popularity. */
  readonly capacity: number;
  /** Relative attractiveness among places of the same kind (> 0). */
  readonly popularity: number;
}

/** A scheduled event at the stadium. Times in ms since the epoch. */
export interface StadiumEvent {
  readonly placeId: string;
  readonly startMs: number;
  readonly endMs: number;
}

/** The synthetic city: places around a centre. */
export interface City {
  readonly seed: string;
  readonly center: LatLon;
  readonly radiusM: number;
  readonly cellResolution: number;
  readonly places: readonly Place[];
  readonly byId: ReadonlyMap<string, Place>;
  readonly byKind: Readonly<Record<PlaceKind, readonly Place[]>>;
}

/** Options of {@link createCity}. */
export interface CityOptions {
  /** Centre of the city (default Lisbon, Baixa: 38.7139, -9.1394). */
  center?: LatLon;
  /** Radius (m) over which homes are spread (default 3000). */
  radiusM?: number;
  /** Number of places per kind (defaults: 40 homes, 12 offices, 12 cafés, 4 stations, 1 stadium, 4 parks,
   * 1 mall, 2 markets). */
  counts?: Partial<Record<PlaceKind, number>>;
  /** H3 resolution of a location (default 10, `CELL_RESOLUTION`). */
  cellResolution?: number;
  /**
   * Minimum H3 grid distance between the outer rings of two places (default 3). With JITTER_RING 1 this
   * keeps the cells a stay at one place can be attributed to (place ring + 1) disjoint from another's.
   */
  minGapRings?: number;
}

export const DEFAULT_CITY_COUNTS: Readonly<Record<PlaceKind, number>> = Object.freeze({
  home: 40,
  office: 12,
  cafe: 12,
  station: 4,
  stadium: 1,
  park: 4,
  mall: 1,
  market: 2,
});

const KIND_SHAPE: Record<PlaceKind, { radiusM: number; ring: number; capacity: [number, number] }> = {
  home: { radiusM: 20, ring: 0, capacity: [50, 400] },
  office: { radiusM: 25, ring: 0, capacity: [100, 1500] },
  cafe: { radiusM: 12, ring: 0, capacity: [20, 80] },
  station: { radiusM: 25, ring: 0, capacity: [200, 2000] },
  // 100 m stays inside the 7 cells of ring 1 at resolution 10 (inner radius of that union >= 2 edges).
  stadium: { radiusM: 100, ring: 1, capacity: [20_000, 50_000] },
  park: { radiusM: 25, ring: 0, capacity: [100, 600] },
  // A mall spans several cells (ring 1), like the stadium but busy every day.
  mall: { radiusM: 90, ring: 1, capacity: [2_000, 8_000] },
  // A street market: one cell of stalls, busiest on weekend mornings.
  market: { radiusM: 25, ring: 0, capacity: [200, 1_000] },
};

/** Where each kind tends to be: gaussian spread (fraction of the radius) around the centre or a ring. */
const KIND_SPREAD: Record<PlaceKind, { ringFrac: number; sigmaFrac: number }> = {
  home: { ringFrac: 0.55, sigmaFrac: 0.3 },
  office: { ringFrac: 0, sigmaFrac: 0.25 },
  cafe: { ringFrac: 0, sigmaFrac: 0.35 },
  station: { ringFrac: 0.45, sigmaFrac: 0.15 },
  stadium: { ringFrac: 0.7, sigmaFrac: 0.05 },
  park: { ringFrac: 0.5, sigmaFrac: 0.3 },
  mall: { ringFrac: 0.35, sigmaFrac: 0.1 },
  market: { ringFrac: 0.15, sigmaFrac: 0.2 },
};

const NAMES: Record<PlaceKind, string> = {
  home: 'Residences',
  office: 'Offices',
  cafe: 'Café',
  station: 'Station',
  stadium: 'Stadium',
  park: 'Park',
  mall: 'Mall',
  market: 'Market',
};

// Mall and market come last so that adding them left every earlier place of a seed where it was.
const ORDER: readonly PlaceKind[] = [
  'stadium',
  'station',
  'office',
  'cafe',
  'park',
  'home',
  'mall',
  'market',
];

/**
 * Builds a city deterministically from `seed`: places of each kind placed by rejection sampling so that
 * their cells are well apart (see {@link CityOptions.minGapRings}), centres snapped to cell centres.
 */
export function createCity(seed: string | number, options: CityOptions = {}): City {
  const center = options.center ?? { lat: 38.7139, lon: -9.1394 };
  const radiusM = options.radiusM ?? 3000;
  const res = options.cellResolution ?? DEFAULT_CELL_RESOLUTION;
  const minGap = options.minGapRings ?? 3;
  const counts = { ...DEFAULT_CITY_COUNTS, ...options.counts };
  const rng = Rng.derive(seed, 'city');
  const places: Place[] = [];
  for (const kind of ORDER) {
    const shape = KIND_SHAPE[kind];
    const spread = KIND_SPREAD[kind];
    for (let i = 0; i < counts[kind]; i++) {
      let placed = false;
      for (let attempt = 0; attempt < 2000 && !placed; attempt++) {
        // Widen the spread as attempts fail so dense cities still fit.
        const widen = 1 + attempt / 200;
        const angle = rng.uniform(0, 2 * Math.PI);
        const r = Math.abs(spread.ringFrac * radiusM + rng.normal() * spread.sigmaFrac * radiusM * widen);
        const p = offsetM(center, Math.cos(angle) * r, Math.sin(angle) * r);
        const cell = cellOf(p.lat, p.lon, res);
        if (places.some((q) => farApart(q.cell, q.ring, cell, shape.ring, minGap) === false)) continue;
        const [lat, lon] = cellToLatLng(cell);
        const capacity = Math.round(rng.uniform(shape.capacity[0], shape.capacity[1]));
        places.push({
          id: `${kind}-${i}`,
          kind,
          name: `${NAMES[kind]} ${i + 1}`,
          lat,
          lon,
          cell,
          radiusM: shape.radiusM,
          ring: shape.ring,
          capacity,
          // Zipf-like: a few places of each kind are much more popular than the rest.
          popularity: (capacity / shape.capacity[1]) * (1 / (1 + i)) ** 0.6,
        });
        placed = true;
      }
      if (!placed)
        throw new RangeError(`cannot place ${kind} ${i}: city too dense for minGapRings ${minGap}`);
    }
  }
  const byKind = {
    home: [],
    office: [],
    cafe: [],
    station: [],
    stadium: [],
    park: [],
    mall: [],
    market: [],
  } as Record<PlaceKind, Place[]>;
  for (const p of places) byKind[p.kind].push(p);
  return Object.freeze({
    seed: String(seed),
    center,
    radiusM,
    cellResolution: res,
    places: Object.freeze(places),
    byId: new Map(places.map((p) => [p.id, p])),
    byKind,
  });
}

function farApart(a: string, ringA: number, b: string, ringB: number, minGap: number): boolean {
  try {
    return gridDistance(a, b) >= ringA + ringB + minGap;
  } catch {
    // gridDistance fails across pentagon distortions; such cells are far apart anyway.
    return true;
  }
}

/**
 * Cells where a stay at `place` can be attributed: the place's own rings plus `jitterRing` (a stay is
 * anchored at its first ping's cell, which noise can put one ring off). Disjoint between places.
 */
export function placeCells(place: Place, jitterRing = 1): string[] {
  return gridDisk(place.cell, place.ring + jitterRing);
}
