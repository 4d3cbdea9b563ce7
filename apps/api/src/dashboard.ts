// Serves the built dashboard (apps/dashboard/dist, a Vite build) at /dashboard/. The page talks to this
// same API (relative /v1/… URLs, SSE /v1/live), so no CORS is involved. See docs/dashboard.md.

import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';

/** Where `vite build` writes the page (apps/dashboard/dist). */
export const DASHBOARD_DIST_DIR = fileURLToPath(new URL('../../dashboard/dist', import.meta.url));

export interface DashboardOptions {
  /** The built page: a folder with index.html and assets/ (default DASHBOARD_DIST_DIR). */
  distDir?: string;
  /** Base map: an XYZ raster tile URL template (`https://…/{z}/{x}/{y}.png`); unset → plain background (DASHBOARD_TILE_URL). */
  tileUrl?: string | undefined;
  /** Attribution shown under the base map (required by most tile providers). */
  tileAttribution?: string | undefined;
  /** URL prefix (default `/dashboard`). */
  prefix?: string;
}

/**
 * Scripts, workers, styles and API calls only from this origin; the base map's tiles (fetched by
 * MapLibre, so `connect-src`) only from the configured tile server. The token a user pastes into
 * "my time" can thus only travel to this API.
 */
export function dashboardCsp(tileUrl: string | undefined): string {
  const tiles = tileUrl ? ` ${tileOrigin(tileUrl)}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "worker-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    `img-src 'self' data: blob:${tiles}`,
    `connect-src 'self'${tiles}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The origin of a tile URL template (`https://{s}.tile.example/{z}/{x}/{y}.png` → `https://*.tile.example`). */
function tileOrigin(tileUrl: string): string {
  const url = URL.parse(tileUrl.replace(/\{s\}\./, 'subdomain-placeholder.').replace(/\{[a-z]+\}/g, '0'));
  if (url?.protocol !== 'https:' && url?.protocol !== 'http:')
    throw new Error(`DASHBOARD_TILE_URL must be an http(s) URL template, got ${tileUrl}`);
  return `${url.protocol}//${url.host.replace('subdomain-placeholder.', '*.')}`;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Footfall dashboard</title>
<p>The dashboard is not built. Run <code>npm run build -w @footfall/dashboard</code> and reload.</p>`;

/**
 * Fastify plugin: `GET /dashboard/` (index.html, never cached), `/dashboard/assets/*` (content-hashed,
 * cached for a year), `/dashboard/config.json` (the runtime configuration: base map tile URL) and a
 * redirect `/dashboard` → `/dashboard/`. A missing build answers 503 with how to build it instead of
 * failing the API's start.
 */
export async function registerDashboard<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  options: DashboardOptions = {},
): Promise<void> {
  const prefix = (options.prefix ?? '/dashboard').replace(/\/+$/, '');
  const distDir = options.distDir ?? DASHBOARD_DIST_DIR;
  const config = { tileUrl: options.tileUrl ?? null, tileAttribution: options.tileAttribution ?? null };
  const csp = dashboardCsp(options.tileUrl);

  app.get(prefix, { schema: { hide: true } }, async (_request, reply) => reply.redirect(`${prefix}/`, 301));
  app.get(`${prefix}/config.json`, { schema: { hide: true } }, async (_request, reply) =>
    reply.header('cache-control', 'no-cache').send(config),
  );

  if (!existsSync(join(distDir, 'index.html'))) {
    app.log.warn({ distDir }, 'dashboard not built: /dashboard/ answers 503');
    app.get(`${prefix}/*`, { schema: { hide: true } }, async (_request, reply) =>
      reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT),
    );
    return;
  }

  await app.register(fastifyStatic, {
    root: distDir,
    prefix: `${prefix}/`,
    decorateReply: false,
    schemaHide: true,
    index: ['index.html'],
    cacheControl: false,
    setHeaders: (reply, path) => {
      const immutable = path.startsWith(join(distDir, 'assets'));
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      reply.header('x-content-type-options', 'nosniff');
      reply.header('content-security-policy', csp);
    },
  });
}
