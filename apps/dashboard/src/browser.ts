// Headless Chromium for the dashboard's browser tests and `npm run screenshot`: Debian's chromium
// (scripts/ensure-chromium.ts installs it) driven by playwright-core, whose own browser download cannot
// reach its CDN from these machines.

import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** The Chromium binary (CHROMIUM_PATH, default Debian's /usr/bin/chromium). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const inCi = () => process.env.CI === 'true' || process.env.CI === '1';

/**
 * Why the browser tests cannot run here, or false when they can. Under CI=true it is always false: a
 * missing browser must fail the run (at launch, with the path in the message), never skip it.
 */
export function chromiumSkipReason(): string | false {
  if (existsSync(CHROMIUM_PATH) || inCi()) return false;
  return `chromium not found at ${CHROMIUM_PATH}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`;
}

/**
 * Launches headless Chromium. WebGL (MapLibre) runs on SwiftShader, Chromium's CPU renderer: no GPU is
 * needed, and `--enable-unsafe-swiftshader` keeps the page's console free of the fallback warning.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`chromium not found at ${CHROMIUM_PATH} (CI=true: the browser tests are required)`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--enable-unsafe-swiftshader',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
