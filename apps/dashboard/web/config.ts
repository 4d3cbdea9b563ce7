// The page's runtime configuration (config.json, served by the API from DASHBOARD_TILE_URL and its
// attribution; docs/dashboard.md). A page without it (a static build) falls back to no base map.

export interface RuntimeConfig {
  tileUrl: string | null;
  tileAttribution: string | null;
}

export async function loadConfig(): Promise<RuntimeConfig> {
  const fallback: RuntimeConfig = { tileUrl: null, tileAttribution: null };
  try {
    const res = await fetch('./config.json', { cache: 'no-cache' });
    if (res.ok && (res.headers.get('content-type') ?? '').includes('json'))
      return { ...fallback, ...(await res.json()) };
  } catch {}
  return fallback;
}
