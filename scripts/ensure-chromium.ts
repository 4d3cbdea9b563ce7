// Part of `npm test` (pretest): the dashboard's browser tests drive Debian's Chromium with
// playwright-core (Playwright's own browser download cannot reach its CDN from these machines).
// Installs the `chromium` package when it is missing and we may (root + apt-get); otherwise says
// that the browser tests will be skipped and how to enable them (under CI=true: fails instead).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (existsSync(CHROMIUM)) process.exit(0);

const canInstall = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
if (!canInstall) {
  if (process.env.CI === 'true') {
    console.error(
      `[setup] ${CHROMIUM} not found and cannot be installed here (needs root + apt-get): the dashboard ` +
        'browser tests need Chromium (CI=true: failing). Install `chromium` or set CHROMIUM_PATH.',
    );
    process.exit(1);
  }
  console.warn(
    `[setup] ${CHROMIUM} not found: the dashboard browser tests will be skipped. ` +
      'Install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`) or set CHROMIUM_PATH.',
  );
  process.exit(0);
}
console.error('[setup] installing Debian chromium for the dashboard browser tests (one time)…');
const apt = (args: string[]) =>
  execFileSync('apt-get', args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
try {
  apt(['install', '-y', '--no-install-recommends', 'chromium']);
} catch {
  apt(['update']);
  apt(['install', '-y', '--no-install-recommends', 'chromium']);
}
