// The overlays render with the real kustomize (`kubectl kustomize`); the policy and schema tests read
// that output. This file checks the rendering itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type K8sObject, kustomizeSkip, OVERLAYS, parseImage, renderOverlay } from './helpers.ts';

const key = (o: K8sObject) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

for (const overlay of OVERLAYS) {
  test(`overlay ${overlay} renders, with unique object identities`, { skip: kustomizeSkip ?? false }, () => {
    const objects = renderOverlay(overlay);
    assert.ok(objects.length > 20, `only ${objects.length} objects`);
    const keys = objects.map(key);
    assert.equal(new Set(keys).size, keys.length, 'duplicate objects');
    // Generated ConfigMaps/Secrets carry kustomize's content hash, and references follow the rename.
    const config = objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('footfall-config-'),
    );
    assert.ok(config, 'footfall-config is generated with a hash suffix');
    assert.ok(
      JSON.stringify(objects.filter((o) => o.kind === 'Deployment')).includes(config.metadata.name),
      'Deployments reference the hashed ConfigMap name',
    );
  });
}

test('parseImage splits registry ports, tags and digests', () => {
  assert.deepEqual(parseImage('ghcr.io/footfall/footfall:0.1.0'), {
    name: 'ghcr.io/footfall/footfall',
    tag: '0.1.0',
    digest: undefined,
  });
  assert.deepEqual(parseImage('localhost:5000/x'), { name: 'localhost:5000/x', digest: undefined });
  assert.deepEqual(parseImage('x@sha256:ab'), { name: 'x', digest: 'sha256:ab' });
});
