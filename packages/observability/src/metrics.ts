import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * A registry per service instance (not prom-client's global one), so several services can run in
 * one process (the dev stack, tests) without clashing metric names, each with its own `service` label.
 */
export function createRegistry(service: string, defaultMetrics = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'footfall_' });
  return registry;
}
