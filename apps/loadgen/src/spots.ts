import { createCity } from '@footfall/simulator';
import type { Spot } from './batches.ts';

/** The simulated city's places (its homes, offices, cafés, …) as the spots devices stand at. */
export function citySpots(seed: number): Spot[] {
  return createCity(seed).places.map((p) => ({ lat: p.lat, lon: p.lon }));
}
