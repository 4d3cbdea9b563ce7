// INGEST_WORKERS > 1: several ingest processes behind one gRPC port (node:cluster). The primary only
// supervises: it forks the workers, serves /metrics (summed over the workers), /healthz and /readyz
// (ready when every worker reports ready), forwards SIGTERM and re-forks a worker that died.
//
// When it helps: the service is CPU-bound per ping (H3, protobuf, the Kafka client's record encoding)
// and a Node process uses one core, so a box whose other cores are idle (broker elsewhere) gains
// nearly linearly. When it hurts: on a small shared box (2 cores with the broker and other tenants on
// them) the workers compete with the broker for the same cores, add a process's memory each and
// coalesce less per Kafka request; docs/ingest.md has the numbers. Replay protection (nonces) and the
// per-device rate limit are per worker, as they already are per replica (docs/ingest.md#authenticity).

import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { type Logger, OpsServer } from '@footfall/observability';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { IngestConfig } from './config.ts';
import type { IngestHandle } from './service.ts';

const STATUS = 'footfall-ingest:status';

interface StatusMessage {
  type: typeof STATUS;
  ready: boolean;
}

/** Worker count for INGEST_WORKERS (0 = one per available CPU). */
export function workerCount(config: IngestConfig): number {
  return config.workers === 0 ? availableParallelism() : config.workers;
}

/** Metrics of every worker, summed (`/metrics` of the primary). */
class ClusterRegistry extends AggregatorRegistry<typeof AggregatorRegistry.PROMETHEUS_CONTENT_TYPE> {
  override metrics(): Promise<string> {
    return this.clusterMetrics();
  }
}

/** Runs in the primary: supervises `count` workers until SIGTERM/SIGINT, then drains them. */
export async function runPrimary(config: IngestConfig, logger: Logger, count: number): Promise<void> {
  const ready = new Map<number, boolean>();
  let stopping = false;
  const fork = () => {
    const worker = cluster.fork();
    ready.set(worker.id, false);
    worker.on('message', (m: StatusMessage) => {
      if (m?.type === STATUS) ready.set(worker.id, m.ready);
    });
  };
  cluster.on('exit', (worker: Worker, code, signal) => {
    ready.delete(worker.id);
    if (stopping) return;
    logger.error({ worker: worker.id, code, signal }, 'ingest worker died; starting another');
    fork();
  });
  for (let i = 0; i < count; i++) fork();
  const ops = await OpsServer.start({
    port: config.opsPort,
    registry: new ClusterRegistry() as unknown as Registry,
    readiness: { workers: () => ready.size === count && [...ready.values()].every(Boolean) },
  });
  logger.info({ workers: count, grpcPort: config.grpcPort, opsPort: ops.port }, 'ingest primary started');
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
  });
  stopping = true;
  ops.drain();
  logger.info('draining workers');
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    ),
  );
  await ops.close();
  logger.info('ingest primary stopped');
}

/** Runs in a worker once its service started: reports readiness to the primary, serves its metrics. */
export function reportToPrimary(ingest: IngestHandle, registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs the worker's metrics responder
  let last: boolean | undefined;
  const timer = setInterval(() => {
    const ready = ingest.ready();
    if (ready !== last) process.send?.({ type: STATUS, ready } satisfies StatusMessage);
    last = ready;
  }, 250);
  timer.unref();
}
