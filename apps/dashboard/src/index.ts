// Node-side face of @footfall/dashboard: where the built page lives and how to (re)build it.
// The page itself (browser code) is in web/ and is bundled by Vite into dist/, which the API serves at
// /dashboard/ (apps/api/src/dashboard.ts). dist/ is never committed: tests and the dev stack call
// `ensureDashboardBuilt()`, which runs `vite build` only when dist/ is missing or older than the sources.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** apps/dashboard/ */
export const DASHBOARD_ROOT = fileURLToPath(new URL('..', import.meta.url));
/** apps/dashboard/dist/ — the built page (index.html + hashed assets). */
export const DASHBOARD_DIST_DIR = join(DASHBOARD_ROOT, 'dist');

const SOURCES = ['web', 'index.html', 'vite.config.ts', 'package.json'];

async function newestMtime(path: string): Promise<number> {
  const s = await stat(path).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of await readdir(path)) newest = Math.max(newest, await newestMtime(join(path, entry)));
  return newest;
}

/** True when dist/ is missing or older than any source file of the page. */
export async function dashboardBuildIsStale(): Promise<boolean> {
  const built = await stat(join(DASHBOARD_DIST_DIR, 'index.html')).catch(() => undefined);
  if (!built) return true;
  let newest = 0;
  for (const s of SOURCES) newest = Math.max(newest, await newestMtime(join(DASHBOARD_ROOT, s)));
  return newest > built.mtimeMs;
}

/**
 * Runs `vite build` into a temporary folder and swaps it in (so a concurrent reader never sees a half
 * written dist/). Vite is a dev dependency: this is for tests, the dev stack and image builds.
 */
export async function buildDashboard(): Promise<string> {
  const { build } = await import('vite');
  const tmp = `${DASHBOARD_DIST_DIR}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await build({
      configFile: join(DASHBOARD_ROOT, 'vite.config.ts'),
      build: { outDir: tmp, emptyOutDir: true },
      logLevel: 'warn',
    });
    await rm(DASHBOARD_DIST_DIR, { recursive: true, force: true });
    await rename(tmp, DASHBOARD_DIST_DIR);
  } finally {
    if (existsSync(tmp)) await rm(tmp, { recursive: true, force: true });
  }
  return DASHBOARD_DIST_DIR;
}

/** Builds the page if dist/ is missing or stale; returns the dist folder. */
export async function ensureDashboardBuilt(): Promise<string> {
  if (await dashboardBuildIsStale()) await buildDashboard();
  return DASHBOARD_DIST_DIR;
}
