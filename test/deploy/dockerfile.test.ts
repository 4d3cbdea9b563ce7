/**
 * deploy/Dockerfile without a Docker engine: its structure, and that the files it copies (minus
 * .dockerignore) are enough to start each service: every import reachable from apps/<svc>/src/main.ts
 * resolves to a copied file, a Node builtin, or a production dependency of the root package.json.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { repoRoot, SERVICES } from './helpers.ts';

type Instruction = { op: string; args: string };

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    const [op = '', ...rest] = current.trim().split(/\s+/);
    out.push({ op: op.toUpperCase(), args: rest.join(' ') });
    current = '';
  }
  return out;
}

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'deploy/Dockerfile'), 'utf8'));
const argDefaults = new Map(
  dockerfile
    .filter((i) => i.op === 'ARG' && i.args.includes('='))
    .map((i) => [i.args.split('=')[0] ?? '', i.args.split('=').slice(1).join('=')]),
);
const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => argDefaults.get(a ?? b) ?? '');
const stageStarts = dockerfile.flatMap((i, n) => (i.op === 'FROM' ? [n] : []));
const finalStage = dockerfile.slice(stageStarts.at(-1));

test('Dockerfile: multi-stage on a pinned Node 24 base matching the version the tests run on', () => {
  assert.ok(stageStarts.length >= 2, 'multi-stage');
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8'));
  const nodeVersion: string = lock.packages['node_modules/node'].version;
  for (const n of stageStarts) {
    const image = expand(dockerfile[n]?.args.split(/\s+/)[0] ?? '');
    if (!image.startsWith('node:')) continue;
    const tag = image.split('@')[0]?.split(':')[1] ?? '';
    assert.notEqual(tag, 'latest');
    assert.match(tag, /^24\.\d+\.\d+-/, `${image}: pin major.minor.patch`);
    assert.ok(tag.startsWith(`${nodeVersion}-`), `${image}: same Node as the tests (${nodeVersion})`);
  }
  assert.ok(expand(dockerfile[stageStarts.at(-1) ?? 0]?.args ?? '').startsWith('node:24.'));
});

test('Dockerfile: production dependencies only, non-root, healthcheck, exec-form entrypoint', () => {
  const npmCi = dockerfile.find((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
  assert.ok(npmCi, 'npm ci');
  assert.match(npmCi.args, /--omit=dev/);
  assert.match(npmCi.args, /--workspaces/);
  const user = finalStage.filter((i) => i.op === 'USER').at(-1);
  assert.ok(user, 'USER in the final stage');
  const uid = user.args.split(':')[0] ?? '';
  assert.match(uid, /^\d+$/, 'numeric USER, so runAsNonRoot can verify it');
  assert.notEqual(Number(uid), 0);
  const health = finalStage.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(health, 'HEALTHCHECK');
  assert.match(health.args, /CMD \[/);
  const entrypoint = finalStage.find((i) => i.op === 'ENTRYPOINT');
  const cmd = finalStage.find((i) => i.op === 'CMD');
  assert.ok(entrypoint && cmd);
  const ep = JSON.parse(entrypoint.args) as string[];
  assert.match(ep[0] ?? '', /tini$/, 'an init forwards signals and reaps');
  assert.deepEqual((JSON.parse(cmd.args) as string[]).slice(0, 1), ['node']);
  assert.ok(finalStage.some((i) => i.op === 'ENV' && /NODE_ENV=production/.test(i.args)));
});

// --- the build context: COPY sources of the final stage, filtered by .dockerignore -------------------

function ignoreRules(): Array<{ negate: boolean; re: RegExp }> {
  const text = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const re = pattern
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '(?:.*)'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${re}$`) };
    });
}

const rules = ignoreRules();

/** Docker semantics: the last matching rule wins; a rule matching a parent directory covers its files. */
function ignored(path: string): boolean {
  const parts = path.split('/');
  let excluded = false;
  for (let n = 1; n <= parts.length; n++) {
    const prefix = parts.slice(0, n).join('/');
    for (const rule of rules) if (rule.re.test(prefix)) excluded = !rule.negate;
  }
  return excluded;
}

const copySources = finalStage
  .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
  .flatMap((i) => {
    const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
    return words.slice(0, -1);
  });

function inImage(file: string): boolean {
  const rel = relative(repoRoot, file);
  return copySources.some((src) => rel === src || rel.startsWith(`${src}/`)) && !ignored(rel);
}

