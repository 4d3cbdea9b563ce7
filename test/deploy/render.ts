/**
 * A deliberately small Kustomize renderer for the tests (no kustomize/kubectl binary is guaranteed on
 * developer or CI machines). It supports exactly the features deploy/k8s uses, and throws on anything
 * else, so a new feature in a kustomization fails loudly instead of rendering wrongly:
 *
 * - `resources`: YAML files (multi-document) and directories holding a kustomization.yaml
 * - `namespace`: sets metadata.namespace on namespaced objects and renames Namespace objects (as
 *   kustomize does)
 * - `images`: name -> newName / newTag / digest, for containers and initContainers of pod templates
 * - `patches`: `- path: file` strategic-merge patches, targeted by the patch's apiVersion group, kind and
 *   metadata.name. Maps merge recursively, `null` deletes a key. Lists: for built-in Kubernetes kinds,
 *   `containers`/`initContainers`/`env`/`volumes` merge by `name` and `volumeMounts` by `mountPath`; any
 *   other list in a built-in kind throws (unsupported); lists in custom resources are replaced (kustomize
 *   has no schema for them and uses JSON-merge-patch semantics).
 * - `configMapGenerator` / `secretGenerator`: `literals` only, `behavior` create or merge, with
 *   kustomize's content-hash name suffix (same algorithm, so names match kustomize's output) and
 *   rewriting of references in pod templates (envFrom, env valueFrom, volumes) within the same namespace.
 *
 * When `kubectl` is installed, render.test.ts checks that this renderer's output equals
 * `kubectl kustomize` for every overlay.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const SUPPORTED_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'images',
  'patches',
  'configMapGenerator',
  'secretGenerator',
]);

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ClusterTriggerAuthentication',
]);

/** Generated ConfigMaps/Secrets: their name before the hash suffix. */
const generated = new WeakMap<K8sObject, string>();

export function readYamlDocuments(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) out.push(value);
  }
  return out;
}

function kustomizationFile(dir: string): string {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
  }
  throw new Error(`${dir}: no kustomization.yaml`);
}

/** Renders a kustomization directory to its list of objects (hash suffixes applied). */
export function render(dir: string): K8sObject[] {
  const objects = renderLevel(resolve(dir));
  finalizeGeneratedNames(objects);
  return objects;
}

function renderLevel(dir: string): K8sObject[] {
  const file = kustomizationFile(dir);
  const k = readYamlDocuments(file)[0] as unknown as Record<string, unknown>;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(key)) throw new Error(`${file}: field "${key}" is not supported by render.ts`);
  }
  const objects: K8sObject[] = [];
  for (const entry of (k.resources as string[] | undefined) ?? []) {
    const path = resolve(dir, entry);
    objects.push(...(statSync(path).isDirectory() ? renderLevel(path) : readYamlDocuments(path)));
  }
  for (const gen of (k.configMapGenerator as Generator[] | undefined) ?? []) {
    applyGenerator(objects, 'ConfigMap', gen, file);
  }
  for (const gen of (k.secretGenerator as Generator[] | undefined) ?? []) {
    applyGenerator(objects, 'Secret', gen, file);
  }
  for (const patch of (k.patches as Array<Record<string, unknown>> | undefined) ?? []) {
    const keys = Object.keys(patch);
    if (keys.length !== 1 || typeof patch.path !== 'string') {
      throw new Error(`${file}: only \`patches: - path: <file>\` is supported (got ${keys.join(', ')})`);
    }
    for (const p of readYamlDocuments(resolve(dir, patch.path))) applyPatch(objects, p, patch.path);
  }
  if (typeof k.namespace === 'string') {
    for (const o of objects) {
      if (o.kind === 'Namespace') o.metadata.name = k.namespace;
      else if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    }
  }
  for (const image of (k.images as ImageRule[] | undefined) ?? []) applyImage(objects, image, file);
  return objects;
}

type Generator = { name: string; behavior?: 'create' | 'merge'; literals?: string[]; [k: string]: unknown };

function applyGenerator(objects: K8sObject[], kind: 'ConfigMap' | 'Secret', gen: Generator, file: string) {
  for (const key of Object.keys(gen)) {
    if (!['name', 'behavior', 'literals'].includes(key)) {
      throw new Error(`${file}: generator field "${key}" is not supported by render.ts`);
    }
  }
  const data: Record<string, string> = {};
  for (const literal of gen.literals ?? []) {
    const eq = literal.indexOf('=');
    if (eq < 1) throw new Error(`${file}: bad literal "${literal}"`);
    const value = literal.slice(eq + 1);
    data[literal.slice(0, eq)] = kind === 'Secret' ? Buffer.from(value).toString('base64') : value;
  }
  const behavior = gen.behavior ?? 'create';
  if (behavior === 'merge') {
    const target = objects.find((o) => o.kind === kind && generated.get(o) === gen.name);
    if (!target) throw new Error(`${file}: ${kind} ${gen.name} to merge into does not exist`);
    target.data = { ...(target.data as Record<string, string>), ...data };
    return;
  }
  if (behavior !== 'create') throw new Error(`${file}: generator behavior "${behavior}" is not supported`);
  const obj: K8sObject = { apiVersion: 'v1', kind, metadata: { name: gen.name }, data };
  if (kind === 'Secret') obj.type = 'Opaque';
  generated.set(obj, gen.name);
  objects.push(obj);
}

/** kustomize's hash suffix: sha256 of the JSON {data, kind, name: "", type}, 10 hex chars, re-lettered. */
export function kustomizeHash(obj: K8sObject): string {
  const encoded: Record<string, unknown> = { data: sortKeys(obj.data as Record<string, string>) };
  encoded.kind = obj.kind;
  encoded.name = '';
  if (obj.kind === 'Secret') encoded.type = obj.type;
  const hex = createHash('sha256').update(JSON.stringify(encoded)).digest('hex');
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return [...hex.slice(0, 10)].map((c) => swap[c] ?? c).join('');
}

