/**
 * City centres (lat, lng) far apart, so that their regions spread over several partitions: the
 * processor's tests and benchmark generate their pings around these.
 */
export const CENTRES: readonly [number, number][] = [
  [52.52, 13.405],
  [48.8566, 2.3522],
  [51.5072, -0.1276],
  [40.4168, -3.7038],
  [41.9028, 12.4964],
  [59.3293, 18.0686],
  [50.0755, 14.4378],
  [47.4979, 19.0402],
];
