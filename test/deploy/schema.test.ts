import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kustomizeSkip, OVERLAYS, renderOverlay } from './helpers.ts';
import { loadModel, MODEL_PACKAGE_NAMES, validateVendored, vendoredSchemaPath } from './validate.ts';

for (const overlay of OVERLAYS) {
  test(`every object of ${overlay} is valid against its Kubernetes or CRD schema`, {
    skip: kustomizeSkip ?? false,
  }, async (t) => {
    const missing = new Set<string>();
    let checked = 0;
    for (const o of renderOverlay(overlay)) {
      const id = `${o.apiVersion} ${o.kind}/${o.metadata.name}`;
      const vendored = vendoredSchemaPath(o);
      if (vendored) {
        assert.deepEqual(validateVendored(o, vendored), [], id);
        checked++;
        continue;
      }
      const lookup = await loadModel(o);
      if (lookup.status === 'unknown') assert.fail(`${id}: no schema known for this kind`);
      if (lookup.status === 'missing') {
        missing.add(lookup.pkg);
        continue;
      }
      assert.doesNotThrow(() => new lookup.model(o).validate(), id);
      checked++;
    }
    assert.ok(checked > 0);
    if (missing.size > 0) {
      // No silent skips in CI: there the model packages must be installed.
      assert.ok(
        process.env.CI !== 'true',
        `CI=true: kinds not validated, missing ${[...missing].join(', ')} (dev dependencies: ${MODEL_PACKAGE_NAMES.join(', ')})`,
      );
      t.skip(
        `validated ${checked} objects; skipped kinds needing ${[...missing].join(', ')} ` +
          `(dev dependencies to add: ${MODEL_PACKAGE_NAMES.join(', ')})`,
      );
    }
  });
}

test('vendored schemas reject misspelt and mistyped fields', () => {
  const topic = {
    apiVersion: 'kafka.strimzi.io/v1beta2',
    kind: 'KafkaTopic',
    metadata: { name: 't' },
    spec: { partitions: 3, replicas: 1 },
  };
  const file = vendoredSchemaPath(topic);
  assert.ok(file);
  assert.deepEqual(validateVendored(topic, file), []);
  assert.notDeepEqual(validateVendored({ ...topic, spec: { partitons: 3 } }, file), []);
  assert.notDeepEqual(validateVendored({ ...topic, spec: { partitions: '3' } }, file), []);
});
