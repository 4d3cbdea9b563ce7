// Typed client of the Footfall query API (docs/api.md). Same origin by default: the page is served by
// the API at /dashboard/, so every URL here is origin-relative (`/v1/…`).

export interface TopLocation {
  rank: number;
  cell: string;
  devices: number;
  lat?: number;
  lon?: number;
}

export interface PopularAnswer {
  bucketStartMs: number;
  bucketMs: number;
  resolution: number;
  k: number;
  kAnonymity: number;
  locations: TopLocation[];
}

export interface OccupancyAnswer {
  cell: string;
  bucketStartMs: number;
  bucketMs: number;
  devices: number | null;
  suppressed: boolean;
  kAnonymity: number;
}

export interface SeriesPoint {
  startMs: number;
  devices: number | null;
  suppressed: boolean;
}

export interface SeriesAnswer {
  cell: string;
  fromMs: number;
  toMs: number;
  stepMs: number;
  kAnonymity: number;
  points: SeriesPoint[];
}

export interface TimeAtPlace {
  cell: string;
  timeSpentMs: number;
  visits: number;
}

export interface UserTimeAnswer {
  userId: string;
  fromMs: number;
  toMs: number;
  totalMs: number;
  locations: TimeAtPlace[];
}

export interface LivePopular {
  bucketStartMs: number;
  bucketMs: number;
  locations: TopLocation[];
}

export interface LiveChange {
  cell: string;
  bucketStartMs: number;
  devices: number | null;
  suppressed: boolean;
}

export interface LiveOccupancy {
  changes: LiveChange[];
  truncated: boolean;
}

/** An error answer of the API (`{"error":{"code","message"}}`) or a network failure. */
export class ApiRequestError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export type BBox = [minLon: number, minLat: number, maxLon: number, maxLat: number];

export class FootfallApi {
  readonly base: string;
  constructor(base = '') {
    this.base = base.replace(/\/+$/, '');
  }

  async #get<T>(
    path: string,
    params: Record<string, string | number | undefined>,
    token?: string,
  ): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
    const url = `${this.base}${path}${qs.size ? `?${qs}` : ''}`;
    let res: Response;
    try {
      res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    } catch (error) {
      throw new ApiRequestError(0, 'NETWORK', `cannot reach the API (${(error as Error).message})`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiRequestError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? res.statusText);
    }
    return body as T;
  }

  popular(q: {
    at?: number;
    k?: number;
    bbox?: BBox | undefined;
    resolution?: number;
  }): Promise<PopularAnswer> {
    return this.#get('/v1/popular', {
      at: q.at,
      k: q.k,
      resolution: q.resolution,
      bbox: q.bbox?.map((n) => n.toFixed(6)).join(','),
    });
  }

  occupancy(cell: string, at: number): Promise<OccupancyAnswer> {
    return this.#get('/v1/occupancy', { cell, at });
  }

  series(cell: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesAnswer> {
    return this.#get('/v1/occupancy/series', { cell, from: fromMs, to: toMs, step: stepMs });
  }

  userTime(userId: string, token: string, fromMs: number, toMs: number): Promise<UserTimeAnswer> {
    return this.#get(`/v1/users/${encodeURIComponent(userId)}/time`, { from: fromMs, to: toMs }, token);
  }

  /** Opens the SSE stream; EventSource reconnects by itself (the server sends `retry:`). */
  live(
    k: number,
    handlers: {
      popular(p: LivePopular): void;
      occupancy(o: LiveOccupancy): void;
      status(s: 'connecting' | 'open' | 'error'): void;
    },
  ): () => void {
    const source = new EventSource(`${this.base}/v1/live?k=${k}`);
    handlers.status('connecting');
    source.addEventListener('open', () => handlers.status('open'));
    source.addEventListener('error', () =>
      handlers.status(source.readyState === EventSource.CLOSED ? 'error' : 'connecting'),
    );
    source.addEventListener('popular', (e) => handlers.popular(JSON.parse((e as MessageEvent<string>).data)));
    source.addEventListener('occupancy', (e) =>
      handlers.occupancy(JSON.parse((e as MessageEvent<string>).data)),
    );
    return () => source.close();
  }
}

/** The `sub` (user id) of a JWT, read without verifying it (the API verifies); undefined if not a JWT. */
export function tokenSubject(token: string): string | undefined {
  const part = token.trim().split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' && sub ? sub : undefined;
  } catch {
    return undefined;
  }
}
