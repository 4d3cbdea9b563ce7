// The layering rules run in `npm run check`; this file shows that each one fails on a violation (a
// throw-away tree in a temp folder, one violating import per rule) and that the real tree passes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { architectureGraph, cruise, repoRoot, violations, withGraph } from '../../scripts/architecture.ts';

const manifest = (name: string, dependencies: Record<string, string> = {}) =>
  JSON.stringify({
    name,
    version: '0.0.0',
    type: 'module',
    exports: { '.': './src/index.ts' },
    dependencies,
  });

/** One file per path; workspaces are linked into node_modules as npm would. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'footfall-layering-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  mkdirSync(join(dir, 'node_modules/@footfall'), { recursive: true });
  for (const ws of ['packages/domain', 'packages/kafka', 'apps/api', 'apps/sink']) {
    symlinkSync(join(dir, ws), join(dir, 'node_modules/@footfall', ws.split('/')[1] as string), 'dir');
  }
  return dir;
}

test('each layering rule fails on a tree that breaks it', (t) => {
  const dir = tree({
    'package.json': JSON.stringify({ name: 'fixture', private: true, workspaces: ['packages/*', 'apps/*'] }),
    'tsconfig.json': readFileSync(join(repoRoot, 'tsconfig.json'), 'utf8'),
    'packages/domain/package.json': manifest('@footfall/domain'),
    'packages/domain/src/index.ts':
      "import { readFileSync } from 'node:fs';\nexport const io = readFileSync;\n",
    'packages/kafka/package.json': manifest('@footfall/kafka'),
    'packages/kafka/src/index.ts': "export { api } from '../../../apps/api/src/index.ts';\n",
    'apps/api/package.json': manifest('@footfall/api'),
    'apps/api/src/index.ts': 'export const api = 1;\n',
    'apps/api/test/helpers.ts': 'export const helper = 1;\n',
    'apps/sink/package.json': manifest('@footfall/sink', { '@footfall/api': '*' }),
    // declared and through the entry point: allowed
    'apps/sink/src/index.ts': "export { api } from '@footfall/api';\n",
    // not declared in apps/sink/package.json
    'apps/sink/src/undeclared.ts': "export { io } from '@footfall/domain';\n",
    'apps/sink/test/reach.test.ts': "import { api } from '../../api/src/index.ts';\nconsole.log(api);\n",
    'apps/sink/test/fixtures.test.ts':
      "import { helper } from '../../api/test/helpers.ts';\nconsole.log(helper);\n",
    'bench/b.ts': "import { api } from '../apps/api/src/index.ts';\nconsole.log(api);\n",
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const found = violations(cruise(dir), dir).map((v) => `${v.rule.split(' ')[0]}: ${v.from} → ${v.to}`);
  t.diagnostic(found.join('\n'));
  const expected = [
    'domain-no-io: packages/domain/src/index.ts → node:fs',
    'packages-never-import-apps: packages/kafka/src/index.ts → apps/api/src/index.ts',
    'no-reaching-into-another-app: apps/sink/test/reach.test.ts → apps/api/src/index.ts',
    'no-importing-tests: apps/sink/test/fixtures.test.ts → apps/api/test/helpers.ts',
    'tools-use-apps-through-entry-points: bench/b.ts → apps/api/src/index.ts',
    'undeclared-workspace-dependency: apps/sink/src/undeclared.ts → packages/domain/src/index.ts',
  ];
  for (const violation of expected) {
    assert.ok(
      found.some((f) => f === violation || f === violation.replace('node:fs', 'fs')),
      `expected ${violation}; found:\n${found.join('\n')}`,
    );
  }
  // The allowed import (declared, through @footfall/api) is not reported.
  assert.ok(!found.some((f) => f.includes('apps/sink/src/index.ts')), found.join('\n'));
});

test('the repository follows the layering rules and docs/architecture.md shows its graph', () => {
  const result = cruise();
  assert.deepEqual(violations(result), []);
  const doc = readFileSync(join(repoRoot, 'docs/architecture.md'), 'utf8');
  assert.equal(doc, withGraph(doc, architectureGraph(result)), 'run `node scripts/architecture.ts --write`');
});
