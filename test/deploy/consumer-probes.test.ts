// The consuming services' manifests against their config specs: every variable a container sets is one
// the service reads (a renamed variable such as SINK_GROUP_ID would otherwise be silently ignored), the
// values parse, and liveness is probed on the /healthz that sees a stuck consumer (docs/operations.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSinkConfig, sinkSpec } from '@footfall/sink';
import { find, get, OVERLAYS, ofKind, renderOverlay } from './helpers.ts';

for (const overlay of OVERLAYS) {
  test(`${overlay}: the sink's env is its own config, parses, and liveness is /healthz on ops`, () => {
    const objects = renderOverlay(overlay);
    const c = get(find(objects, 'Deployment', 'sink'), 'spec.template.spec.containers.0');
    const known = new Set(Object.values(sinkSpec).map((variable) => variable.env));
    const env: Record<string, string> = {};
    const config = ofKind(objects, 'ConfigMap').find((m) => m.metadata.name.startsWith('footfall-config-'));
    for (const [k, v] of Object.entries((config?.data ?? {}) as Record<string, string>)) {
      if (known.has(k)) env[k] = v;
    }
    for (const e of c.env as Array<{ name: string; value?: string; valueFrom?: { fieldRef?: unknown } }>) {
      assert.ok(known.has(e.name), `sink: ${e.name} is not a sink variable`);
      env[e.name] = e.value ?? (e.valueFrom?.fieldRef ? 'sink-7d9f-abcde' : 'from-a-secret');
    }
    env.DATABASE_URL = 'postgres://x@db/footfall';
    const parsed = loadSinkConfig(env);
    assert.equal(
      get(c, 'env').find((e: { name: string }) => e.name === 'INSTANCE_ID')?.valueFrom?.fieldRef?.fieldPath,
      'metadata.name',
      'static membership keyed by pod name',
    );
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.livenessProbe.httpGet.port, 'ops');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    // The orchestrator restarts a stuck sink within a minute of /healthz failing, and no probe
    // hiccup shorter than the stall timeout can restart a healthy one (it answers 200 until then).
    const window = c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold * 1000;
    assert.ok(window <= 60_000, `liveness window ${window} ms`);
    assert.ok(parsed.stallTimeoutMs >= 2 * parsed.sessionTimeoutMs, 'stall timeout above a rebalance');
  });
}
