import closeWithGrace from 'close-with-grace';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export interface ProcessGuardOptions {
  logger: Logger;
  /** Drains and closes the service; called once, on SIGTERM/SIGINT or on a fatal error. */
  close: () => Promise<void>;
  /** Longest `close` may take before the process exits anyway (status 1), ms. Default 25 000. */
  closeTimeoutMs?: number;
  /** Where `footfall_process_fatal_errors_total` is registered (the service's registry). */
  registry?: Registry;
}

export interface ProcessGuard {
  /**
   * A designed exit: the service cannot go on and the orchestrator should restart it (e.g. a consumer
   * that hit a non-retryable error). Logs, counts, closes, exits with status 1.
   */
  fatal(error: unknown, reason: string): void;
  /** Removes the handlers (tests). */
  uninstall(): void;
}

/**
 * The process-level safety net of every service's main.ts. An `uncaughtException` or
 * `unhandledRejection` means the process state is unknown: it is logged (fatal, with the error),
 * counted, and the process closes what it can within `closeTimeoutMs` and exits with status 1 so the
 * orchestrator restarts it. It is never swallowed. SIGTERM/SIGINT drain and exit 0; a second signal or
 * an error during shutdown exits 1 at once (close-with-grace).
 */
export function installProcessGuard(options: ProcessGuardOptions): ProcessGuard {
  const { logger } = options;
  const delay = options.closeTimeoutMs ?? 25_000;
  const fatalErrors = new Counter({
    name: 'footfall_process_fatal_errors_total',
    help: 'uncaught exceptions, unhandled rejections and designed fatal exits (each ends the process)',
    labelNames: ['kind'] as const,
    registers: options.registry ? [options.registry] : [],
  });
  const graceLogger = {
    error: (message: unknown) => logger.error({ err: message }, 'process guard'),
  };
  const grace = closeWithGrace(
    { delay, logger: graceLogger as unknown as Console },
    async ({ err, signal }: { err?: Error; signal?: string }) => {
      if (err) {
        fatalErrors.inc({ kind: 'uncaught' });
        logger.fatal({ err }, 'uncaught exception or unhandled rejection: closing and exiting with status 1');
      } else logger.info({ signal }, 'shutting down');
      await options.close();
    },
  );
  let exiting = false;
  return {
    fatal(error: unknown, reason: string) {
      if (exiting) return;
      exiting = true;
      grace.uninstall();
      fatalErrors.inc({ kind: 'fatal' });
      logger.fatal({ err: error, reason }, `${reason}: closing and exiting with status 1`);
      const timer = setTimeout(() => process.exit(1), delay);
      options.close().then(
        () => process.exit(1),
        (closeError: unknown) => {
          logger.error({ err: closeError }, 'close failed');
          process.exit(1);
        },
      );
      timer.unref();
    },
    uninstall: () => grace.uninstall(),
  };
}
