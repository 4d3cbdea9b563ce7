// Part of `npm test` (pretest): the deploy tests render deploy/k8s with `kubectl kustomize`. Installs
// kubectl when it is missing and we may (root + apt-get, from whichever apt source provides it);
// otherwise: under CI=true fail with the reason, locally say which tests will be skipped. See
// scripts/kubectl.ts for why Debian's own (too old) kubectl is no fallback.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { kustomizeProblem } from './kubectl.ts';

let problem = kustomizeProblem();
if (problem && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.error(`[setup] ${problem}: trying \`apt-get install kubectl\`…`);
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'kubectl'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    console.error('[setup] no apt source provides a `kubectl` package here');
  }
  problem = kustomizeProblem();
}
if (problem) {
  if (process.env.CI === 'true') {
    console.error(`[setup] ${problem}. The deploy tests need kubectl with kustomize v4+ (CI=true: failing).`);
    process.exit(1);
  }
  console.warn(`[setup] ${problem}: the rendered-manifest deploy tests will be skipped.`);
}
