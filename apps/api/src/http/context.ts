import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '@footfall/db';
import type { ErasureNotifier } from '@footfall/erasure';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { Registry } from 'prom-client';
import type { ApiConfig } from '../config.ts';
import type { LiveHub } from '../live.ts';
import type { PlacePublisher } from '../places/publisher.ts';
import type { RegistryCaches } from '../places/read-cache.ts';
import type { PublicCountGate } from '../privacy/gate.ts';

/** What the route plugins share: passed to each as its plugin options. */
export interface ApiContext {
  readonly config: ApiConfig;
  readonly db: Database;
  readonly live: LiveHub;
  /** THE gate every public count goes through (PRIVACY_MODE; privacy/gate.ts). */
  readonly gate: PublicCountGate;
  readonly registry: Registry;
  /** Publishes each committed erasure to the `erasures` log and says what remains (notErased). */
  readonly erasures: Pick<ErasureNotifier, 'announce'>;
  /** True once shutdown began: readiness fails and new live streams are refused. */
  readonly draining: () => boolean;
  /** Publishes place definitions to the `places` topic (docs/places.md); absent → place writes answer 503. */
  readonly places?: PlacePublisher;
  /** Registry read caches shared by the place routes (set by buildApp; places/read-cache.ts). */
  readonly registryCaches?: RegistryCaches;
}

/** The application instance: TypeBox schemas type every route's request and reply. */
export type ApiApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
