// CI guard: regenerates the protobuf code into a temp dir and fails if it differs from what is
// committed in packages/contracts/src/gen (a .proto changed without `npm run gen`, or generated
// code was edited by hand).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const committed = join(root, 'packages/contracts/src/gen');
const fresh = mkdtempSync(join(tmpdir(), 'footfall-gen-'));

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

try {
  const template = readFileSync(join(root, 'proto/buf.gen.yaml'), 'utf8').replace(
    'out: ../packages/contracts/src/gen',
    `out: ${fresh}`,
  );
  execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '--template', template], {
    cwd: join(root, 'proto'),
    stdio: 'inherit',
  });
  const all = [...new Set([...filesUnder(fresh), ...filesUnder(committed)])];
  const stale = all.filter((file) => read(join(fresh, file)) !== read(join(committed, file)));
  if (stale.length) {
    console.error(`generated code is stale; run \`npm run gen\` and commit. Differs: ${stale.join(', ')}`);
    process.exit(1);
  }
  console.log(`generated code is up to date (${all.length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
