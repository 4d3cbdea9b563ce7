// CI guard (part of `npm run check`): every installed package must accept the Node that runs this
// project's code, which is the `node` devDependency pinned in package-lock.json (Node 24), not the
// Node that happens to run npm.
//
// Why this exists: npm checks `engines` against `process.version` of the Node running npm itself and
// has no setting to name another runtime (npm 6's `node-version` config is gone since npm 7). On a
// machine whose npm runs on an older Node (Node 20 here) it warns EBADENGINE for dependencies that
// need Node ≥ 22, although none of them ever runs on that Node. This check is the same test against
// the right runtime, and it fails instead of warning. It also keeps the pins in step: the root
// `engines` range, the `node` package, .nvmrc / .node-version and the Docker base image (test/deploy
// checks the image).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import semver from 'semver';

interface LockEntry {
  version?: string;
  engines?: Record<string, string> | string[];
  optional?: boolean;
  dev?: boolean;
  link?: boolean;
}

const root = resolve(import.meta.dirname, '..');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines?: { node?: string };
};

const runtime = lock.packages['node_modules/node']?.version;
if (!runtime) {
  console.error('package-lock.json has no node_modules/node: the project must pin its Node runtime');
  process.exit(1);
}
const problems: string[] = [];
const wanted = manifest.engines?.node;
if (!wanted || !semver.satisfies(runtime, wanted))
  problems.push(`package.json engines.node "${wanted}" does not accept the pinned node@${runtime}`);
// Version managers (nvm, fnm, n, asdf, CI setup actions) read these to put npm itself on the runtime.
for (const file of ['.nvmrc', '.node-version']) {
  const named = readFileSync(join(root, file), 'utf8').trim();
  if (named !== runtime) problems.push(`${file} names ${named}, not the pinned node@${runtime}`);
}
if (process.versions.node !== runtime)
  problems.push(`this check runs on Node ${process.versions.node}, not the pinned ${runtime} (use npm run)`);

let checked = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  // Optional packages may legitimately be for another platform or Node; npm skips them itself.
  if (!path || entry.link || entry.optional || !entry.engines || Array.isArray(entry.engines)) continue;
  const range = entry.engines.node;
  if (!range) continue;
  checked++;
  if (!semver.satisfies(runtime, range, { includePrerelease: true }))
    problems.push(`${path.replace(/^.*node_modules\//, '')}@${entry.version} needs Node ${range}`);
}

if (problems.length) {
  console.error(`engines check against node@${runtime} failed:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`engines: all ${checked} packages with an engines.node range accept node@${runtime}`);
