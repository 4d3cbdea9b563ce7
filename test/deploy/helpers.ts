import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { kustomizeProblem } from '../../scripts/kubectl.ts';

/** One rendered Kubernetes object (untyped YAML beyond these fields). */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

/**
 * Why the overlays cannot be rendered here (no kubectl, or one whose kustomize is too old), or
 * undefined. Locally the rendered-manifest tests then skip and say so; under CI=true this module throws
 * instead: no silent skips in CI.
 */
export const kustomizeSkip: string | undefined = kustomizeProblem();
if (kustomizeSkip) {
  if (process.env.CI === 'true') throw new Error(`[deploy tests] ${kustomizeSkip} (CI=true: not skipping)`);
  console.error(`[deploy tests] SKIPPING the rendered-manifest tests: ${kustomizeSkip}`);
}

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const k8sDir = join(repoRoot, 'deploy/k8s');
export const OVERLAYS = ['dev', 'production'] as const;
export type Overlay = (typeof OVERLAYS)[number];
export const SERVICES = ['ingest', 'processor', 'sink', 'alerts', 'api'] as const;

const cache = new Map<Overlay, K8sObject[]>();

/** The rendered overlay (cached; tests must not mutate it). */
export function renderOverlay(overlay: Overlay): K8sObject[] {
  let objects = cache.get(overlay);
  if (!objects) {
    // The real kustomize (kubectl's), not a re-implementation: what the cluster gets is what we test.
    const out = execFileSync('kubectl', ['kustomize', join(k8sDir, 'overlays', overlay)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    objects = parseAllDocuments(out)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
    cache.set(overlay, objects);
  }
  return objects;
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${kind}/${name} is not rendered`);
  return found;
}

export function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

/** Safe deep property access for the untyped YAML objects. */
// biome-ignore lint/suspicious/noExplicitAny: rendered YAML is untyped by nature
export type Any = any;
export function get(o: unknown, path: string): Any {
  let cur: Any = o;
  for (const key of path.split('.')) {
    if (cur === undefined || cur === null) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** True when every matchLabels pair of a selector is among the labels. */
export function selects(selector: Any, labels: Record<string, string> | undefined): boolean {
  const match: Record<string, string> = selector?.matchLabels ?? {};
  if (Object.keys(match).length === 0 && !(selector?.matchExpressions?.length > 0)) return false;
  for (const [k, v] of Object.entries(match)) if (labels?.[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const value = labels?.[e.key];
    if (e.operator === 'In' && !(value !== undefined && e.values.includes(value))) return false;
    if (e.operator === 'NotIn' && value !== undefined && e.values.includes(value)) return false;
    if (e.operator === 'Exists' && value === undefined) return false;
    if (e.operator === 'DoesNotExist' && value !== undefined) return false;
  }
  return true;
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet']);

// biome-ignore lint/suspicious/noExplicitAny: pod specs are untyped YAML; callers read nested fields
export type PodSpec = Record<string, any>;

/** The pod template's spec of a workload, or undefined for other kinds. */
export function podSpecOf(o: K8sObject): PodSpec | undefined {
  if (!WORKLOADS.has(o.kind)) return undefined;
  return get(o, 'spec.template.spec');
}

export function containersOf(podSpec: PodSpec): PodSpec[] {
  return [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? [])];
}

/** `registry:port/name:tag@digest` → its parts. */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, digest };
}
