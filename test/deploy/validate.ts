/**
 * Schema validation of rendered objects.
 * - Kubernetes' own kinds, KEDA and prometheus-operator kinds: the `kubernetes-models` packages
 *   (kubernetes-models, @kubernetes-models/keda, @kubernetes-models/prometheus-operator), which compile
 *   the upstream OpenAPI/CRD schemas into validators.
 * - Strimzi and CloudNativePG kinds: the vendored schema subsets in deploy/schemas/ (see its README).
 * The kubernetes-models packages are dev dependencies; when they are not installed, `loadModel` returns
 * `missing` and the test skips those kinds (saying so). DEPLOY_TEST_NODE_MODULES=<dir>/node_modules
 * points at an extra install, e.g. a scratch directory, for trying them out before they are added.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import type { K8sObject } from './helpers.ts';
import { repoRoot } from './helpers.ts';

const MODEL_PACKAGES: Record<string, string> = {
  '': 'kubernetes-models',
  apps: 'kubernetes-models',
  policy: 'kubernetes-models',
  autoscaling: 'kubernetes-models',
  'networking.k8s.io': 'kubernetes-models',
  'rbac.authorization.k8s.io': 'kubernetes-models',
  'keda.sh': '@kubernetes-models/keda',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

export const MODEL_PACKAGE_NAMES = [...new Set(Object.values(MODEL_PACKAGES))];

function split(apiVersion: string): { group: string; version: string } {
  const parts = apiVersion.split('/');
  return parts.length === 1
    ? { group: '', version: parts[0] ?? '' }
    : { group: parts[0] ?? '', version: parts[1] ?? '' };
}

export function vendoredSchemaPath(o: K8sObject): string | undefined {
  const { group, version } = split(o.apiVersion);
  const file = join(repoRoot, 'deploy/schemas', group, version, `${o.kind}.json`);
  return existsSync(file) ? file : undefined;
}

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new Map<string, ValidateFunction>();

/** Errors of `o` against its vendored schema ([] when valid). */
export function validateVendored(o: K8sObject, file: string): string[] {
  let validate = compiled.get(file);
  if (!validate) {
    const schema = JSON.parse(readFileSync(file, 'utf8'));
    delete schema.$comment;
    validate = ajv.compile(schema);
    compiled.set(file, validate);
  }
  if (validate(o)) return [];
  return (validate.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`,
  );
}

type ModelClass = new (data: unknown) => { validate(): void };
export type ModelLookup =
  | { status: 'ok'; model: ModelClass }
  | { status: 'missing'; pkg: string }
  | { status: 'unknown' };

async function importOptional(specifier: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw error;
  }
  const extra = process.env.DEPLOY_TEST_NODE_MODULES;
  if (extra && existsSync(join(extra, `${specifier}.js`))) {
    return (await import(pathToFileURL(join(extra, `${specifier}.js`)).href)) as Record<string, unknown>;
  }
  return undefined;
}

async function packageInstalled(pkg: string): Promise<boolean> {
  const probe = pkg === 'kubernetes-models' ? 'kubernetes-models/v1/Pod' : `${pkg}/index`;
  if (pkg !== 'kubernetes-models') {
    const extra = process.env.DEPLOY_TEST_NODE_MODULES;
    return (
      existsSync(join(repoRoot, 'node_modules', pkg, 'package.json')) ||
      (!!extra && existsSync(join(extra, pkg, 'package.json')))
    );
  }
  return (await importOptional(probe)) !== undefined;
}

/** The kubernetes-models class validating `o`'s apiVersion/kind. */
export async function loadModel(o: K8sObject): Promise<ModelLookup> {
  const { group, version } = split(o.apiVersion);
  const pkg = MODEL_PACKAGES[group];
  if (!pkg) return { status: 'unknown' };
  const path = group === '' ? `${version}/${o.kind}` : `${group}/${version}/${o.kind}`;
  const mod = await importOptional(`${pkg}/${path}`);
  const model = mod?.[o.kind] as ModelClass | undefined;
  if (model) return { status: 'ok', model };
  return (await packageInstalled(pkg)) ? { status: 'unknown' } : { status: 'missing', pkg };
}