test('Dockerfile: every COPY source exists and survives .dockerignore', () => {
  assert.deepEqual([...copySources].sort(), [
    'apps',
    'deploy/healthcheck.ts',
    'package-lock.json',
    'package.json',
    'packages',
    'proto',
  ]);
  for (const src of copySources) {
    assert.ok(existsSync(join(repoRoot, src)), `${src} exists`);
    assert.ok(!ignored(src), `${src} is not ignored`);
  }
  // Runtime assets that are read from disk, not imported.
  for (const asset of ['packages/db/migrations/001.do.insights.sql', 'apps/ingest/package.json']) {
    assert.ok(inImage(join(repoRoot, asset)), asset);
  }
  for (const out of [
    'node_modules/x',
    'apps/api/test/a.test.ts',
    '.git/HEAD',
    'packages/kafka/broker/pom.xml',
    'bench/x.ts',
  ]) {
    assert.ok(ignored(out), `${out} stays out of the context`);
  }
});

// --- import walk ----------------------------------------------------------------------------------

/** The production dependencies that the workspace holding `file` declares (`npm ci --omit=dev` installs those). */
function prodDepsOf(file: string): Set<string> {
  const workspace = /^(apps|packages)\/[^/]+/.exec(relative(repoRoot, file))?.[0];
  const pkg = JSON.parse(readFileSync(join(repoRoot, workspace ?? '.', 'package.json'), 'utf8'));
  return new Set(Object.keys(pkg.dependencies ?? {}));
}

function workspaceEntries(): Map<string, string> {
  const map = new Map<string, string>();
  for (const base of ['packages', 'apps']) {
    for (const name of existsSync(join(repoRoot, base)) ? readdirSync(join(repoRoot, base)) : []) {
      const pkgFile = join(repoRoot, base, name, 'package.json');
      if (!existsSync(pkgFile)) continue;
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
      const entry = typeof pkg.exports === 'string' ? pkg.exports : pkg.exports?.['.'];
      if (typeof entry === 'string') map.set(pkg.name, join(repoRoot, base, name, entry));
    }
  }
  return map;
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[\w*\s{},$]*?\sfrom\s*)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

export function importsOf(source: string): string[] {
  const out: string[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of code.matchAll(IMPORT_RE)) {
    if (m[1]) continue; // `import type` / `export type`: erased by type stripping
    const spec = m[2] ?? m[3];
    if (spec) out.push(spec);
  }
  return out;
}

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

function walk(entry: string): { files: Set<string>; problems: string[] } {
  const workspaces = workspaceEntries();
  const files = new Set<string>();
  const problems: string[] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.has(file)) continue;
    files.add(file);
    if (!inImage(file)) problems.push(`${relative(repoRoot, file)} is not in the image`);
    if (!/\.[mc]?[jt]s$/.test(file)) continue;
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) problems.push(`${relative(repoRoot, file)}: ${spec} does not exist`);
        else queue.push(target);
      } else if (isBuiltin(spec)) {
        // node builtin
      } else if (!prodDepsOf(file).has(packageName(spec))) {
        problems.push(
          `${relative(repoRoot, file)}: ${spec} is not a production dependency of its workspace's package.json`,
        );
      } else if (workspaces.has(packageName(spec))) {
        if (spec !== packageName(spec)) problems.push(`${relative(repoRoot, file)}: deep import ${spec}`);
        queue.push(workspaces.get(packageName(spec)) as string);
      }
    }
  }
  return { files, problems };
}

test('importsOf finds runtime imports and skips type-only ones', () => {
  const src = [
    "import { a } from './a.ts';",
    "import type { B } from './b.ts';",
    "import { type C } from './c.ts';",
    "export { d } from '@footfall/d';",
    "export type { E } from './e.ts';",
    "import 'side-effect';",
    "const f = await import('./f.ts');",
    "// import { g } from './g.ts';",
    'import {\n  h,\n  i,\n} from "pg";',
  ].join('\n');
  assert.deepEqual(
    importsOf(src).sort(),
    ['./a.ts', './c.ts', './f.ts', '@footfall/d', 'pg', 'side-effect'].sort(),
  );
});

test('the image holds everything the runtime library packages import', () => {
  let walked = 0;
  for (const name of ['config', 'contracts', 'db', 'domain', 'erasure', 'kafka', 'observability']) {
    const entry = join(repoRoot, 'packages', name, 'src', 'index.ts');
    if (!existsSync(entry)) continue;
    assert.deepEqual(walk(entry).problems, [], name);
    walked++;
  }
  assert.ok(walked > 0);
});

for (const svc of SERVICES) {
  test(`the image holds everything apps/${svc}/src/main.ts imports`, () => {
    const main = join(repoRoot, 'apps', svc, 'src', 'main.ts');
    // Every deployed service has an entry point: a missing one is a failure, never a skip.
    assert.ok(existsSync(main), `apps/${svc}/src/main.ts is missing`);
    const { files, problems } = walk(main);
    assert.deepEqual(problems, []);
    assert.ok(files.size > 1, 'main.ts imports something');
  });
}
