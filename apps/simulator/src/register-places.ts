import { regionOf } from '@footfall/domain';
import { cellsToMultiPolygon } from 'h3-js';
import { type City, type PlaceKind, placeCells } from './city.ts';

/** Kinds registered as named places by {@link registerCityPlaces}: public places, not homes. */
export const PUBLIC_PLACE_KINDS: readonly PlaceKind[] = [
  'station',
  'mall',
  'park',
  'office',
  'stadium',
  'market',
  'cafe',
];

/** A registered place: the API's id, the simulator's place, its cells. */
export interface RegisteredPlace {
  id: string;
  simId: string;
  cells: string[];
}

/**
 * Registers the city's public places through the API (`POST /v1/places`, operator token), each polygon
 * the outline of `placeCells(place, 1)` (where its visitors' pings are attributed), effective from
 * `effectiveFromMs`. A place straddling a region boundary becomes one place per region, as docs/places.md
 * asks (one polygon across regions is refused). Throws on any refusal.
 */
export async function registerCityPlaces(
  apiUrl: string,
  operatorToken: string,
  city: City,
  effectiveFromMs: number,
  kinds: readonly PlaceKind[] = PUBLIC_PLACE_KINDS,
): Promise<RegisteredPlace[]> {
  const out: RegisteredPlace[] = [];
  for (const place of city.places) {
    if (!kinds.includes(place.kind)) continue;
    const byRegion = new Map<string, string[]>();
    for (const c of placeCells(place, 1))
      byRegion.set(regionOf(c), [...(byRegion.get(regionOf(c)) ?? []), c]);
    for (const own of byRegion.values()) {
      const response = await fetch(`${apiUrl}/v1/places`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: place.name,
          category: place.kind,
          geometry: { type: 'MultiPolygon', coordinates: cellsToMultiPolygon(own, true) },
          effectiveFrom: String(effectiveFromMs),
        }),
      });
      const body = (await response.json()) as { id: string; cells: string[] };
      if (response.status !== 201)
        throw new Error(`registering ${place.id}: ${response.status} ${JSON.stringify(body)}`);
      out.push({ id: body.id, simId: place.id, cells: body.cells });
    }
  }
  return out;
}
