import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type K8sObject, render } from './render.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const k8sDir = join(repoRoot, 'deploy/k8s');
export const OVERLAYS = ['dev', 'production'] as const;
export type Overlay = (typeof OVERLAYS)[number];
export const SERVICES = ['ingest', 'processor', 'sink', 'api'] as const;

const cache = new Map<Overlay, K8sObject[]>();

/** The rendered overlay (cached; tests must not mutate it). */
export function renderOverlay(overlay: Overlay): K8sObject[] {
  let objects = cache.get(overlay);
  if (!objects) {
    objects = render(join(k8sDir, 'overlays', overlay));
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
