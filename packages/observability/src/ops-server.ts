import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { LivenessStatus } from './consumer-liveness.ts';

/** A readiness check: resolves true when the dependency is usable. Must be cheap. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/**
 * A liveness check: false (or `alive: false`) only when restarting the process is the remedy, e.g. a
 * consumer loop that died or stopped advancing ({@link ConsumerLiveness}). Never a dependency being
 * down: that is readiness. Must be cheap and synchronous.
 */
export type LivenessCheck = () => boolean | LivenessStatus;

export interface OpsServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Named checks; `/readyz` is 200 only when all pass, and lists them either way. */
  readiness: Record<string, ReadinessCheck>;
  /** Named checks; `/healthz` is 503 when one fails (the orchestrator restarts the process). */
  liveness?: Record<string, LivenessCheck>;
}

/**
 * The operational endpoints every service exposes: `/metrics` (Prometheus text format),
 * `/healthz` (liveness: the event loop answers and every liveness check passes), `/readyz` (readiness: dependencies are usable,
 * and false while draining so load balancers stop sending work).
 */
export class OpsServer {
  #server: Server;
  #draining = false;
  readonly #options: OpsServerOptions;

  private constructor(options: OpsServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => {
      void this.#handle(req.url ?? '/', res);
    });
  }

  static async start(options: OpsServerOptions): Promise<OpsServer> {
    const ops = new OpsServer(options);
    await new Promise<void>((resolve, reject) => {
      ops.#server.once('error', reject);
      ops.#server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
    });
    return ops;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Readiness turns false from now on (graceful shutdown). */
  drain(): void {
    this.#draining = true;
  }

  async checkReady(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const checks: Record<string, boolean> = { draining: !this.#draining };
    for (const [name, check] of Object.entries(this.#options.readiness)) {
      try {
        checks[name] = await check();
      } catch {
        checks[name] = false;
      }
    }
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  checkLive(): { alive: boolean; checks: Record<string, LivenessStatus | boolean> } {
    const checks: Record<string, LivenessStatus | boolean> = {};
    let alive = true;
    for (const [name, check] of Object.entries(this.#options.liveness ?? {})) {
      let status: LivenessStatus | boolean;
      try {
        status = check();
      } catch {
        status = false;
      }
      checks[name] = status;
      if (status === false || (typeof status === 'object' && !status.alive)) alive = false;
    }
    return { alive, checks };
  }

  async #handle(url: string, res: import('node:http').ServerResponse): Promise<void> {
    const path = url.split('?')[0];
    if (path === '/metrics') {
      res.setHeader('content-type', this.#options.registry.contentType);
      res.end(await this.#options.registry.metrics());
    } else if (path === '/healthz') {
      const { alive, checks } = this.checkLive();
      res.statusCode = alive ? 200 : 503;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: alive ? 'ok' : 'unhealthy', checks }));
    } else if (path === '/readyz') {
      const { ready, checks } = await this.checkReady();
      res.statusCode = ready ? 200 : 503;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
