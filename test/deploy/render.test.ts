import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { k8sDir, OVERLAYS, renderOverlay } from './helpers.ts';
import { type K8sObject, kustomizeHash, parseImage, render } from './render.ts';

function kubectlAvailable(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const key = (o: K8sObject) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

for (const overlay of OVERLAYS) {
  test(`overlay ${overlay} renders, with unique object identities`, () => {
    const objects = renderOverlay(overlay);
    assert.ok(objects.length > 20, `only ${objects.length} objects`);
    const keys = objects.map(key);
    assert.equal(new Set(keys).size, keys.length, 'duplicate objects');
  });

  test(`render.ts output equals \`kubectl kustomize\` for ${overlay}`, (t) => {
    if (!kubectlAvailable()) {
      t.skip('kubectl is not installed: cannot cross-check render.ts against real kustomize');
      return;
    }
    const out = execFileSync('kubectl', ['kustomize', join(k8sDir, 'overlays', overlay)], {
      encoding: 'utf8',
    });
    const theirs = parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
    const mine = new Map(renderOverlay(overlay).map((o) => [key(o), JSON.parse(JSON.stringify(o))]));
    assert.deepEqual([...mine.keys()].sort(), theirs.map(key).sort());
    for (const o of theirs) assert.deepEqual(mine.get(key(o)), o, key(o));
  });
}

test('kustomizeHash reproduces kustomize name suffixes', () => {
  // Values taken from `kubectl kustomize` (kustomize v5.5.0) output.
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { B: 'two', A: '1' } };
  assert.equal(kustomizeHash(cm), '6b56fdfggc');
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's' },
    data: { X: 'eQ==' },
    type: 'Opaque',
  };
  assert.equal(kustomizeHash(secret), 't6b9c4h296');
});

test('parseImage splits registry ports, tags and digests', () => {
  assert.deepEqual(parseImage('ghcr.io/footfall/footfall:0.1.0'), {
    name: 'ghcr.io/footfall/footfall',
    tag: '0.1.0',
    digest: undefined,
  });
  assert.deepEqual(parseImage('localhost:5000/x'), { name: 'localhost:5000/x', digest: undefined });
  assert.deepEqual(parseImage('x@sha256:ab'), { name: 'x', digest: 'sha256:ab' });
});

test('render.ts refuses kustomize features it does not implement', () => {
  const dir = mkdtempSync(join(tmpdir(), 'render-'));
  try {
    writeFileSync(join(dir, 'kustomization.yaml'), 'commonLabels:\n  a: b\n');
    assert.throws(() => render(dir), /field "commonLabels" is not supported/);
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [d.yaml]\npatches:\n  - path: p.yaml\n');
    writeFileSync(
      join(dir, 'd.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 1}]\n',
    );
    writeFileSync(
      join(dir, 'p.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 2}]\n',
    );
    assert.throws(() => render(dir), /patching the list \/spec\/ports is not supported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