function sortKeys(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function finalizeGeneratedNames(objects: K8sObject[]): void {
  const renames: Array<{ kind: string; namespace: string | undefined; from: string; to: string }> = [];
  for (const o of objects) {
    const base = generated.get(o);
    if (base === undefined) continue;
    o.metadata.name = `${base}-${kustomizeHash(o)}`;
    renames.push({ kind: o.kind, namespace: o.metadata.namespace, from: base, to: o.metadata.name });
  }
  for (const o of objects) {
    const podSpec = podSpecOf(o);
    if (!podSpec) continue;
    const rename = (kind: string, ref: { name?: string } | undefined) => {
      if (!ref || typeof ref.name !== 'string') return;
      const r = renames.find(
        (x) => x.kind === kind && x.from === ref.name && x.namespace === o.metadata.namespace,
      );
      if (r) ref.name = r.to;
    };
    for (const c of containersOf(podSpec)) {
      for (const ef of (c.envFrom as JsonObject[] | undefined) ?? []) {
        rename('ConfigMap', ef.configMapRef as { name?: string });
        rename('Secret', ef.secretRef as { name?: string });
      }
      for (const e of (c.env as JsonObject[] | undefined) ?? []) {
        const vf = e.valueFrom as JsonObject | undefined;
        rename('ConfigMap', vf?.configMapKeyRef as { name?: string });
        rename('Secret', vf?.secretKeyRef as { name?: string });
      }
    }
    for (const v of (podSpec.volumes as JsonObject[] | undefined) ?? []) {
      rename('ConfigMap', v.configMap as { name?: string });
      const secret = v.secret as { secretName?: string } | undefined;
      if (secret?.secretName) {
        const ref = { name: secret.secretName };
        rename('Secret', ref);
        secret.secretName = ref.name;
      }
    }
  }
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet']);

// biome-ignore lint/suspicious/noExplicitAny: pod specs are untyped YAML; callers read nested fields
export type PodSpec = Record<string, any>;

export function podSpecOf(o: K8sObject): PodSpec | undefined {
  if (!WORKLOADS.has(o.kind)) return undefined;
  const spec = o.spec as JsonObject | undefined;
  const template = spec?.template as JsonObject | undefined;
  return template?.spec as JsonObject | undefined;
}

export function containersOf(podSpec: PodSpec): PodSpec[] {
  return [
    ...((podSpec.initContainers as JsonObject[] | undefined) ?? []),
    ...((podSpec.containers as JsonObject[] | undefined) ?? []),
  ];
}

type ImageRule = { name: string; newName?: string; newTag?: string; digest?: string };

function applyImage(objects: K8sObject[], rule: ImageRule, file: string): void {
  for (const key of Object.keys(rule)) {
    if (!['name', 'newName', 'newTag', 'digest'].includes(key)) {
      throw new Error(`${file}: images field "${key}" is not supported by render.ts`);
    }
  }
  for (const o of objects) {
    const podSpec = podSpecOf(o);
    if (!podSpec) continue;
    for (const c of containersOf(podSpec)) {
      const image = c.image as string;
      const { name, tag, digest } = parseImage(image);
      if (name !== rule.name) continue;
      const newName = rule.newName ?? name;
      if (rule.digest) c.image = `${newName}@${rule.digest}`;
      else if (rule.newTag) c.image = `${newName}:${rule.newTag}`;
      else c.image = `${newName}${digest ? `@${digest}` : tag ? `:${tag}` : ''}`;
    }
  }
}

export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, digest };
}

function group(apiVersion: string): string {
  return apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';
}

function isBuiltin(apiVersion: string): boolean {
  const g = group(apiVersion);
  return !g.includes('.') || g.endsWith('.k8s.io');
}

function applyPatch(objects: K8sObject[], patch: K8sObject, source: string): void {
  const targets = objects.filter(
    (o) =>
      o.kind === patch.kind &&
      o.metadata.name === patch.metadata.name &&
      group(o.apiVersion) === group(patch.apiVersion) &&
      generated.get(o) === undefined,
  );
  if (targets.length !== 1) {
    throw new Error(
      `${source}: patch ${patch.kind}/${patch.metadata.name} matches ${targets.length} objects`,
    );
  }
  const target = targets[0] as K8sObject;
  const builtin = isBuiltin(target.apiVersion);
  const { apiVersion: _a, kind: _k, ...body } = patch;
  mergeInto(target as unknown as JsonObject, body as unknown as JsonObject, builtin, source, '');
}

const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
};

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeInto(target: JsonObject, patch: JsonObject, builtin: boolean, source: string, path: string) {
  for (const [key, value] of Object.entries(patch)) {
    const here = `${path}/${key}`;
    const current = target[key];
    if (value === null) {
      delete target[key];
    } else if (isObject(value) && isObject(current)) {
      mergeInto(current, value, builtin, source, here);
    } else if (Array.isArray(value) && Array.isArray(current) && builtin) {
      const mergeKey = MERGE_KEYS[key];
      if (!mergeKey) throw new Error(`${source}: patching the list ${here} is not supported by render.ts`);
      for (const item of value) {
        if (!isObject(item)) throw new Error(`${source}: ${here} items must be objects`);
        const existing = current.find((c) => isObject(c) && c[mergeKey] === item[mergeKey]);
        if (isObject(existing))
          mergeInto(existing, item, builtin, source, `${here}[${String(item[mergeKey])}]`);
        else current.push(item);
      }
    } else {
      target[key] = structuredClone(value);
    }
  }
}
