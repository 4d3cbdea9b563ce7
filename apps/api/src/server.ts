import type { AddressInfo } from 'node:net';
import { type Database, openDatabase } from '@footfall/db';
import type { RandomSource } from '@footfall/domain';
import { ErasureNotifier } from '@footfall/erasure';
import { createLogger, createRegistry, type Logger } from '@footfall/observability';
import { buildApp } from './app.ts';
import type { ApiConfig } from './config.ts';
import type { ApiApp } from './http/context.ts';
import { LiveHub } from './live.ts';
import { PlacePublisher } from './places/publisher.ts';
import { flushOutbox } from './places/store.ts';
import { createGate } from './privacy/gate.ts';

export interface StartApiOptions {
  logger?: Logger;
  /** Use this database instead of opening `config.databaseUrl` (not closed by the API). */
  db?: Database;
  /** dp mode: the noise's random source; default the CSPRNG. Tests only (a seeded source is predictable). */
  random?: RandomSource;
}

/** A running API server. */
export interface Api {
  readonly port: number;
  readonly url: string;
  readonly app: ApiApp;
  readonly db: Database;
  readonly live: LiveHub;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens the database (unless given), builds the HTTP API (routes, OpenAPI, metrics, probes, live stream) and listens. */
export async function startApi(config: ApiConfig, options: StartApiOptions = {}): Promise<Api> {
  const logger = options.logger ?? createLogger('api', config.logLevel);
  const ownsDb = !options.db;
  const db =
    options.db ??
    (await openDatabase({
      url: config.databaseUrl,
      poolSize: config.dbPoolSize,
      applicationName: 'footfall-api',
    }));
  const registry = createRegistry('api');
  const gate = createGate(config, db, options.random);
  const live = new LiveHub({
    gate,
    db,
    logger,
    registry,
    intervalMs: config.liveIntervalMs,
    bucketMs: config.bucketMs,
    cellResolution: config.cellResolution,
    kAnonymity: config.kAnonymity,
    maxChanges: config.liveMaxChanges,
    nowcastHorizonMs: config.nowcastHorizonMs,
  });
  // Erasure → Kafka `erasures` (revokes the device in ingest, filters the processor) + honest notErased.
  const { topicIngestion: ingestion, topicAggregated: aggregated, topicErasures: erasures } = config;
  const erasureNotifier = new ErasureNotifier({
    connection: config,
    topics: { ingestion, aggregated, erasures },
    logger,
  });
  const places = new PlacePublisher({ connection: config, topic: config.topicPlaces });
  let draining = false;
  let app: ApiApp;
  try {
    app = await buildApp(
      { config, db, live, gate, registry, erasures: erasureNotifier, draining: () => draining, places },
      logger,
    );
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await erasureNotifier.close().catch(() => {});
    await places.close().catch(() => {});
    if (ownsDb) await db.close();
    throw error;
  }
  // Outbox sweep: erasures committed in PostgreSQL but never acknowledged by Kafka (an API crash between).
  const reconciling = new AbortController();
  erasureNotifier.reconcile(db, reconciling.signal).catch((err: unknown) => {
    if (!reconciling.signal.aborted) logger.warn({ err }, 'erasure log reconciliation failed');
  });
  // Place changes stored but never acknowledged by Kafka (an API crash or a broker outage in between).
  flushOutbox(db, places).catch((err: unknown) => logger.warn({ err }, 'places outbox sweep failed'));
  const port = (app.server.address() as AddressInfo).port;
  logger.info({ port }, 'api started');

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      draining = true;
      live.close();
      await app.close();
      reconciling.abort();
      await erasureNotifier.close().catch(() => {});
      await places.close().catch(() => {});
      if (ownsDb) await db.close();
    })();
    return closed;
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    app,
    db,
    live,
    close,
    [Symbol.asyncDispose]: close,
  };
}
