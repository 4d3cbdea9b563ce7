// The layering of the tree, checked and drawn from one source: dependency-cruiser's view of every
// import (rules in .dependency-cruiser.cjs), plus one rule it cannot express here — a workspace that
// imports another workspace declares it in its own package.json.
//
//   node scripts/architecture.ts          check: exit 1 on a violation or a stale docs/architecture.md
//   node scripts/architecture.ts --write  regenerate the dependency graph in docs/architecture.md
//
// `npm run check` (and so `npm test`) runs the check; test/architecture/layering.test.ts shows every
// rule failing on a violating tree.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..');
const CONFIG = join(repoRoot, '.dependency-cruiser.cjs');
const DEPCRUISE = join(repoRoot, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs');
/** What is cruised, relative to the base directory (missing folders are left out). */
const ROOTS = ['apps', 'packages', 'bench', 'scripts', 'test', 'deploy'];

interface CruisedDependency {
  module: string;
  resolved: string;
  coreModule: boolean;
  couldNotResolve: boolean;
  dependencyTypes: string[];
}
interface CruisedModule {
  source: string;
  dependencies: CruisedDependency[];
}
export interface CruiseResult {
  modules: CruisedModule[];
  summary: { violations: { from: string; to: string; rule: { name: string } }[] };
}
export interface Violation {
  rule: string;
  from: string;
  to: string;
}

/** Runs dependency-cruiser with the project's rules on `baseDir` (the repository by default). */
export function cruise(baseDir = repoRoot): CruiseResult {
  const roots = ROOTS.filter((dir) => existsSync(join(baseDir, dir)));
  const out = execFileSync(
    process.execPath,
    [DEPCRUISE, '--config', CONFIG, '--output-type', 'json', '--no-progress', ...roots],
    { cwd: baseDir, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  return JSON.parse(out) as CruiseResult;
}

/** `apps/api/src/x.ts` → `apps/api`; files outside a workspace → undefined. */
export const workspaceOf = (path: string): string | undefined => /^(apps|packages)\/[^/]+/.exec(path)?.[0];
const isProductionSource = (path: string) => /^(apps|packages)\/[^/]+\/src\//.test(path);

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Every rule violation: dependency-cruiser's, plus undeclared workspace-to-workspace dependencies. */
export function violations(result: CruiseResult, baseDir = repoRoot): Violation[] {
  const found: Violation[] = result.summary.violations.map((v) => ({
    rule: v.rule.name,
    from: v.from,
    to: v.to,
  }));
  const manifests = new Map<string, Manifest>();
  const manifest = (workspace: string) => {
    let m = manifests.get(workspace);
    if (!m) {
      m = JSON.parse(readFileSync(join(baseDir, workspace, 'package.json'), 'utf8')) as Manifest;
      manifests.set(workspace, m);
    }
    return m;
  };
  for (const module of result.modules) {
    const from = workspaceOf(module.source);
    if (!from) continue;
    for (const dep of module.dependencies) {
      const to = workspaceOf(dep.resolved);
      if (!to || to === from || dep.dependencyTypes.includes('local')) continue;
      const name = manifest(to).name;
      const own = manifest(from);
      const declared = isProductionSource(module.source)
        ? own.dependencies?.[name]
        : (own.dependencies?.[name] ?? own.devDependencies?.[name]);
      if (declared === undefined) {
        const where = isProductionSource(module.source) ? 'dependencies' : 'dependencies or devDependencies';
        found.push({
          rule: `undeclared-workspace-dependency (${from}/package.json ${where} lacks ${name})`,
          from: module.source,
          to: dep.resolved,
        });
      }
    }
  }
  return found;
}

/** The workspaces and who uses whom in production code (src/), as a Mermaid flowchart. */
export function architectureGraph(result: CruiseResult): string {
  const edges = new Set<string>();
  const nodes = new Set<string>();
  for (const module of result.modules) {
    const from = workspaceOf(module.source);
    if (!from) continue;
    nodes.add(from);
    if (!isProductionSource(module.source)) continue;
    for (const dep of module.dependencies) {
      const to = workspaceOf(dep.resolved);
      if (to && to !== from && !dep.dependencyTypes.includes('type-only')) edges.add(`${from} --> ${to}`);
    }
  }
  const id = (workspace: string) => workspace.replace('/', '_');
  const group = (kind: 'apps' | 'packages', title: string) => [
    `  subgraph ${kind}["${title}"]`,
    ...[...nodes]
      .filter((n) => n.startsWith(`${kind}/`))
      .sort()
      .map((n) => `    ${id(n)}["${n}"]`),
    '  end',
  ];
  return [
    '```mermaid',
    'flowchart LR',
    ...group('apps', 'apps/ (deployables and tools)'),
    ...group('packages', 'packages/ (libraries)'),
    ...[...edges].sort().map((e) => {
      const [a, b] = e.split(' --> ') as [string, string];
      return `  ${id(a)} --> ${id(b)}`;
    }),
    '```',
  ].join('\n');
}

const BEGIN = '<!-- BEGIN GENERATED: dependency graph (node scripts/architecture.ts --write) -->';
const END = '<!-- END GENERATED: dependency graph -->';

/** `doc` with the generated section replaced by `graph`. */
export function withGraph(doc: string, graph: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/architecture.md lacks the markers ${BEGIN} … ${END}`);
  return `${doc.slice(0, start + BEGIN.length)}\n${graph}\n${doc.slice(end)}`;
}

if (import.meta.main) {
  const result = cruise();
  const found = violations(result);
  for (const v of found) console.error(`layering: ${v.rule}: ${v.from} → ${v.to}`);
  const docPath = join(repoRoot, 'docs/architecture.md');
  const doc = readFileSync(docPath, 'utf8');
  const fresh = withGraph(doc, architectureGraph(result));
  if (process.argv.includes('--write')) {
    writeFileSync(docPath, fresh);
    console.log('docs/architecture.md: dependency graph written');
  } else if (fresh !== doc) {
    console.error(
      'docs/architecture.md: the dependency graph is stale; run `node scripts/architecture.ts --write`',
    );
    process.exitCode = 1;
  }
  if (found.length) {
    console.error(`layering: ${found.length} violation(s); the rules are in .dependency-cruiser.cjs`);
    process.exitCode = 1;
  } else {
    console.log(`layering: ${result.modules.length} modules, no violations`);
  }
}
