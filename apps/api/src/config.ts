import {
  ConfigError,
  type ConfigOf,
  commonSpec,
  erasureTopicSpec,
  loadConfig,
  placesTopicSpec,
  privacyModeSpec,
  topicSpec,
  v,
} from '@footfall/config';
import { dpMechanism } from '@footfall/domain';

/** Every setting of the API, with its env variable, default and unit. */
export const apiSpec = {
  ...commonSpec,
  ...topicSpec,
  ...erasureTopicSpec,
  ...placesTopicSpec,
  placesMaxCells: v.int(
    'PLACES_MAX_CELLS',
    2_000,
    'most H3 cells a place polygon may map to (more → 422); 2000 cells at res 10 ≈ 30 km²',
    1,
    1_000_000,
  ),
  presenceMaxGapMs: v.int(
    'PRESENCE_MAX_GAP_MS',
    600_000,
    "max gap between pings of one stay, ms (as the processor's): visits to a place's cells closer than this merge",
    1_000,
  ),
  popularTimesWeeks: v.int(
    'PLACES_POPULAR_TIMES_WEEKS',
    4,
    'popular times: median over at most this many past weeks (default of ?weeks=)',
    1,
    52,
  ),
  databaseUrl: v.optionalString('DATABASE_URL', 'PostgreSQL URL; unset → embedded PGlite (dev only)'),
  port: v.int('API_PORT', 8080, 'HTTP port (API, /metrics, /healthz, /readyz); 0 = any free port', 0, 65_535),
  host: v.string('API_HOST', '0.0.0.0', 'HTTP listen address'),
  kAnonymity: v.int('K_ANONYMITY', 5, 'public counts below this are suppressed', 1, 1_000_000),
  ...privacyModeSpec,
  dpEpsilonPerRelease: v.number(
    'DP_EPSILON_PER_RELEASE',
    1,
    'dp mode: ε of one bucket release (noise scale DP_MAX_CELLS_PER_BUCKET/ε; resolution 1e-6)',
    0.000001,
    100,
  ),
  dpDeltaPerRelease: v.number(
    'DP_DELTA_PER_RELEASE',
    1e-6,
    'dp mode: δ of one bucket release (sets the release threshold: a lone device shows up with probability <= δ)',
    1e-15,
    0.1,
  ),
  dpEpsilonPerDay: v.number(
    'DP_EPSILON_PER_DAY',
    100,
    'dp mode: ε budget of a release period (UTC day of the bucket); releases beyond it are refused (429)',
    0,
  ),
  dpDeltaPerDay: v.number('DP_DELTA_PER_DAY', 1e-4, 'dp mode: δ budget of a release period (UTC day)', 0, 1),
  dpReleaseDelayMs: v.int(
    'DP_RELEASE_DELAY_MS',
    720_000,
    'dp mode: a bucket is released (once, then frozen) this long after it ends, ms (>= PRESENCE_MAX_GAP_MS, so presence carried between sparse pings has been filled in); before that it has no public value',
    0,
    86_400_000,
  ),
  maxRangeDays: v.int('MAX_RANGE_DAYS', 31, 'longest [from,to) a query may span, days', 1, 3_660),
  maxSeriesPoints: v.int('API_MAX_SERIES_POINTS', 10_000, 'most points a series may return', 1, 1_000_000),
  userTokenSecret: v.optionalString(
    'USER_TOKEN_SECRET',
    'HS256 secret of user tokens (JWT, aud "footfall-api", sub = device id); unset → user tokens rejected',
  ),
  operatorToken: v.optionalString('OPERATOR_TOKEN', 'operator bearer token; unset → no operator access'),
  alertsWebhookAllowPrivate: v.bool(
    'ALERTS_WEBHOOK_ALLOW_PRIVATE',
    false,
    'allow webhook targets on loopback/private addresses (dev, tests); link-local/metadata never',
  ),
  liveIntervalMs: v.int('API_LIVE_INTERVAL_MS', 1_000, 'live stream tick (shared DB poll), ms', 50, 60_000),
  liveMaxChanges: v.int(
    'API_LIVE_MAX_CHANGES',
    1_000,
    'most occupancy changes sent per live tick',
    1,
    100_000,
  ),
  dbPoolSize: v.int(
    'DB_POOL_SIZE',
    4,
    'PostgreSQL connections (about 2 per core: more only adds context switches)',
    1,
    200,
  ),
  nowcastHorizonMs: v.int(
    'NOWCAST_HORIZON_MS',
    900_000,
    'buckets are provisional until their end + this, ms (same value as the processor)',
    1_000,
  ),
  popularCacheMs: v.int('API_POPULAR_CACHE_MS', 1_000, 'top-K answers are cached this long, ms (0 = off)', 0),
  placesCacheMs: v.int(
    'API_PLACES_CACHE_MS',
    1_000,
    'the place registry is checked once per this, ms, and cached place reads, lists and place answers that changed are dropped ' +
      '(0 = no registry caching); a change through another API instance shows after at most twice this',
    0,
  ),
  placesSettledCacheMs: v.int(
    'API_PLACES_SETTLED_CACHE_MS',
    // Short enough that a late backfill of old days (npm start's history lane, a re-processing) shows
    // within a minute; the answers are refreshed in the background, so a warm cache stays warm.
    60_000,
    'gated place answers over counts that no longer change (buckets and days 2 h after their end: occupancy, ' +
      'series, popular places, popular times) are fresh this long, then refreshed in the background, ms (0 = off); ' +
      'a place change drops them (API_PLACES_CACHE_MS)',
    0,
  ),
  placesDwellFinalCacheMs: v.int(
    'API_PLACES_DWELL_FINAL_CACHE_MS',
    60_000,
    'gated dwell answers of final days (2 days + 2 h after the day) are fresh this long, then refreshed in the ' +
      'background, ms (0 = off); an erasure shows after at most twice this',
    0,
  ),
  placesDwellOpenCacheMs: v.int(
    'API_PLACES_DWELL_OPEN_CACHE_MS',
    5_000,
    'gated dwell answers of days still open to visits are fresh this long, then refreshed in the background, ms ' +
      '(0 = off); a newly closed visit or an erasure shows after at most twice this',
    0,
  ),
  dashboardTileUrl: v.string(
    'DASHBOARD_TILE_URL',
    'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
    'dashboard base map: XYZ raster tile URL template ({z}/{x}/{y}); "none" → no base map',
  ),
  dashboardTileAttribution: v.string(
    'DASHBOARD_TILE_ATTRIBUTION',
    '© OpenStreetMap contributors',
    'attribution shown with the dashboard base map',
  ),
};

export type ApiConfig = ConfigOf<typeof apiSpec>;

/** The user-token parameters shared with apps/ingest, which issues the tokens at enrollment. */
export { USER_TOKEN_RULES as USER_TOKEN } from '@footfall/auth';

/** Reads the API's configuration from `env`; `overrides` win (tests, dev stack). */
export function loadApiConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof typeof apiSpec, unknown>> = {},
): ApiConfig {
  const config = loadConfig(apiSpec, env, overrides);
  if (config.privacyMode === 'dp') {
    try {
      dpMechanism({
        epsilon: config.dpEpsilonPerRelease,
        delta: config.dpDeltaPerRelease,
        maxCellsPerBucket: config.dpMaxCellsPerBucket,
      });
    } catch (error) {
      throw new ConfigError([`PRIVACY_MODE=dp: ${(error as Error).message}`]);
    }
  }
  return config;
}
